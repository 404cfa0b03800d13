"""An adopted app at the root: which side answers a URL, over real HTTP.

The Flask app takes every URL the service's FastAPI routes do not; a FastAPI route's
path stays FastAPI's with or without its trailing slash (the redirect a service without
an adopted app sends), and the app's own URLs get what the app answers on its own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.harness import dockerfile_instruction, http_request, run, serve

# flaskr's pages, each also with a trailing slash its rule does not have.
FLASK_PATHS = ["/hello", "/hello/", "/auth/login", "/auth/login/"]

# What flaskr answers on its own, as the service configures it (its instance folder
# and secret), through Flask's test client instead of the service: printed as JSON.
FLASK_ALONE = """
import json, sys
from {package}.legacy.mount import configured_app
client = configured_app().test_client()
answers = {{}}
for path in sys.argv[1:]:
    response = client.get(path)
    answers[path] = [response.status_code, response.get_data(as_text=True)]
print(json.dumps(answers))
"""


def test_the_services_paths_and_the_apps_keep_their_answers(
    flaskr_service: Path, tmp_path: Path
) -> None:
    project = flaskr_service
    env = {
        # From the source tree, as the tests run: the service's src/ and the app's legacy/.
        "PYTHONPATH": f"{project / 'src'}:{project / 'legacy'}",
        "APP_SECRET_KEY": "tests-only-secret",
        "APP_LEGACY_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    package = next(p.name for p in (project / "src").iterdir() if (p / "main.py").is_file())
    script = [sys.executable, "-c", FLASK_ALONE.format(package=package), *FLASK_PATHS]
    alone = json.loads(run(script, project, env).splitlines()[-1])
    with serve(project, dockerfile_instruction(project, "CMD"), env) as server:
        # A client's Host header never comes back in a Location.
        host = {"Host": "evil.example"}
        for path, target in (("/v1/items/", "/v1/items"), ("/livez/", "/livez")):
            status, headers, _ = http_request(server.base_url, "GET", path, headers=host)
            assert (status, headers.get("location")) == (307, target), path
        for path in FLASK_PATHS:
            status, headers, body = http_request(server.base_url, "GET", path)
            assert [status, body.decode()] == alone[path], path
            assert headers["content-type"].startswith("text/html"), path
