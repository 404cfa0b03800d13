"""Reading answers from files and ``--set KEY=VALUE`` flags into one raw mapping."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from apistarter.questions import AnswerError


def load_answers_file(path: Path) -> dict[str, Any]:
    """Answers from a YAML or JSON file (JSON is YAML, but its errors read better as JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AnswerError(f"{path}: cannot read answers file: {error.strerror}") from error
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise AnswerError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {error}"
        ) from error
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise AnswerError(f"{path}: must be a mapping of question ids to answers")
    return data


def parse_set_options(options: Iterable[str]) -> dict[str, str]:
    """``["workload=io-bound", "cpus=4"]`` to a mapping; values are validated later."""
    parsed: dict[str, str] = {}
    for option in options:
        key, separator, value = option.partition("=")
        if not separator or not key.strip():
            raise AnswerError(f"--set {option!r}: expected KEY=VALUE, e.g. --set workload=io-bound")
        # The value as typed: a stray newline or space is judged, not silently dropped,
        # so a flag and an answers file accept the same values.
        parsed[key.strip()] = value
    return parsed
