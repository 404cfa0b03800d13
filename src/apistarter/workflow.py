"""What `new` and `update` do between the questions and the rendering.

cli.py asks and prints, decision.py decides, render.py talks to Copier and git.
This module joins them: which framework a policy allows, which answers an update
re-renders with, which template source it uses, and what its summary should say.
Refusals raise AnswerError or RenderError (nothing changed); a failure part-way
raises RestoredError (what was written was undone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import Version

from apistarter import __version__
from apistarter.adopt import Adoption, adopted_deploy
from apistarter.answers import parse_set_options
from apistarter.decision import Recommendation, decide
from apistarter.presets import Preset, allowed_frameworks, broken_locks, locks_of
from apistarter.questions import (
    FRAMEWORKS,
    PROJECT_QUESTIONS,
    AnswerError,
    DecisionAnswers,
    Framework,
    ProjectAnswers,
    parse_answers,
)
from apistarter.render import (
    ANSWERS_FILE,
    NewResult,
    RenderError,
    UpdateResult,
    available_frameworks,
    check_destination,
    check_recorded_version,
    ensure_template_source,
    latest_version,
    new_project,
    recorded_answers,
    recorded_version,
    template_data,
    template_version_ref,
    update_project,
)
from apistarter.template_source import RECORDED_SOURCE

# Answers a project cannot change through an update: they name its files.
FIXED_ON_UPDATE = frozenset({"project_name", "package_name"})
# What a service's recorded answers hold that an update's plan is computed from.
PLAN_KEYS = ("framework", "server", "database_plan", "load_test")


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


def create(
    destination: Path,
    project: ProjectAnswers,
    decision: DecisionAnswers,
    recommendation: Recommendation,
    presets: tuple[Preset, ...],
    *,
    force: bool,
    template: str | None,
    adoption: Adoption | None = None,
) -> NewResult:
    """Render the service `new` was asked for, with the Flask app it adopts if any."""
    check_renderable(recommendation, presets, template)
    data = template_data(project, decision, recommendation, constraints(presets))
    history = None
    if adoption is not None:
        data["legacy"] = adoption.data
        data["deploy"] = adopted_deploy(data["deploy"], adoption.data)
        if check_destination(destination, force=force):
            # Rendered over files already there: their history (if any) stays the service's.
            data["legacy"] = {**adoption.data, "history": 0}
        else:
            history = adoption.bring_history
    return new_project(
        destination,
        data,
        force=force,
        template=template_location(template),
        before_commit=adoption.bring_in if adoption else None,
        history=history,
    )


def template_location(template: str | None) -> str | None:
    """A fork's location as projects should record it: local paths made absolute."""
    if template is not None and Path(template).expanduser().exists():
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
    # The --set options that leave framework, server plan and load test as they were.
    unchanged_by: tuple[str, ...] = ()


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
    data = template_data(project, decision, decide(decision, chosen))
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
        # An adopted app's secret and instance folder stay in the recomputed deploy plan.
        data["deploy"] = adopted_deploy(data["deploy"], legacy)
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
    return UpdatePlan(target, data, tuple(options) if unchanged else ())


def run_update(plan: UpdatePlan, conflict: str) -> UpdateResult:
    """Update the service; a failure restores it (RestoredError)."""
    target = plan.target
    ensure_template_source()
    check_recorded_version(target.recorded, target.source)
    return update_project(
        target.directory, plan.data, target.recorded, conflict=conflict, template=target.template
    )
