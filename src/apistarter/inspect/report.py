"""The findings inspect reports, each with the file and line it came from."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from apistarter.questions import BlockingDep


class InspectError(ValueError):
    """The project cannot be adopted as it is; the message is one line."""


class Evidence(BaseModel):
    """Where a finding came from: a path relative to the project, and a line."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class Finding(BaseModel):
    """Something found in the project, and the file and line it was found at."""

    model_config = ConfigDict(frozen=True)

    evidence: Evidence


class FlaskApp(Finding):
    """A Flask app object at module level, or a function that builds one."""

    import_path: str
    kind: Literal["object", "factory"]


class Route(Finding):
    """One URL rule with a view, as declared (a blueprint's prefix included)."""

    rule: str
    methods: tuple[str, ...]
    view: str
    # What registered it when not the app's own code: "flask" (static files) or an extension.
    registered_by: str = ""
    # API documentation the app serves (an extension's Swagger UI or its spec).
    docs: bool = False


class UnknownRoutes(Finding):
    """Routes the app registers that a static reading cannot list, and why."""

    # The URL prefix they live under ("/" when they may be anywhere).
    prefix: str
    reason: str


class BlockingUse(Finding):
    """An import of a library that blocks the thread while it waits."""

    module: str
    dep: BlockingDep


class Dependency(Finding):
    """A declared requirement, from the file that declares it.

    ``via`` is the chain of ``-r``/``-c`` lines that led to that file, outermost first.
    A constraint (a ``-c`` file's line, or a pip-compile pin another package brought in)
    holds a version when the package is installed, without asking for it.
    """

    requirement: str
    group: str
    via: tuple[Evidence, ...] = ()
    constraint: bool = False

    def where(self) -> str:
        """``file:line``, then the lines that included that file."""
        return " via ".join(str(e) for e in (self.evidence, *reversed(self.via)))


class IndexOption(Finding):
    """Where a requirement file tells pip to look for packages: ``--index-url``,
    ``--extra-index-url``, ``--find-links``, ``--trusted-host`` or ``--no-index``."""

    option: str
    # Credentials included (a --find-links folder made absolute from the requirement
    # file's own, as pip reads it): handed to the resolver only, never shown, printed or
    # written, so left out of the report's dump; ``shown`` is as written, credentials masked.
    value: str = Field(default="", repr=False, exclude=True)
    shown: str = ""


SettingKind = Literal["config", "env", "env-prefix", "config-file"]


class Setting(Finding):
    """A configuration key or an environment variable the app reads or sets."""

    name: str
    kind: SettingKind
    secret: bool
    literal_in_code: bool


class State(Finding):
    """Where the app keeps state on disk or reaches a database."""

    kind: Literal["instance-folder", "sqlite", "sqlite-in-memory", "database-url"]
    detail: str


class RunTimeNeed(Finding):
    """Something the app needs at run time beyond serving, and the command providing it."""

    kind: Literal["log-folder", "stdout-logging", "translations", "task-worker"]
    detail: str
    # The exact command (or environment setting) that provides it; "" when it is a path to fix.
    command: str


class Extension(Finding):
    """An extension or Flask feature that behaves differently behind the mount."""

    name: str
    why: str


class Command(Finding):
    """A command-line command the app defines (``flask NAME``), e.g. to create its tables."""

    name: str


class Fixture(Finding):
    """A pytest fixture a conftest file defines (``client``, ``app``, ...)."""

    name: str


class AppDatabase(Finding):
    """The app's SQLAlchemy database (evidence: where the layer is made) and its migrations."""

    library: Literal["flask-sqlalchemy", "sqlalchemy"]
    # The configuration key holding the URL, the environment variable it is read from,
    # and that variable's default (a SQLite URL keeps only its file's name).
    config_key: str | None
    env: str | None
    default: str | None
    sqlite_file: str | None
    migrate: Literal["flask-migrate", "alembic"] | None
    # Relative to the project's root.
    migrations: str | None
    alembic_ini: str | None
    # What the migrations create (alembic_version included), or the models declare.
    tables: tuple[str, ...]
    url_evidence: Evidence | None
    migrate_evidence: Evidence | None


class TestSuite(BaseModel):
    """The app's own tests: where they are, and the fixtures its conftest files give."""

    model_config = ConfigDict(frozen=True)

    directory: str
    files: int
    fixtures: tuple[Fixture, ...]
    # What runs them: pytest for conftest files, pytest imports or test functions;
    # unittest when every test is a TestCase method.
    runner: Literal["pytest", "unittest"] = "pytest"


class InspectReport(BaseModel):
    """What a static reading of a Flask project found, each finding with its evidence."""

    model_config = ConfigDict(frozen=True)

    root: str
    app: FlaskApp
    routes: tuple[Route, ...]
    unknown_routes: tuple[UnknownRoutes, ...]
    blocking: tuple[BlockingUse, ...]
    dependencies: tuple[Dependency, ...]
    # The requirement files' index options, in the order pip reads them.
    indexes: tuple[IndexOption, ...] = ()
    requires_python: str | None
    requires_python_evidence: Evidence | None
    settings: tuple[Setting, ...]
    state: tuple[State, ...]
    extensions: tuple[Extension, ...]
    commands: tuple[Command, ...]
    needs: tuple[RunTimeNeed, ...]
    tests: TestSuite | None
    database: AppDatabase | None = None
    # The top-level packages and modules holding the app's code (src/ layout kept),
    # relative to root: what installing the app means.
    packages: tuple[str, ...]
    skipped: tuple[str, ...]

    def answers(self) -> dict[str, Any]:
        """The answers these findings settle, keyed like DecisionAnswers/ProjectAnswers."""
        return {
            "codebase": "existing-flask",
            # The app's own routes: not the ones Flask or an extension adds to every app.
            "existing_routes": sum(not r.registered_by for r in self.routes),
            "blocking_deps": list(dict.fromkeys(use.dep for use in self.blocking)),
            "legacy_app": self.app.import_path,
        }
