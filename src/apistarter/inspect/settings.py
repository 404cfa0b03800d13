"""Configuration keys, environment variables and secrets the app reads or sets."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from apistarter.inspect.reader import Reader
from apistarter.inspect.report import Evidence, Setting, SettingKind
from apistarter.inspect.source import Module, assignments, keyword_of, qualified_name, text_of

# A secret is named for what it is, in its last word: MAIL_PASSWORD, API_TOKEN,
# PASSWORD_SALT; a key is one when a word before says which (SECRET_KEY, API_KEY).
# JWT_ACCESS_TOKEN_EXPIRES, PASSWORD_MIN_LENGTH or TOKEN_URL are settings about one.
_SECRET_NAME = re.compile(
    r"(?:^|_)(?:SECRET|TOKEN|PASSWORD|PASSWD|PASS|PASSPHRASE|SALT|CREDENTIALS?"
    r"|(?:SECRET|API|PRIVATE|ACCESS|SIGNING|ENCRYPTION)_(?:\w+_)?KEY)$"
)


def _setting(name: str, kind: SettingKind, literal: bool, evidence: Evidence) -> Setting:
    return Setting(
        name=name,
        kind=kind,
        secret=bool(_SECRET_NAME.search(name.upper().removesuffix("_*"))),
        literal_in_code=literal,
        evidence=evidence,
    )


def _config_call(node: ast.Call, module: Module) -> Iterator[Setting]:
    """Keys set or read through `app.config.<method>(...)`."""
    assert isinstance(node.func, ast.Attribute)
    method = node.func.attr
    at = module.at(node)
    if method in ("from_mapping", "update"):
        for keyword in node.keywords:
            if keyword.arg:
                literal = isinstance(keyword.value, ast.Constant)
                yield _setting(keyword.arg, "config", literal, module.at(keyword))
        if node.args and isinstance(node.args[0], ast.Dict):
            for key, value in zip(node.args[0].keys, node.args[0].values, strict=True):
                name = text_of(key)
                if name and key is not None:
                    literal = isinstance(value, ast.Constant)
                    yield _setting(name, "config", literal, module.at(key))
    elif method in ("get", "setdefault") and node.args:
        name = text_of(node.args[0])
        if name:
            yield _setting(name, "config", False, at)
    elif method == "from_prefixed_env":
        prefix = text_of(node.args[0] if node.args else keyword_of(node, "prefix")) or "FLASK"
        yield _setting(f"{prefix}_*", "env-prefix", False, at)
    elif method == "from_envvar" and node.args:
        name = text_of(node.args[0])
        if name:
            yield _setting(name, "env", False, at)
    elif method == "from_pyfile" and node.args:
        name = text_of(node.args[0])
        if name:
            yield _setting(name, "config-file", False, at)


def _is_config(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "config"


def settings_of(module: Module) -> Iterator[Setting]:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call):
            func = qualified_name(node.func, module.imports)
            if func in ("os.getenv", "os.environ.get", "os.environ.setdefault") and node.args:
                name = text_of(node.args[0])
                if name:
                    default = node.args[1] if len(node.args) > 1 else keyword_of(node, "default")
                    yield _setting(name, "env", isinstance(default, ast.Constant), module.at(node))
            elif isinstance(node.func, ast.Attribute) and _is_config(node.func.value):
                yield from _config_call(node, module)
        elif isinstance(node, ast.Subscript):
            name = text_of(node.slice)
            if name is None:
                continue
            if qualified_name(node.value, module.imports) == "os.environ":
                yield _setting(name, "env", False, module.at(node))
            elif _is_config(node.value):
                yield _setting(name, "config", False, module.at(node))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr == "secret_key":
                    literal = isinstance(node.value, ast.Constant)
                    yield _setting("SECRET_KEY", "config", literal, module.at(node))
        elif isinstance(node, ast.ClassDef) and "config" in node.name.lower():
            # Settings classes loaded with app.config.from_object: their UPPERCASE attributes.
            for name, value, statement in assignments(node.body):
                if name.isupper():
                    literal = isinstance(value, ast.Constant)
                    yield _setting(name, "config", literal, module.at(statement))


# The example environment files a project documents its variables in, at its root.
ENV_EXAMPLES = (".env.example", ".env.sample", ".env.template", "env.example")
# `NAME=value` or `export NAME=value`, commented out or not.
_ENV_LINE = re.compile(r"^\s*#?\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def env_example_of(reader: Reader) -> Iterator[Setting]:
    """The variables the app's example environment file names (never its values)."""
    for name in ENV_EXAMPLES:
        path = reader.root / name
        if not (path.exists() or path.is_symlink()):
            continue
        text = reader.text(path)
        for number, line in enumerate((text or "").splitlines(), start=1):
            match = _ENV_LINE.match(line)
            if match:
                evidence = Evidence(file=name, line=number)
                yield _setting(match.group(1), "env", False, evidence)
