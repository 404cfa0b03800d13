"""Reading answers from files and ``--set KEY=VALUE`` flags into one raw mapping."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from apistarter.questions import AnswerError

# Answers and policy files are a few dozen lines; anything far larger is a mistake
# (a wrong path, a device) and is refused before it is read into memory whole.
MAX_FILE_BYTES = 1 << 20


def read_document(path: Path, source: str) -> Any:
    """A YAML (or, by suffix, JSON) file's content, or an AnswerError saying in one line why not."""
    try:
        with path.open("rb") as file:
            content = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise AnswerError(f"{source}: cannot read it: {error.strerror or error}") from error
    if len(content) > MAX_FILE_BYTES:
        raise AnswerError(f"{source}: larger than {MAX_FILE_BYTES >> 10} KiB, not an answers file")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise AnswerError(f"{source}: not UTF-8 text (byte {error.start})") from error
    kind = "JSON" if path.suffix == ".json" else "YAML"
    try:
        # JSON is YAML, but its errors read better from the JSON parser.
        return json.loads(text) if kind == "JSON" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise AnswerError(f"{source}: not valid {kind}: {' '.join(str(error).split())}") from error
    except RecursionError as error:
        raise AnswerError(f"{source}: nested too deeply to be answers") from error


def load_answers_file(path: Path) -> dict[str, Any]:
    """Answers from a YAML or JSON file: a mapping of question ids to answers."""
    data = read_document(path, str(path))
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
