"""What `new`, `update` and `decide` do between the questions and the rendering.

cli.py asks and prints, decision.py decides, the render package talks to Copier and git,
inspect reads an existing app, adopt brings it in. This module joins them and is the
one the command line talks to (with questions.py for the questions themselves): how
given answers merge with presets and policies, which framework a policy allows, which
answers an update re-renders with, which template source it uses, and what its summary
should say. Refusals raise AnswerError, InspectError or RenderError (nothing changed);
a failure part-way raises RestoredError (what was written was undone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import Version

from apistarter import __version__
from apistarter.adopt import adopted_deploy, adoption, legacy_migration
from apistarter.answers import load_answers_file, parse_set_options
from apistarter.decision import FRAMEWORK_NAMES, Reason, Recommendation, decide
from apistarter.inspect import InspectError, InspectReport, inspect_project
from apistarter.interpreters import interpreter, versions_on_path
from apistarter.presets import (
    Preset,
    allowed_frameworks,
    broken_locks,
    find_policy,
    load_preset,
    locks_of,
    shipped_presets,
)
from apistarter.questions import (
    DECISION_QUESTIONS,
    FRAMEWORKS,
    PROJECT_QUESTIONS,
    AnswerError,
    DecisionAnswers,
    Framework,
    ProjectAnswers,
    Question,
    applies,
    parse_answers,
)
from apistarter.render import (
    ANSWERS_FILE,
    NewResult,
    RenderError,
    RestoredError,
    UpdateResult,
    available_frameworks,
    check_destination,
    check_recorded_version,
    check_template_source,
    ensure_template_source,
    latest_version,
    new_project,
    recorded_answers,
    recorded_version,
    template_data,
    template_version_ref,
    update_project,
)
from apistarter.service_routes import service_routes
from apistarter.template_source import RECORDED_SOURCE

# What the command line reaches through this module besides the functions defined here.
__all__ = [
    "FRAMEWORK_NAMES",
    "InspectError",
    "InspectReport",
    "NewResult",
    "Preset",
    "Reason",
    "Recommendation",
    "RenderError",
    "RestoredError",
    "UpdateResult",
    "allowed_frameworks",
    "check_destination",
    "check_template_source",
    "decide",
    "ensure_template_source",
    "inspect_project",
    "interpreter",
    "shipped_presets",
    "template_version_ref",
    "versions_on_path",
]

# Derived or framework-specific: given with --set or a file, never asked for.
OPTIONAL_PROJECT_ANSWERS = frozenset({"package_name", "legacy_app"})
# Answers a project cannot change through an update: they name its files.
FIXED_ON_UPDATE = frozenset({"project_name", "package_name"})
# What a service's recorded answers hold that an update's plan is computed from.
PLAN_KEYS = ("framework", "server", "database_plan", "load_test")


def presets_for(preset: str | None) -> tuple[Preset, ...]:
    """The preset asked for, then the organisation policy in effect (which wins)."""
    chosen = load_preset(preset) if preset else None
    policy = find_policy(Path.cwd())
    return tuple(p for p in (chosen, policy) if p is not None)


def read_app(path: Path | None, legacy_app: str | None) -> InspectReport | None:
    """A static reading of the existing Flask project at `path`, when one is given."""
    if path is None:
        if legacy_app is not None:
            raise InspectError("--app needs the project to read (--from or --legacy PATH)")
        return None
    return inspect_project(path, legacy_app)


@dataclass
class Given:
    """The answers given so far, merged and checked, and the questions that may be asked."""

    raw: dict[str, Any]
    # Where the answers came from, named in validation errors.
    source: str
    # In the order questions.py declares them, so a follow-up comes right after the
    # answer it depends on.
    wanted: list[Question]

    def unanswered(self, question: Question) -> bool:
        """Whether the question is still to be asked, given the answers so far."""
        return question.id not in self.raw and applies(question.id, self.raw)

    @property
    def missing(self) -> list[Question]:
        return [q for q in self.wanted if self.unanswered(q)]

    def answers(self) -> tuple[DecisionAnswers, ProjectAnswers]:
        return parse_answers(self.raw, self.source)


def given_answers(
    answers_file: Path | None,
    sets: list[str] | None,
    project_defaults: dict[str, Any],
    ask_project: bool,
    presets: tuple[Preset, ...],
    inferred: dict[str, Any] | None = None,
) -> Given:
    """Merge presets, file and flags (lowest first), apply locks, validate.

    Answers inferred from an existing app's code sit above presets (facts about the
    code beat a preset's guess) and below what the person gives.

    Locked answers stand above everything; an answer that contradicts one is an
    error naming the policy. Nothing is asked until what was given is valid.
    """
    raw: dict[str, Any] = dict(project_defaults)
    for preset in presets:
        raw.update(preset.content.defaults)
    raw.update(inferred or {})
    given: dict[str, Any] = {}
    if answers_file:
        given.update(load_answers_file(answers_file))
    given.update(parse_set_options(sets or []))
    raw.update(given)
    locks = locks_of(presets)
    raw.update({lock.question: lock.value for lock in locks})
    source = "answers" if not answers_file else str(answers_file)
    parse_answers(raw, source)
    broken = broken_locks(given, locks, raw)
    if broken:
        raise AnswerError("\n".join(broken))
    wanted = list(DECISION_QUESTIONS)
    if ask_project:
        wanted = [q for q in PROJECT_QUESTIONS if q.id not in OPTIONAL_PROJECT_ANSWERS] + wanted
    return Given(raw, source, wanted)


def framework_option(framework: str | None, presets: tuple[Preset, ...]) -> Framework | None:
    """The framework `--framework` names, checked against the policy; None when not given."""
    if framework is None:
        return None
    chosen = next((f for f in FRAMEWORKS if f == framework), None)
    if chosen is None:
        raise AnswerError(f"--framework {framework!r}: choose one of {', '.join(FRAMEWORKS)}")
    allowed, allowed_by = allowed_frameworks(presets)
    if chosen not in allowed:
        raise AnswerError(f"--framework {chosen}: {allowed_by} allows only {', '.join(allowed)}")
    return chosen


def check_renderable(
    recommendation: Recommendation, presets: tuple[Preset, ...], template: str | None
) -> None:
    """Refuse a framework the policy does not allow or this apistarter has no template for."""
    allowed, allowed_by = allowed_frameworks(presets)
    if recommendation.framework not in allowed:
        raise AnswerError(
            f"apistarter recommends {recommendation.framework}, but {allowed_by} allows only "
            f"{', '.join(allowed)}; pick one with --framework (the ADR records the override). "
            "Nothing was written"
        )
    if template is None and recommendation.framework not in available_frameworks():
        raise RenderError(
            f"the {recommendation.framework} template is not available in apistarter "
            f"{__version__} yet (available: {', '.join(sorted(available_frameworks()))}); "
            "nothing was written"
        )


def constraints(presets: tuple[Preset, ...]) -> list[dict[str, str]]:
    """What policies decided, for the ADR: each locked answer and who locked it."""
    locked = [
        {"answer": lock.question, "value": str(lock.value), "policy": lock.policy}
        for lock in locks_of(presets)
    ]
    allowed, allowed_by = allowed_frameworks(presets)
    if allowed_by:
        locked.append({"answer": "framework", "value": " or ".join(allowed), "policy": allowed_by})
    return locked


@dataclass(frozen=True)
class Created:
    """What `new` made, and the adopted app's routes that no longer reach it."""

    result: NewResult
    # Matched by the service's own routes first (empty without an adopted app).
    shadowed: tuple[str, ...] = ()
    # Files git does not track in the adopted app's folder: listed, not copied.
    untracked: tuple[str, ...] = ()
    # How the merged dependencies were resolved, when the user should know (offline).
    notes: tuple[str, ...] = ()


