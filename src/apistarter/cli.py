"""The command line: parses, prompts and prints. Rules live in decision.py, Copier in render.py."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from packaging.version import Version
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.prompt import InvalidResponse, Prompt
from rich.table import Table
from rich.text import Text

from apistarter import __version__
from apistarter.answers import load_answers_file, parse_set_options
from apistarter.decision import FRAMEWORK_NAMES, Reason, Recommendation, decide
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
    answers_schema,
    applies,
    parse_answers,
)
from apistarter.render import (
    RenderError,
    available_frameworks,
    check_destination,
    ensure_template_source,
    latest_version,
    new_project,
    recorded_answers,
    recorded_version,
    template_data,
    template_version_ref,
    update_project,
)

app = typer.Typer(
    help="Decide between FastAPI, Flask and a hybrid, then render a production-ready service.",
    no_args_is_help=True,
    add_completion=True,
)
out = Console()
err = Console(stderr=True)

EXIT_USAGE = 2
# Derived or framework-specific: given with --set or a file, never asked for.
OPTIONAL_PROJECT_ANSWERS = frozenset({"package_name", "legacy_app"})

AnswersOption = Annotated[
    Optional[Path],  # noqa: UP045 - Typer reads the annotation at runtime
    typer.Option("--answers", help="YAML or JSON file of answers (see `apistarter questions`)."),
]
SetOption = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--set", metavar="KEY=VALUE", help="Answer one question; repeatable."),
]
DefaultsOption = Annotated[
    bool, typer.Option("--defaults", help="Use the default for every unanswered question.")
]
PresetOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--preset",
        metavar="NAME|FILE",
        help="Start from a shipped preset (`apistarter presets`) or a preset/policy file.",
    ),
]
TemplateOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--template",
        help="Use this Copier template instead of the bundled one (a fork: git URL or path).",
    ),
]


def _fail(message: str) -> typer.Exit:
    # Messages quote user input (names, paths, answers): printed literally, never as markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USAGE)


def _version(value: bool) -> None:
    if value:
        out.print(f"apistarter {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """apistarter: the questions that decide FastAPI vs Flask, then the service."""


def _interactive() -> bool:
    return sys.stdin.isatty()


class _ChoicePrompt(Prompt):
    """A choice prompt that takes a unique prefix (fa -> fastapi) and names the choices
    when it refuses a reply."""

    def process_response(self, value: str) -> str:
        reply = value.strip()
        choices = self.choices or []
        matches = [c for c in choices if c == reply] or [
            c for c in choices if reply and c.startswith(reply)
        ]
        if len(matches) == 1:
            return matches[0]
        problem = f"could be {' or '.join(matches)}" if matches else "is not one of the choices"
        valid = ", ".join(c for c in choices if c != "?")
        raise InvalidResponse(
            f"[prompt.invalid]{escape(repr(reply))} {problem}: {escape(valid)} (? for help)"
        )


def _ask(label: str, help_text: str, default: str, choices: Sequence[str] = ()) -> str:
    """One reply to a prompt; `?` shows the help line and asks again."""
    while True:
        if choices:
            reply = _ChoicePrompt.ask(label, choices=[*choices, "?"], default=default)
        else:
            reply = Prompt.ask(f"{label} [dim](? for help)[/]", default=default)
        if reply.strip() != "?":
            return reply
        out.print(Text(f"  {help_text}", style="dim"))


def _prompt(question: Question, answered: dict[str, Any]) -> Any:
    """Ask one question until the answer is valid."""
    label = f"[bold]{question.text}[/]"
    choices: tuple[str, ...] = ()
    if question.kind == "bool":
        choices, default = ("yes", "no"), "yes" if question.default else "no"
    elif question.kind == "choice":
        choices, default = question.choices, str(question.default)
    elif question.kind == "list":
        label += f" [dim]({', '.join(question.choices)})[/]"
        default = ",".join(question.default)
    else:
        default = str(question.default)
    while True:
        reply = _ask(label, question.help, default, choices)
        value: Any = reply == "yes" if question.kind == "bool" else reply
        # Checked in the context it needs (route counts exist only for existing code).
        context = {"codebase": answered.get("codebase", "new"), question.id: value}
        try:
            parse_answers(context, "your answer")
        except AnswerError as error:
            out.print(Text(f"  {error}", style="red"))
            continue
        return value


def _collect(
    answers_file: Path | None,
    sets: list[str] | None,
    defaults: bool,
    project_defaults: dict[str, Any],
    ask_project: bool,
    presets: tuple[Preset, ...],
    interactive: bool,
) -> tuple[DecisionAnswers, ProjectAnswers]:
    """Merge presets, file, flags and prompts (lowest first), apply locks, validate.

    Locked answers stand above everything; an answer that contradicts one is an
    error naming the policy. Nothing is asked until what was given is valid.
    """
    raw: dict[str, Any] = dict(project_defaults)
    for preset in presets:
        raw.update(preset.content.defaults)
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
    # In the order questions.py declares them, so a follow-up comes right after the
    # answer it depends on; each is asked only if it applies given the answers so far.
    wanted = list(DECISION_QUESTIONS)
    if ask_project:
        wanted = [q for q in PROJECT_QUESTIONS if q.id not in OPTIONAL_PROJECT_ANSWERS] + wanted
    missing = [q for q in wanted if q.id not in raw and applies(q.id, raw)]
    if missing and not defaults:
        if not interactive:
            names = ", ".join(q.id for q in missing)
            raise AnswerError(
                f"no answer for: {names}. Give them with --answers FILE or --set KEY=VALUE, "
                "or use --defaults."
            )
        _introduce(presets)
        group = ""
        for question in wanted:
            if question.id in raw or not applies(question.id, raw):
                continue
            if question.group != group:
                group = question.group
                out.rule(f"[bold]{group}[/]", align="left")
            raw[question.id] = _prompt(question, raw)
    return parse_answers(raw, source)


def _introduce(presets: tuple[Preset, ...]) -> None:
    """Before the first question: what is already decided, and how to get help."""
    for preset in presets:
        out.print(f"Using {escape(preset.label)}: {escape(preset.content.summary)}")
        for question, value in preset.content.locked.items():
            out.print(f"  [yellow]locked[/] {question} = {escape(str(value))}")
    out.print("[dim]Enter keeps the default shown in brackets; ? shows a question's help.[/]")


def _show(recommendation: Recommendation) -> None:
    body = Table.grid(padding=(0, 1))
    body.add_column(style="bold", no_wrap=True)
    body.add_column()
    for reason in recommendation.reasons:
        body.add_row("why", _cited(reason))
    for warning in recommendation.warnings:
        body.add_row("[yellow]watch[/]", _cited(warning))
    plan = recommendation.server
    worker = f" {plan.worker_class}" if plan.worker_class else ""
    body.add_row(
        "server",
        Text(
            f"{plan.server}{worker}, {plan.workers} worker(s) x {plan.threads} thread(s), "
            f"timeout {plan.timeout}s, graceful {plan.graceful_timeout}s "
            f"(serving {plan.shutdown_delay}s of it not ready), keep-alive {plan.keepalive}s"
        ),
    )
    for line in plan.why:
        body.add_row("", Text(line, style="dim"))
    for alternative in recommendation.alternatives:
        body.add_row(
            "instead",
            Text(
                f"{FRAMEWORK_NAMES[alternative.framework]}: + {' + '.join(alternative.pros[:2])} "
                f"- {' - '.join(alternative.cons[:2])}"
            ),
        )
    title = f"Recommendation: {FRAMEWORK_NAMES[recommendation.recommended]}"
    if recommendation.overridden:
        title += f" (chosen: {FRAMEWORK_NAMES[recommendation.framework]})"
    out.print(Panel(body, title=title, title_align="left", border_style="cyan"))


def _cited(reason: Reason) -> Text:
    """A reason or warning and, dimmed, the answers it read and its source; all literal."""
    return Text.assemble(reason.text, " ", (f"({reason.answer}; {reason.source})", "dim"))


@app.command("decide")
def decide_command(
    answers: AnswersOption = None,
    set_: SetOption = None,
    defaults: DefaultsOption = False,
    preset: PresetOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the recommendation as JSON.")
    ] = False,
) -> None:
    """Recommend FastAPI, Flask or a hybrid from your answers, with the reasons."""
    try:
        presets = _presets(preset)
        decision, _ = _collect(
            answers,
            set_,
            defaults,
            {},
            ask_project=False,
            presets=presets,
            # Machine output never prompts: a question would corrupt it.
            interactive=_interactive() and not as_json,
        )
    except AnswerError as error:
        raise _fail(str(error)) from None
    recommendation = decide(decision)
    if as_json:
        out.print_json(recommendation.model_dump_json())
    else:
        _show(recommendation)


def _presets(preset: str | None) -> tuple[Preset, ...]:
    """The preset asked for, then the organisation policy in effect (which wins)."""
    chosen = load_preset(preset) if preset else None
    policy = find_policy(Path.cwd())
    return tuple(p for p in (chosen, policy) if p is not None)


_CHOOSE_HELP = (
    "Enter keeps the recommendation. Another framework is shown with its own server plan "
    "and warnings, and written only once you confirm it; the ADR records the override."
)


def _choose(
    recommendation: Recommendation, answers: DecisionAnswers, allowed: tuple[Framework, ...]
) -> Recommendation:
    """Accept the recommendation, or see another allowed framework's plan and confirm it."""
    default = recommendation.recommended
    while True:
        pick = _ask(
            "Framework to generate",
            _CHOOSE_HELP,
            default if default in allowed else allowed[0],
            allowed,
        )
        chosen = next(f for f in allowed if f == pick)
        if chosen == recommendation.framework:
            return recommendation
        alternative = decide(answers, chosen)
        _show(alternative)
        confirmed = _ask(
            f"Generate {FRAMEWORK_NAMES[chosen]} with this plan?",
            "yes writes the service as shown; no goes back to the choice of framework.",
            "yes",
            ("yes", "no"),
        )
        if confirmed == "yes":
            return alternative


