"""Presets and organisation policies: answers decided before anyone is asked.

A preset is a file of default answers; a policy is the same file with *locked*
answers (and the frameworks it allows) that nobody can answer otherwise. The
presets apistarter ships live in ``apistarter/presets/*.yml``; a platform team
writes its own file in the same format.

Precedence, lowest first: preset defaults < policy defaults < answers file <
``--set`` < prompts; locked answers stand above all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from apistarter.answers import read_document
from apistarter.questions import (
    FRAMEWORKS,
    AnswerError,
    DecisionAnswers,
    Framework,
    ProjectAnswers,
    describe_error,
    parse_answers,
)

# Where a policy is found when --preset names none: this variable, then this file.
POLICY_ENV = "APISTARTER_POLICY"
POLICY_FILE = "apistarter-policy.yml"
_QUESTION_IDS = frozenset(DecisionAnswers.model_fields) | frozenset(ProjectAnswers.model_fields)


class PresetFile(BaseModel):
    """The format of a preset or policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    summary: str = ""
    defaults: dict[str, Any] = {}
    locked: dict[str, Any] = {}
    # Frameworks the organisation supports; empty allows all three.
    frameworks: tuple[Framework, ...] = ()

    @field_validator("defaults", "locked")
    @classmethod
    def _known_questions(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - _QUESTION_IDS)
        if unknown:
            raise ValueError(
                f"unknown question {', '.join(unknown)} (known: {', '.join(sorted(_QUESTION_IDS))})"
            )
        return value


@dataclass(frozen=True)
class Preset:
    """A loaded preset or policy and where it came from (shown in errors and the ADR)."""

    name: str
    source: str
    content: PresetFile

    @property
    def label(self) -> str:
        return f"{self.content.name or self.name} ({self.source})"


def _presets_dir() -> Path:
    return Path(str(resources.files("apistarter") / "presets"))


def shipped_presets() -> tuple[Preset, ...]:
    """The presets apistarter ships, by name."""
    return tuple(
        _load(path, path.stem, f"preset {path.stem}")
        for path in sorted(_presets_dir().glob("*.yml"))
    )


def _load(path: Path, name: str, source: str) -> Preset:
    loaded = read_document(path, source)
    try:
        content = PresetFile.model_validate(loaded or {})
    except ValidationError as error:
        problems = "; ".join(describe_error(item, "file") for item in error.errors())
        raise AnswerError(f"{source}: {problems}") from error
    preset = Preset(name=name, source=source, content=content)
    # Every answer the file gives must be one `new` accepts, checked before anything is asked.
    for answers in (content.defaults, content.locked):
        parse_answers(dict(answers), source)
    return preset


def load_preset(name_or_file: str) -> Preset:
    """A shipped preset by name, or a preset/policy file by path."""
    shipped = _presets_dir() / f"{name_or_file}.yml"
    if "/" not in name_or_file and shipped.is_file():
        return _load(shipped, name_or_file, f"preset {name_or_file}")
    path = Path(name_or_file).expanduser()
    if path.is_file():
        return _load(path, path.stem, str(path))
    names = ", ".join(preset.name for preset in shipped_presets())
    raise AnswerError(f"--preset {name_or_file}: no such preset or file (presets: {names})")


def find_policy(cwd: Path) -> Preset | None:
    """The organisation policy in effect: $APISTARTER_POLICY, else ./apistarter-policy.yml."""
    named = os.environ.get(POLICY_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise AnswerError(f"{POLICY_ENV}={named}: no such policy file")
        return _load(path, path.stem, str(path))
    local = cwd / POLICY_FILE
    return _load(local, local.stem, str(local)) if local.is_file() else None


@dataclass(frozen=True)
class Lock:
    """One locked answer and the policy that locked it."""

    question: str
    value: Any
    policy: str


def locks_of(presets: tuple[Preset, ...]) -> tuple[Lock, ...]:
    return tuple(
        Lock(question, value, preset.label)
        for preset in presets
        for question, value in preset.content.locked.items()
    )


def allowed_frameworks(presets: tuple[Preset, ...]) -> tuple[tuple[Framework, ...], str]:
    """The frameworks every policy allows, and which policies said so ("" when all are)."""
    allowed = set(FRAMEWORKS)
    sources = []
    for preset in presets:
        if preset.content.frameworks:
            allowed &= set(preset.content.frameworks)
            sources.append(preset.label)
    return tuple(f for f in FRAMEWORKS if f in allowed), ", ".join(sources)


def _normalised(question: str, value: Any, context: dict[str, Any]) -> Any:
    """``value`` as the answer models read it ("4" -> 4, "yes" -> True) in ``context``."""
    decision, project = parse_answers({**context, question: value}, "answers")
    model: BaseModel = project if question in ProjectAnswers.model_fields else decision
    return getattr(model, question)


def broken_locks(
    user: dict[str, Any], locks: tuple[Lock, ...], merged: dict[str, Any]
) -> list[str]:
    """One message per answer the user gave that a policy locked to another value.

    ``merged`` is every answer with the locks applied; each comparison changes one
    answer in it, so values compare as the models read them, not as typed.
    """
    problems = []
    for lock in locks:
        if lock.question not in user:
            continue
        given = _normalised(lock.question, user[lock.question], merged)
        if given != _normalised(lock.question, lock.value, merged):
            problems.append(
                f"{lock.question}={user[lock.question]}: {lock.policy} locks "
                f"{lock.question} to {lock.value}"
            )
    return problems