def create(
    destination: Path,
    project: ProjectAnswers,
    decision: DecisionAnswers,
    recommendation: Recommendation,
    presets: tuple[Preset, ...],
    *,
    force: bool,
    template: str | None,
    adopted: InspectReport | None = None,
    legacy: Path | None = None,
    lock: bool = True,
) -> Created:
    """Render the service `new` was asked for, with the Flask app it adopts if any
    (`adopted`, read from `legacy`); `lock` commits its uv.lock when uv can resolve."""
    plan = adoption(adopted, legacy, project.python_version) if adopted and legacy else None
    app_modules = {Path(name).stem for name in plan.data["modules"].values()} if plan else set()
    if project.package_name in app_modules:
        raise AnswerError(
            f"package_name {project.package_name} is also the name of the app's own module; "
            "one would hide the other. Choose another with --set package_name=NAME. "
            "Nothing was written"
        )
    check_renderable(recommendation, presets, template)
    data = template_data(project, decision, recommendation, constraints(presets))
    history = None
    if plan is not None:
        # The app keeps its own docs; the service's move out of their way.
        data["routes"] = service_routes(plan.data["app_docs"])
        data["legacy"] = plan.data
        data["deploy"] = adopted_deploy(data["deploy"], plan.data, data["package_name"])
        if check_destination(destination, force=force):
            # Rendered over files already there: their history (if any) stays the service's.
            data["legacy"] = {**plan.data, "history": 0}
        else:
            history = plan.bring_history
    result = new_project(
        destination,
        data,
        force=force,
        template=template_location(template),
        before_commit=plan.bring_in if plan else None,
        history=history,
        lock=lock,
    )
    if plan is None:
        return Created(result)
    return Created(result, tuple(plan.data["shadowed"]), plan.files.untracked, tuple(plan.notes))