def _constraints(presets: tuple[Preset, ...]) -> list[dict[str, str]]:
    """What policies decided, for the ADR: each locked answer and who locked it."""
    constraints = [
        {"answer": lock.question, "value": str(lock.value), "policy": lock.policy}
        for lock in locks_of(presets)
    ]
    allowed, allowed_by = allowed_frameworks(presets)
    if allowed_by:
        constraints.append(
            {"answer": "framework", "value": " or ".join(allowed), "policy": allowed_by}
        )
    return constraints


@app.command("new")
def new_command(
    directory: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(help="Where to create the service (default: the project name)."),
    ] = None,
    answers: AnswersOption = None,
    set_: SetOption = None,
    defaults: DefaultsOption = False,
    preset: PresetOption = None,
    framework: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--framework", help="Override the recommendation: fastapi, flask or hybrid."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Render into a non-empty directory (keeps other files).")
    ] = False,
    template: TemplateOption = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print what was generated as JSON; never prompts."),
    ] = False,
) -> None:
    """Answer the questions, see the recommendation, and render the service."""
    chosen = next((f for f in FRAMEWORKS if f == framework), None)
    if framework is not None and chosen is None:
        raise _fail(f"--framework {framework!r}: choose one of {', '.join(FRAMEWORKS)}")
    project_defaults: dict[str, Any] = {}
    if directory is not None and not directory.name.startswith("."):
        project_defaults["project_name"] = directory.resolve().name
    try:
        if directory is not None:
            check_destination(directory, force=force)
        presets = _presets(preset)
        decision, project = _collect(
            answers,
            set_,
            defaults,
            project_defaults,
            ask_project=True,
            presets=presets,
            interactive=_interactive() and not as_json,
        )
        destination = directory or Path(project.project_name)
        check_destination(destination, force=force)
    except (AnswerError, RenderError) as error:
        raise _fail(str(error)) from None
    allowed, allowed_by = allowed_frameworks(presets)
    if chosen is not None and chosen not in allowed:
        raise _fail(f"--framework {chosen}: {allowed_by} allows only {', '.join(allowed)}")
    recommendation = decide(decision, chosen)
    if not as_json:
        _show(recommendation)
    if chosen is None and _interactive() and not as_json:
        recommendation = _choose(recommendation, decision, allowed)
    elif recommendation.framework not in allowed:
        raise _fail(
            f"apistarter recommends {recommendation.framework}, but {allowed_by} allows only "
            f"{', '.join(allowed)}; pick one with --framework (the ADR records the override). "
            "Nothing was written"
        )
    if template is None and recommendation.framework not in available_frameworks():
        raise _fail(
            f"the {recommendation.framework} template is not available in apistarter "
            f"{__version__} yet (available: {', '.join(sorted(available_frameworks()))}); "
            "nothing was written"
        )
    try:
        data = template_data(project, decision, recommendation, _constraints(presets))
        created = new_project(destination, data, force=force, template=_source(template))
    except RenderError as error:
        raise _fail(str(error)) from None
    if as_json:
        report = {
            "directory": str(created),
            "project_name": project.project_name,
            "package_name": project.package_name,
            "framework": recommendation.framework,
            "template_version": template_version_ref(),
            "answers": {**project.model_dump(mode="json"), **decision.model_dump(mode="json")},
            "recommendation": recommendation.model_dump(mode="json"),
        }
        out.print_json(json.dumps(report))
        return
    out.print(
        f"[green]Created[/] {escape(str(created))} ({FRAMEWORK_NAMES[recommendation.framework]}, "
        f"package {project.package_name}).\n"
        + escape(
            f"Next: cd {destination} && python -m venv .venv && "
            ".venv/bin/pip install -e '.[dev]' && .venv/bin/pytest"
        )
    )


