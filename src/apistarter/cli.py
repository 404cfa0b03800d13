"""The command line: parses, prompts and prints.

It talks to workflow.py, which joins the rules (decision.py), the reading of an existing
app (inspect) and the rendering (the render package), and to questions.py for the questions.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.prompt import InvalidResponse, Prompt
from rich.table import Table
from rich.text import Text

from apistarter import __version__, workflow
from apistarter.questions import (
    DECISION_QUESTIONS,
    PROJECT_QUESTIONS,
    AnswerError,
    DecisionAnswers,
    Framework,
    ProjectAnswers,
    Question,
    answers_schema,
    parse_answers,
)
from apistarter.workflow import (
    FRAMEWORK_NAMES,
    InspectError,
    InspectReport,
    Preset,
    Reason,
    Recommendation,
    RenderError,
    RestoredError,
)

app = typer.Typer(
    help="Decide between FastAPI, Flask and a hybrid, then render a production-ready service.",
    no_args_is_help=True,
    add_completion=True,
)
out = Console()
err = Console(stderr=True)

EXIT_USAGE = 2

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


def _note(message: str) -> None:
    # Notes quote paths and tools' own words: printed literally, never as markup.
    err.print(f"[yellow]note:[/] {escape(message)}", highlight=False, soft_wrap=True)


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
    inferred: dict[str, Any] | None = None,
) -> tuple[DecisionAnswers, ProjectAnswers]:
    """The answers workflow merges from presets, file and flags, then the prompts for
    what is still missing (unless defaults are taken), validated."""
    given = workflow.given_answers(
        answers_file, sets, project_defaults, ask_project, presets, inferred
    )
    if given.missing and not defaults:
        if not interactive:
            names = ", ".join(q.id for q in given.missing)
            raise AnswerError(
                f"no answer for: {names}. Give them with --answers FILE or --set KEY=VALUE, "
                "or use --defaults."
            )
        _introduce(presets)
        group = ""
        # Each is asked only if it applies given the answers so far.
        for question in given.wanted:
            if not given.unanswered(question):
                continue
            if question.group != group:
                group = question.group
                out.rule(f"[bold]{group}[/]", align="left")
            given.raw[question.id] = _prompt(question, given.raw)
    return given.answers()


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
    data = recommendation.database
    if data is not None:
        body.add_row(
            "database",
            Text(
                f"PostgreSQL via {data.driver} ({data.api}), pool {data.pool_size} per process, "
                f"{data.connections} of {data.max_connections} connections at most, checkout "
                f"{data.checkout_timeout_s}s, statement_timeout {data.statement_timeout_ms}ms"
            ),
        )
        for line in data.why:
            body.add_row("", Text(line, style="dim"))
    auth = recommendation.auth
    body.add_row("auth", Text(auth.chosen))
    body.add_row("", Text(auth.why, style="dim"))
    for alternative in recommendation.alternatives:
        body.add_row(
            "instead",
            Text(
                f"{FRAMEWORK_NAMES[alternative.framework]}: + {' + '.join(alternative.pros[:2])} "
                f"- {' - '.join(alternative.cons[:2])}"
            ),
        )
    title = f"Recommendation: {FRAMEWORK_NAMES[recommendation.recommended]}"
    if recommendation.adopted and recommendation.overridden:
        title += f" (for the adoption: {FRAMEWORK_NAMES[recommendation.framework]})"
    elif recommendation.overridden:
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
    from_: FromOption = None,
    legacy_app: AppOption = None,
) -> None:
    """Recommend FastAPI, Flask or a hybrid from your answers, with the reasons."""
    try:
        _, inferred = _inferred(from_, legacy_app, quiet=as_json)
        presets = workflow.presets_for(preset)
        decision, _ = _collect(
            answers,
            set_,
            defaults,
            {},
            ask_project=False,
            presets=presets,
            # Machine output never prompts: a question would corrupt it.
            interactive=_interactive() and not as_json,
            inferred=inferred,
        )
        # A plan the answers cannot hold (a database budget too small) is refused too.
        recommendation = workflow.decide(decision)
    except (AnswerError, InspectError) as error:
        raise _fail(str(error)) from None
    if as_json:
        out.print_json(recommendation.model_dump_json())
    else:
        _show(recommendation)


FromOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--from",
        metavar="PATH",
        help="Infer what the code shows (routes, blocking libraries, the app) from an "
        "existing Flask project; the rest is asked.",
    ),
]
AppOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--app", metavar="MODULE:NAME", help="The Flask app to read when the project has several."
    ),
]


def _inferred(
    path: Path | None, legacy_app: str | None, quiet: bool
) -> tuple[InspectReport | None, dict[str, Any]]:
    """What a static reading of an existing Flask project finds, and the answers it settles."""
    report = workflow.read_app(path, legacy_app)
    if report is None:
        return None, {}
    answers = report.answers()
    if not quiet:
        given = _answers_text(answers)
        out.print(f"From {escape(str(path))} ({report.app.evidence}): {escape(given)}")
        for skipped in report.skipped:
            err.print(f"[yellow]warning:[/] {escape(skipped)}", highlight=False, soft_wrap=True)
    _warn_routes(report)
    return report, answers


def _warn_routes(report: InspectReport) -> None:
    """A warning line for each route inspect could not list, and one when it found none."""
    for unknown in report.unknown_routes:
        err.print(
            f"[yellow]warning:[/] routes under {escape(unknown.prefix)} not listed: "
            f"{escape(unknown.reason)} ({unknown.evidence})",
            highlight=False,
            soft_wrap=True,
        )
    if not any(not route.registered_by for route in report.routes):
        err.print(
            f"[yellow]warning:[/] no routes of {escape(report.app.import_path)}'s own were "
            "found: inspect reads routes declared with route decorators, add_url_rule, "
            "add_resource and register_blueprint; check how the app registers its views",
            highlight=False,
            soft_wrap=True,
        )


@app.command("inspect")
def inspect_command(
    path: Annotated[Path, typer.Argument(help="The existing Flask project's folder.")],
    legacy_app: AppOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the findings and answers as JSON.")
    ] = False,
) -> None:
    """Read an existing Flask project without running it: its app, routes, libraries,
    settings, state and tests, each with the file and line it came from."""
    try:
        report = workflow.inspect_project(path, legacy_app)
    except InspectError as error:
        raise _fail(str(error)) from None
    if as_json:
        out.print_json(json.dumps({**report.model_dump(mode="json"), "answers": report.answers()}))
    else:
        _show_report(report)
    _warn_routes(report)


def _show_report(report: InspectReport) -> None:
    app_line = f"{report.app.import_path} ({report.app.kind}, {report.app.evidence})"
    out.print(f"[bold]Flask app[/] {escape(app_line)}")
    routes = Table("rule", "methods", "view", "where", title=f"{len(report.routes)} routes")
    for route in report.routes:
        routes.add_row(
            escape(route.rule), ",".join(route.methods), escape(route.view), str(route.evidence)
        )
    out.print(routes)
    for unknown in report.unknown_routes:
        out.print(
            f"[yellow]unknown[/] routes under {escape(unknown.prefix)}: "
            f"{escape(unknown.reason)} ({unknown.evidence})"
        )
    found = Table("finding", "detail", "where", show_header=False)
    for use in report.blocking:
        found.add_row("blocking", f"{use.module} -> {use.dep}", str(use.evidence))
    for dependency in report.dependencies:
        found.add_row(
            "constraint" if dependency.constraint else "dependency",
            escape(f"{dependency.requirement} [{dependency.group}]"),
            escape(dependency.where()),
        )
    if report.requires_python:
        found.add_row(
            "python", escape(report.requires_python), str(report.requires_python_evidence)
        )
    for setting in report.settings:
        flags = " [yellow]secret[/]" if setting.secret else ""
        flags += " [red]set in code[/]" if setting.secret and setting.literal_in_code else ""
        found.add_row(setting.kind, escape(setting.name) + flags, str(setting.evidence))
    for state in report.state:
        found.add_row(state.kind, escape(state.detail), str(state.evidence))
    for extension in report.extensions:
        found.add_row(
            "extension", f"{extension.name}: {escape(extension.why)}", str(extension.evidence)
        )
    for command in report.commands:
        found.add_row("command", f"flask {escape(command.name)}", str(command.evidence))
    if report.database:
        database = report.database
        url = database.config_key or database.env or "?"
        where = f"{url} from {database.env}" if database.config_key and database.env else url
        default = f", default {escape(database.default)}" if database.default else ""
        found.add_row(
            "database", f"{database.library}: {escape(where)}{default}", str(database.evidence)
        )
        if database.migrate:
            found.add_row(
                "migrations",
                f"{database.migrate} in {escape(database.migrations or '?')}/, tables: "
                + escape(", ".join(database.tables) or "none found"),
                str(database.migrate_evidence or database.migrations),
            )
    if report.tests:
        fixtures = ", ".join(f.name for f in report.tests.fixtures) or "none"
        found.add_row(
            "tests",
            f"{report.tests.files} files; conftest fixtures: {escape(fixtures)}",
            report.tests.directory,
        )
    for need in report.needs:
        step = f" [dim]({escape(need.command)})[/]" if need.command else ""
        found.add_row(need.kind, escape(need.detail) + step, str(need.evidence))
    for skipped in report.skipped:
        found.add_row("[dim]skipped[/]", escape(skipped), "")
    out.print(found)
    answers = _answers_text(report.answers())
    out.print(f"[bold]Answers[/] {escape(answers)} [dim](the rest is asked)[/]")


def _answers_text(answers: dict[str, Any]) -> str:
    return ", ".join(
        f"{key}={','.join(value) if isinstance(value, list) else value}"
        for key, value in answers.items()
    )


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
        try:
            alternative = workflow.decide(answers, chosen)
        except AnswerError as error:
            err.print(str(error), style="red", markup=False)
            continue
        _show(alternative)
        confirmed = _ask(
            f"Generate {FRAMEWORK_NAMES[chosen]} with this plan?",
            "yes writes the service as shown; no goes back to the choice of framework.",
            "yes",
            ("yes", "no"),
        )
        if confirmed == "yes":
            return alternative


def _confirm_adoption(recommendation: Recommendation) -> None:
    """Say what the answers alone recommend, and ask whether to go on with the hybrid."""
    hybrid = FRAMEWORK_NAMES["hybrid"]
    if recommendation.overridden:
        out.print(
            f"The answers alone recommend {FRAMEWORK_NAMES[recommendation.recommended]}; "
            f"--legacy adopts the app into {hybrid}, where it keeps serving as it is. The ADR "
            "records both."
        )
    go_on = _ask(
        f"Go on with {hybrid}?",
        "yes adopts the app into the hybrid shown; no stops here and writes nothing.",
        "yes",
        ("yes", "no"),
    )
    if go_on == "no":
        raise _fail(
            "stopped before writing anything; to follow the recommendation instead, run "
            "`apistarter new` without --legacy"
        )


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
    legacy: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--legacy",
            metavar="PATH",
            help="Adopt this existing Flask project: its code, dependencies and routes come "
            "into a hybrid service, at their original URLs.",
        ),
    ] = None,
    legacy_app: AppOption = None,
    lock: Annotated[
        bool,
        typer.Option(
            "--lock/--no-lock",
            envvar="APISTARTER_LOCK",
            help="Commit a uv.lock with the service (needs uv and the package index), so "
            "its image installs exactly those versions.",
        ),
    ] = True,
) -> None:
    """Answer the questions, see the recommendation, and render the service."""
    if legacy is not None and framework not in (None, "hybrid"):
        raise _fail(f"--legacy adopts an app into the hybrid; --framework {framework} cannot")
    project_defaults: dict[str, Any] = {}
    if directory is not None and not directory.name.startswith("."):
        project_defaults["project_name"] = directory.resolve().name
    try:
        if directory is not None:
            workflow.check_destination(directory, force=force)
        workflow.check_template_source(template)
        adopted, inferred = _inferred(legacy, legacy_app, quiet=as_json)
        presets = workflow.presets_for(preset)
        chosen = workflow.framework_option(framework, presets)
        decision, project = _collect(
            answers,
            set_,
            defaults,
            project_defaults,
            ask_project=True,
            presets=presets,
            interactive=_interactive() and not as_json,
            inferred=inferred,
        )
        destination = directory or Path(project.project_name)
        workflow.check_destination(destination, force=force)
    except (AnswerError, RenderError, InspectError) as error:
        raise _fail(str(error)) from None
    try:
        recommendation = workflow.decide(decision, chosen, adopted=adopted is not None)
    except AnswerError as error:
        raise _fail(str(error)) from None
    if not as_json:
        _show(recommendation)
    if adopted is not None and _interactive() and not as_json:
        _confirm_adoption(recommendation)
    elif chosen is None and _interactive() and not as_json:
        recommendation = _choose(recommendation, decision, workflow.allowed_frameworks(presets)[0])
    try:
        made = workflow.create(
            destination,
            project,
            decision,
            recommendation,
            presets,
            force=force,
            template=template,
            adopted=adopted,
            legacy=legacy,
            lock=lock,
        )
    except RestoredError as error:
        _fail(str(error))
        raise typer.Exit(1) from None
    except (AnswerError, RenderError) as error:
        raise _fail(str(error)) from None
    created = made.result
    if made.shadowed:
        err.print(
            f"[yellow]warning:[/] {len(made.shadowed)} route(s) of the app will no longer "
            "reach Flask, the service's own routes are matched first: "
            + escape("; ".join(made.shadowed))
            + ". Their callers now get the service's answer; to keep the app's, mount it under a "
            "prefix (APP_LEGACY_PREFIX=/legacy). The ADR lists them.",
            highlight=False,
            soft_wrap=True,
        )
    if made.untracked:
        err.print(
            f"[yellow]warning:[/] {len(made.untracked)} file(s) in {escape(str(legacy))} that "
            "git does not track were not copied (only tracked files are): "
            + escape("; ".join(made.untracked))
            + ". Commit the ones the app needs, then run the command again.",
            highlight=False,
            soft_wrap=True,
        )
    for note in made.notes:
        _note(note)
    needed = workflow.interpreter(project.python_version)
    if as_json:
        report = {
            "directory": str(created.directory),
            "project_name": project.project_name,
            "package_name": project.package_name,
            "framework": recommendation.framework,
            "template_version": workflow.template_version_ref(),
            "answers": {**project.model_dump(mode="json"), **decision.model_dump(mode="json")},
            "recommendation": recommendation.model_dump(mode="json"),
            "overwritten": created.overwritten,
            "untracked": created.untracked,
            "leftovers_removed": created.leftovers,
            "backups_kept": created.backups,
            "interpreter": needed,
            "locked": lock and not created.lock_note,
            "lock_note": created.lock_note,
        }
        out.print_json(json.dumps(report))
        return
    for leftover in created.leftovers:
        out.print(f"Removed {escape(leftover)}, left behind by an interrupted run.")
    for backup in created.backups:
        err.print(
            f"[yellow]note:[/] {escape(backup)} holds files an interrupted --force run "
            "replaced; copy back what you need, then delete it.",
            highlight=False,
            soft_wrap=True,
        )
    if created.overwritten:
        out.print(
            f"Overwrote {len(created.overwritten)} file(s): "
            + escape(", ".join(created.overwritten))
        )
    if created.untracked:
        out.print(
            f"Left {len(created.untracked)} file(s) that were there before out of the first "
            "commit (untracked): " + escape(", ".join(created.untracked))
        )
    out.print(
        f"[green]Created[/] {escape(str(created.directory))} "
        f"({FRAMEWORK_NAMES[recommendation.framework]}, package {project.package_name}).\n"
        "Next: "
        + escape(
            f"cd {destination} && {needed} -m venv .venv && "
            ".venv/bin/pip install -e '.[dev]' && .venv/bin/pytest"
        )
    )
    auth = recommendation.auth
    settings = [*auth.config, *([auth.secret] if auth.secret else [])]
    if settings:
        out.print(
            f"It serves once {escape(', '.join(settings))} are set (auth={auth.scheme}; its "
            "README's Run it shows how), or render it with --set auth=none."
        )
    if created.lock_note:
        _note(created.lock_note)
    on_path = workflow.versions_on_path()
    if project.python_version not in on_path:
        found = ", ".join(on_path) or "none"
        err.print(
            f"[yellow]note:[/] {needed} is not on PATH; the service needs Python "
            f"{project.python_version}. python_version values that would work here: {found}",
            highlight=False,
            soft_wrap=True,
        )


@app.command("presets")
def presets_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the presets as JSON.")] = False,
) -> None:
    """List the shipped presets; use one with `apistarter new --preset NAME`."""
    presets = workflow.shipped_presets()
    if as_json:
        out.print_json(json.dumps({p.name: p.content.model_dump(mode="json") for p in presets}))
        return
    table = Table("preset", "for", "answers")
    for p in presets:
        given = ", ".join(f"{k}={v}" for k, v in p.content.defaults.items())
        table.add_row(p.name, Text(p.content.summary), Text(given, style="dim"))
    out.print(table)


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

    Exit codes: 0 done (or up to date); 1 conflicts remain, or the update failed and
    the service was restored (with --check: an update is available); 2 refused and
    nothing changed.
    """
    if conflict not in ("inline", "rej"):
        raise _fail(f"--conflict {conflict!r}: choose inline or rej")
    try:
        target = workflow.update_target(directory, template)
        if not check:
            plan = workflow.plan_update(target, set_ or [], workflow.presets_for(None))
    except (AnswerError, RenderError) as error:
        raise _fail(str(error)) from None
    if check:
        report = {
            "current": str(target.current),
            "available": target.available,
            "update_available": target.outdated,
        }
        if as_json:
            out.print_json(json.dumps(report))
        else:
            state = "available" if target.outdated else "not needed (up to date)"
            out.print(f"Template v{target.current} -> v{target.available}: update {state}")
        raise typer.Exit(1 if target.outdated else 0)
    if not as_json:
        if plan.replanned:
            _show(plan.recommendation)
        out.print(
            f"Template source: {escape(target.source)} (v{target.current} -> v{target.available})",
            highlight=False,
        )
    try:
        result = workflow.run_update(plan, conflict)
    except RestoredError as error:
        _fail(str(error))
        raise typer.Exit(1) from None
    except RenderError as error:
        raise _fail(str(error)) from None
    if as_json:
        out.print_json(
            json.dumps(
                {
                    **dataclasses.asdict(result),
                    "source": target.source,
                    "version": target.available,
                    "unchanged_by": plan.unchanged_by,
                }
            )
        )
    else:
        out.print(f"Updated {escape(str(directory))} to template v{target.available}.")
        if plan.unchanged_by:
            out.print(
                f"{escape(' '.join('--set ' + o for o in plan.unchanged_by))} changes nothing "
                "in the plan (framework, server, load test)."
            )
        for label, paths in (
            ("added", result.added),
            ("changed", result.changed),
            ("removed", result.removed),
            ("[red]conflict[/]", result.conflicts),
        ):
            for path in paths:
                out.print(f"  {label}  {escape(path)}")
        for path in result.kept:
            out.print(
                f"  [red]conflict[/]  {escape(path)} (you changed it and the new template "
                "no longer has it: kept; delete it or keep it)"
            )
        if result.lock_note:
            _note(result.lock_note)
        if result.dependencies_changed:
            out.print(
                "Dependencies changed: reinstall " + escape("(.venv/bin/pip install -e '.[dev]').")
            )
        if result.dependencies_note:
            _note(result.dependencies_note)
        if result.conflicts or result.kept:
            err.print("Resolve the conflicts, then commit.")
    if result.conflicts or result.kept:
        raise typer.Exit(1)


@app.command("template")
def template_command() -> None:
    """Put the template bundle where projects record it, so plain `copier update` works."""
    try:
        source = workflow.ensure_template_source()
    except RenderError as error:
        raise _fail(str(error)) from None
    out.print(
        f"Template source: {source} (renders {workflow.template_version_ref()})", markup=False
    )


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
