"""An adopted app's state: its git history, its shadowed routes, its database's readiness,
its start-up errors and its instance volume (`apistarter new --legacy PATH`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.flask_examples import write_files
from tests.harness import git
from tests.test_adopt import SCRIPT_APP, _new


def _contents(path: Path) -> dict[str, str]:
    """Every file below ``path``, .git included, by content hash: to show nothing was written."""
    return {
        str(file.relative_to(path)): hashlib.sha256(file.read_bytes()).hexdigest()
        for file in sorted(path.rglob("*"))
        if file.is_file()
    }


def test_the_app_s_git_history_comes_with_it(tmp_path: Path) -> None:
    repository = tmp_path / "monorepo"
    app = repository / "apps" / "api"
    write_files(app, {"service.py": SCRIPT_APP, "requirements.txt": "flask>=3\n"})
    git(repository, "init", "--quiet")
    git(repository, "add", ".")
    git(repository, "-c", "user.name=Ada", "commit", "--quiet", "-m", "First version of the API")
    write_files(repository, {"docs/notes.md": "not the app\n"})
    git(repository, "add", ".")
    git(repository, "commit", "--quiet", "-m", "Notes outside the app")
    (app / "service.py").write_text(SCRIPT_APP + "# pinned\n")
    git(repository, "commit", "--quiet", "-am", "Pin the ping route")
    # Uncommitted work in the app's folder is copied as it is, never lost.
    (app / "service.py").write_text(SCRIPT_APP + "# pinned\n# work in progress\n")
    before = _contents(repository)

    code, stdout, stderr = _new(tmp_path / "svc", app)
    assert code == 0, stderr
    project = Path(json.loads(stdout)["directory"])
    assert _contents(repository) == before
    # The app's commits that touched its folder, then the service's own commit.
    log = git(project, "log", "--format=%an|%s", "--", "legacy/service.py").splitlines()
    assert log[1:] == ["t|Pin the ping route", "Ada|First version of the API"]
    assert "Generate service" in log[0]
    assert "Notes outside the app" not in git(project, "log", "--format=%s")
    first = git(project, "rev-list", "--max-parents=0", "HEAD").split()
    assert len(first) == 1
    assert git(project, "ls-tree", "--name-only", "-r", first[0]).split() == [
        "legacy/requirements.txt",
        "legacy/service.py",
    ]
    blame = git(project, "blame", "--line-porcelain", "legacy/service.py")
    assert "author Ada" in blame and "summary Pin the ping route" in blame
    assert (project / "legacy" / "service.py").read_text().endswith("# work in progress\n")
    assert git(project, "status", "--porcelain") == ""
    readme = " ".join((project / "README.md").read_text().split())
    assert "the first 2 commit(s) here are the app's own" in readme
    assert "with uncommitted changes" in readme
    assert "the changes that were not committed then are in the service's first commit" in readme