@app.command("presets")
def presets_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the presets as JSON.")] = False,
) -> None:
    """List the shipped presets; use one with `apistarter new --preset NAME`."""
    presets = shipped_presets()
    if as_json:
        out.print_json(json.dumps({p.name: p.content.model_dump(mode="json") for p in presets}))
        return
    table = Table("preset", "for", "answers")
    for p in presets:
        given = ", ".join(f"{k}={v}" for k, v in p.content.defaults.items())
        table.add_row(p.name, Text(p.content.summary), Text(given, style="dim"))
    out.print(table)


# Answers a project cannot change through an update: they name its files.
FIXED_ON_UPDATE = frozenset({"project_name", "package_name"})


@app.command("update")
def update_command(
    directory: Annotated[Path, typer.Argument(help="The service to update.")] = Path(),
    set_: SetOption = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only report whether a newer template exists.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    conflict: Annotated[
        str, typer.Option("--conflict", help="How to show conflicts: inline or rej.")
    ] = "inline",
    template: TemplateOption = None,
) -> None:
    """Bring a service up to this apistarter's template, keeping your edits.

    Exit codes: 0 done (or up to date), 1 conflicts remain (or, with --check, an
    update is available), 2 refused and nothing changed.
    """
    if conflict not in ("inline", "rej"):
        raise _fail(f"--conflict {conflict!r}: choose inline or rej")
    try:
        recorded = recorded_answers(directory)
        sets = parse_set_options(set_ or [])
    except (AnswerError, RenderError) as error:
        raise _fail(str(error)) from None
    current = recorded_version(recorded)
    source = _source(template)
    if source is None:
        available = template_version_ref().removeprefix("v")
    else:
        try:
            newest = latest_version(source)
        except RenderError:
            raise _fail(f"--template {template}: not a git repository that can be read") from None
        if newest is None:
            raise _fail(f"--template {template}: the fork has no version tags (vX.Y.Z)")
        available = str(newest)
    if current is not None and current > Version(available):
        upgrade = "upgrade apistarter first" if source is None else "tag a newer fork version"
        raise _fail(
            f"{directory} was made by template v{current}, newer than "
            f"{'this apistarter' if source is None else template}'s v{available}; {upgrade}"
        )
    if check:
        outdated = current is None or current < Version(available)
        report = {"current": str(current), "available": available, "update_available": outdated}
        if as_json:
            out.print_json(json.dumps(report))
        else:
            state = "available" if outdated else "not needed (up to date)"
            out.print(f"Template v{current} -> v{available}: update {state}")
        raise typer.Exit(1 if outdated else 0)
    renamed = FIXED_ON_UPDATE.intersection(sets)
    if renamed:
        raise _fail(f"--set {', '.join(sorted(renamed))}: a service cannot be renamed by an update")
    asked_framework = "framework" in sets
    framework = sets.pop("framework", str(recorded.get("framework", "fastapi")))
    chosen = next((f for f in FRAMEWORKS if f == framework), None)
    if chosen is None:
        raise _fail(f"--set framework={framework}: choose one of {', '.join(FRAMEWORKS)}")
    project_keys = {q.id for q in PROJECT_QUESTIONS}
    raw = {
        **(recorded.get("decision") or {}),
        **{k: v for k, v in recorded.items() if k in project_keys},
        **sets,
    }
    try:
        decision, project = parse_answers(raw, f"{directory / '.copier-answers.yml'} and --set")
        # An update cannot take a service outside the organisation's policy either.
        policy = _presets(None)
        broken = broken_locks(sets, locks_of(policy), raw)
    except AnswerError as error:
        raise _fail(str(error)) from None
    if broken:
        raise _fail("\n".join(broken))
    allowed, allowed_by = allowed_frameworks(policy)
    if asked_framework and chosen not in allowed:
        raise _fail(f"--set framework={chosen}: {allowed_by} allows only {', '.join(allowed)}")
    data = template_data(project, decision, decide(decision, chosen))
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
    try:
        result = update_project(directory, data, conflict=conflict, template=source)
    except RenderError as error:
        raise _fail(str(error)) from None
    if as_json:
        out.print_json(
            json.dumps(
                {"changed": result.changed, "conflicts": result.conflicts, "version": available}
            )
        )
    else:
        out.print(f"Updated {escape(str(directory))} to template v{available}.")
        for path in result.changed:
            mark = "[red]conflict[/]" if path in result.conflicts else "changed"
            out.print(f"  {mark}  {escape(path)}")
        if result.conflicts:
            err.print("Resolve the conflicts, then commit.")
    if result.conflicts:
        raise typer.Exit(1)


