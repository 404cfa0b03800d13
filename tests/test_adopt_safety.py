"""`new --legacy PATH` on a repository it does not control: nothing from it runs or leaks."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tests.flask_examples import new_legacy, write_files
from tests.harness import git, tree_state

APP = (
    "from flask import Flask, jsonify\napp = Flask(__name__)\n"
    "@app.get('/api/ping')\ndef ping():\n    return jsonify(pong=True)\n"
)


def _repository(root: Path, files: dict[str, str]) -> Path:
    source = write_files(root, {"service.py": APP, **files})
    git(source, "init", "--quiet")
    git(source, "add", "-A")
    git(source, "commit", "--quiet", "-m", "app")
    return source


def _snapshot(root: Path) -> dict[str, str]:
    """Every entry below root, .git included, with its content or link target: what
    `tree_state` gives without running git in a repository whose configuration is hostile."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[key] = f"-> {path.readlink()}"
        elif path.is_file():
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[key] = "folder"
    return found


def _directory(stdout: str) -> Path:
    return Path(json.loads(stdout)["directory"])


def test_nothing_the_app_s_git_configuration_names_runs(tmp_path: Path) -> None:
    source = _repository(tmp_path / "api", {".gitattributes": "* filter=evil\n"})
    marker = tmp_path / "ran"
    script = tmp_path / "evil.sh"
    script.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\ncat\n')
    script.chmod(0o755)
    # Set after the commit: from here on, any git command that honours them runs the script.
    git(source, "config", "core.fsmonitor", str(script))
    git(source, "config", "core.pager", str(script))
    for key in ("process", "clean", "smudge"):
        git(source, "config", f"filter.evil.{key}", str(script))
    git(source, "config", "filter.evil.required", "true")
    hooks = source / ".git" / "hooks"
    for hook in ("post-index-change", "reference-transaction", "post-checkout", "pre-commit"):
        (hooks / hook).symlink_to(script)
    # A stat change makes git hash the file again, through the clean filter.
    os.utime(source / "service.py", (1, 1))
    before = _snapshot(source)

    code, stdout, stderr = new_legacy(tmp_path / "svc", source)

    assert code == 0, stderr
    assert not marker.exists(), marker.read_text()
    assert _snapshot(source) == before
    project = _directory(stdout)
    # The history came all the same, read from the object store.
    assert git(project, "log", "--format=%s", "--", "legacy/service.py").split() == ["app"]
    assert (project / "legacy" / "service.py").read_text() == APP


def test_only_tracked_files_are_copied_and_untracked_ones_are_listed(tmp_path: Path) -> None:
    source = _repository(
        tmp_path / "api", {".gitignore": "*.pem\nsecrets.yaml\n", "config.py": "DEBUG = False\n"}
    )
    write_files(
        source,
        {"server.pem": "PRIVATE KEY", "secrets.yaml": "token: real", "notes.txt": "draft"},
    )

    code, stdout, stderr = new_legacy(tmp_path / "svc", source)

    assert code == 0, stderr
    legacy = _directory(stdout) / "legacy"
    assert sorted(p.name for p in legacy.iterdir()) == [".gitignore", "config.py", "service.py"]
    assert "1 file(s) in" in stderr
    assert "were not copied (only tracked files are): notes.txt." in stderr


def test_a_link_out_of_the_app_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    secret = write_files(tmp_path / "home", {".ssh/id_rsa": "PRIVATE KEY"}) / ".ssh" / "id_rsa"
    source = write_files(tmp_path / "api", {"service.py": APP})
    (source / "key").symlink_to(secret)
    before = tree_state(tmp_path)

    code, _, stderr = new_legacy(tmp_path / "svc", source)

    assert code == 2
    assert f"key: a symbolic link to {secret}, outside {source}" in stderr
    assert "nothing was written" in stderr
    assert "Traceback" not in stderr
    assert tree_state(tmp_path) == before


def test_a_folder_reached_through_a_link_out_of_the_app_is_refused(tmp_path: Path) -> None:
    outside = write_files(tmp_path / "elsewhere", {"settings.py": "TOKEN = 'real'\n"})
    source = _repository(tmp_path / "api", {"conf/settings.py": "TOKEN = None\n"})
    # Tracked as a folder, replaced in the work tree by a link to another one.
    for path in (source / "conf").iterdir():
        path.unlink()
    (source / "conf").rmdir()
    (source / "conf").symlink_to(outside)
    before = tree_state(tmp_path)

    code, _, stderr = new_legacy(tmp_path / "svc", source)

    assert code == 2
    assert "conf/settings.py: reached through a symbolic link to a folder outside" in stderr
    assert tree_state(tmp_path) == before


def test_links_inside_the_app_stay_links_that_point_inside(tmp_path: Path) -> None:
    source = write_files(tmp_path / "api", {"service.py": APP, "data/schema.sql": "-- none\n"})
    (source / "schema.sql").symlink_to(source / "data" / "schema.sql")  # absolute, inside
    (source / "current").symlink_to("data")

    code, stdout, stderr = new_legacy(tmp_path / "svc", source)

    assert code == 0, stderr
    legacy = _directory(stdout) / "legacy"
    assert (legacy / "schema.sql").readlink() == Path("data/schema.sql")
    assert (legacy / "current").readlink() == Path("data")
    assert (legacy / "schema.sql").resolve() == (legacy / "data" / "schema.sql").resolve()