def template_location(template: str | None) -> str | None:
    """A fork's location as projects should record it: local paths made absolute."""
    if template and Path(template).expanduser().exists():
        return str(Path(template).expanduser().resolve())
    return template


@dataclass(frozen=True)
class UpdateTarget:
    """A service about to be updated: its answers and the versions on both sides."""

    directory: Path
    recorded: dict[str, Any]
    # The fork given with --template (None: apistarter's own template).
    template: str | None
    current: Version | None
    available: str

    @property
    def source(self) -> str:
        """Where the new template version comes from."""
        return self.template or RECORDED_SOURCE

    @property
    def outdated(self) -> bool:
        return self.current is None or self.current < Version(self.available)


def update_target(directory: Path, template: str | None) -> UpdateTarget:
    """Read a service's answers and refuse an update no template version can serve."""
    recorded = recorded_answers(directory)
    check_template_source(template)
    fork = template_location(template)
    recorded_source = str(recorded.get("_src_path", ""))
    if fork is None and recorded_source != RECORDED_SOURCE:
        raise RenderError(
            f"{directory / ANSWERS_FILE} records the template source {recorded_source!r}, "
            f"not apistarter's {RECORDED_SOURCE}; to update from it, pass "
            f"--template {recorded_source}"
        )
    if fork is None:
        available = template_version_ref().removeprefix("v")
    else:
        try:
            newest = latest_version(fork)
        except RenderError:
            raise RenderError(
                f"--template {template}: not a git repository that can be read"
            ) from None
        if newest is None:
            raise RenderError(f"--template {template}: the fork has no version tags (vX.Y.Z)")
        available = str(newest)
    current = recorded_version(recorded)
    if current is not None and current > Version(available):
        upgrade = "upgrade apistarter first" if fork is None else "tag a newer fork version"
        raise RenderError(
            f"{directory} was made by template v{current}, newer than "
            f"{'this apistarter' if fork is None else template}'s v{available}; {upgrade}"
        )
    return UpdateTarget(directory, recorded, fork, current, available)


@dataclass(frozen=True)
class UpdatePlan:
    """The data an update renders with, and what the user should know before reading it."""

    target: UpdateTarget
    data: dict[str, Any]
    # The plan decided again from the recorded answers and --set.
    recommendation: Recommendation
    # The --set options that leave framework, server plan and load test as they were.
    unchanged_by: tuple[str, ...] = ()
    # --set options changed the plan: it is shown, with its warnings, as `new` shows it.
    replanned: bool = False