def _source(template: str | None) -> str | None:
    """A fork's location as projects should record it: local paths made absolute."""
    if template is not None and Path(template).expanduser().exists():
        return str(Path(template).expanduser().resolve())
    return template


@app.command("template")
def template_command() -> None:
    """Put the template bundle where projects record it, so plain `copier update` works."""
    try:
        source = ensure_template_source()
    except RenderError as error:
        raise _fail(str(error)) from None
    out.print(f"Template source: {source} (renders {template_version_ref()})", markup=False)


@app.command("questions")
def questions_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the questions as JSON.")] = False,
    schema: Annotated[
        bool,
        typer.Option("--schema", help="Print a JSON Schema of the answers `new` accepts."),
    ] = False,
) -> None:
    """List every question, its choices, default and help line."""
    all_questions = PROJECT_QUESTIONS + DECISION_QUESTIONS
    if schema:
        out.print_json(json.dumps(answers_schema()))
        return
    if as_json:
        out.print_json(json.dumps([q.__dict__ for q in all_questions], default=list))
        return
    table = Table("id", "choices / type", "default", "help")
    for q in all_questions:
        kind = " | ".join(q.choices) if q.choices else q.kind
        default = ",".join(q.default) if isinstance(q.default, tuple) else str(q.default)
        table.add_row(q.id, kind, default, q.help)
    out.print(table)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # SIGTERM stops apistarter the way Ctrl-C does, so a half-rendered project is removed.
    signal.signal(signal.SIGTERM, _interrupted)
    app()