def plan_update(target: UpdateTarget, options: list[str], policy: tuple[Preset, ...]) -> UpdatePlan:
    """The template data for an update: recorded answers with --set on top, decided again.

    An update cannot rename a service, leave the organisation's policy, or rewrite the
    first decision record: a framework change gets a record that supersedes it.
    """
    recorded = target.recorded
    sets = parse_set_options(options)
    renamed = FIXED_ON_UPDATE.intersection(sets)
    if renamed:
        raise AnswerError(
            f"--set {', '.join(sorted(renamed))}: a service cannot be renamed by an update"
        )
    asked_framework = "framework" in sets
    framework = sets.pop("framework", str(recorded.get("framework", "fastapi")))
    chosen = next((f for f in FRAMEWORKS if f == framework), None)
    if chosen is None:
        given = "--set framework" if asked_framework else f"{ANSWERS_FILE} records framework"
        raise AnswerError(f"{given}={framework}: choose one of {', '.join(FRAMEWORKS)}")
    answered = recorded.get("decision") or {}
    if not isinstance(answered, dict):
        raise AnswerError(f"{ANSWERS_FILE}: decision must be a mapping of question ids to answers")
    # An update keeps the scheme the service was rendered with (its auth_plan), so that
    # auth=auto cannot start refusing its callers; a service made before the auth question
    # records no plan and checks no credentials. `--set auth=...` changes it.
    rendered_with = recorded.get("auth_plan")
    scheme = rendered_with.get("scheme") if isinstance(rendered_with, dict) else None
    answered = {"auth": scheme if isinstance(scheme, str) else "none", **answered}
    project_keys = {q.id for q in PROJECT_QUESTIONS}
    raw = {
        **answered,
        **{k: v for k, v in recorded.items() if k in project_keys},
        **sets,
    }
    decision, project = parse_answers(raw, f"{target.directory / ANSWERS_FILE} and --set")
    broken = broken_locks(sets, locks_of(policy), raw)
    if broken:
        raise AnswerError("\n".join(broken))
    allowed, allowed_by = allowed_frameworks(policy)
    if asked_framework and chosen not in allowed:
        raise AnswerError(
            f"--set framework={chosen}: {allowed_by} allows only {', '.join(allowed)}"
        )
    adopted = chosen == "hybrid" and bool(recorded.get("legacy"))
    recommendation = decide(decision, chosen, adopted=adopted)
    data = template_data(project, decision, recommendation)
    # Copier renders the project's recorded version again from these: a plan edited
    # into another shape would fail half way through the update.
    reshaped = sorted(
        key
        for key, value in data.items()
        if isinstance(value, dict) and key in recorded and not isinstance(recorded[key], dict)
    )
    if reshaped:
        raise AnswerError(
            f"{ANSWERS_FILE}: {', '.join(reshaped)} must be a mapping as apistarter recorded "
            f"it; take the recorded value back from git (git log -p -- {ANSWERS_FILE})"
        )
    legacy = recorded.get("legacy")
    if chosen == "hybrid" and isinstance(legacy, dict) and legacy:
        # The adopted app's own docs keep their paths; the service's stay out of their way.
        data["routes"] = service_routes(legacy.get("app_docs") or [])
        # An adopted app's secret and instance folder stay in the recomputed deploy plan,
        # and its database gets the migration step of this version.
        data["legacy"] = legacy = {**legacy, "migration": legacy_migration(legacy)}
        data["deploy"] = adopted_deploy(data["deploy"], legacy, data["package_name"])
    previous = recorded.get("framework")
    if recorded.get("adr"):
        # Decision records are history: the first stays as it was written; a framework
        # change gets a record of its own that supersedes it.
        new_record = data["adr"]
        data["adr"] = recorded["adr"]
        data["adr_change"] = recorded.get("adr_change") or {}
        if chosen != previous:
            data["adr_change"] = {
                **new_record,
                "supersedes": "0001-web-framework.md",
                "previous": previous,
            }
        # A database added to a service made without one gets a record of its own.
        data["adr_database"] = recorded.get("adr_database") or {}
        had_database = bool(recorded.get("database_plan"))
        if data["database_plan"] and not had_database and not data["adr_database"]:
            data["adr_database"] = {"date": new_record["date"]}
    unchanged = all(data[key] == recorded.get(key) for key in PLAN_KEYS)
    return UpdatePlan(
        target,
        data,
        recommendation,
        unchanged_by=tuple(options) if unchanged else (),
        replanned=bool(options) and not unchanged,
    )


def run_update(plan: UpdatePlan, conflict: str) -> UpdateResult:
    """Update the service; a failure restores it (RestoredError)."""
    target = plan.target
    ensure_template_source()
    check_recorded_version(target.recorded, target.source)
    return update_project(
        target.directory, plan.data, target.recorded, conflict=conflict, template=target.template
    )
