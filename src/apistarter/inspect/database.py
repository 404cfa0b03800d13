"""The app's database: the SQLAlchemy layer it uses, where its URL comes from, its migrations.

Recognised: Flask-SQLAlchemy (`SQLAlchemy(app)`, `db.init_app(app)`), plain SQLAlchemy
(`create_engine(...)` and the wrappers that take a URL the same way), Flask-Migrate
(`Migrate(app, db)`) and Alembic (`alembic.ini`, a `migrations/` or `alembic/` folder with
`env.py` and `versions/`). The URL is followed to its configuration key, the environment
variable it is read from and that variable's default; the tables are the ones the
migrations create, or, without migrations, the models declare.
"""

from __future__ import annotations

import ast
import configparser
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from apistarter.inspect.reader import Reader
from apistarter.inspect.report import AppDatabase
from apistarter.inspect.source import Module, assignments, keyword_of, qualified_name, text_of

# Flask-SQLAlchemy's key for the URL (one database; binds are not followed).
FLASK_SQLALCHEMY_KEY = "SQLALCHEMY_DATABASE_URI"
_FLASK_SQLALCHEMY = "flask_sqlalchemy.SQLAlchemy"
# Calls that take the database URL as their first argument.
_ENGINES = frozenset(
    {
        "sqlalchemy.create_engine",
        "sqlalchemy.engine.create_engine",
        "sqlalchemy.ext.asyncio.create_async_engine",
        "sqlmodel.create_engine",
    }
)
_MIGRATE = "flask_migrate.Migrate"
_ENV_READS = frozenset({"os.getenv", "os.environ.get"})
_SQLITE_FILE = re.compile(r"[\w.-]*\.(?:sqlite3?|db)$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# Where Alembic's migrations usually are, relative to the project's root.
_MIGRATION_FOLDERS = ("migrations", "alembic")


def _calls(modules: Iterable[Module], names: Iterable[str]) -> Iterator[tuple[Module, ast.Call]]:
    wanted = frozenset(names)
    for module in modules:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Call) and qualified_name(node.func, module.imports) in wanted:
                yield module, node


def _url_assignments(module: Module, key: str) -> Iterator[ast.expr]:
    """Values the module gives ``key``: `config[key] = v`, `update(key=v)`, `KEY = v`."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Subscript) and text_of(target.slice) == key:
                    yield node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("update", "from_mapping", "setdefault"):
                value = keyword_of(node, key)
                if value is not None:
                    yield value
                elif len(node.args) == 2 and text_of(node.args[0]) == key:
                    yield node.args[1]  # config.setdefault(key, value)
        elif isinstance(node, ast.Module | ast.ClassDef):
            for name, value, _ in assignments(node.body):
                if name == key:
                    yield value


def _env_read(node: ast.expr, module: Module) -> tuple[str, ast.expr | None] | None:
    """(variable, default expression) of the first environment read inside ``node``."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call) and inner.args:
            if qualified_name(inner.func, module.imports) in _ENV_READS:
                name = text_of(inner.args[0])
                if name:
                    default = inner.args[1] if len(inner.args) > 1 else keyword_of(inner, "default")
                    if default is None and isinstance(node, ast.BoolOp) and len(node.values) > 1:
                        default = node.values[-1]  # os.environ.get("X") or "sqlite:///..."
                    return name, default
        elif (
            isinstance(inner, ast.Subscript)
            and qualified_name(inner.value, module.imports) == "os.environ"
            and text_of(inner.slice)
        ):
            return text_of(inner.slice) or "", None
    return None


def _default(node: ast.expr | None) -> tuple[str | None, str | None]:
    """(default URL, SQLite file name) of an expression: a literal URL, or a SQLite URL built
    from a path (`"sqlite:///" + os.path.join(basedir, "app.db")`), whose folder is the
    app's and is never kept: only the file's name is."""
    if node is None:
        return None, None
    literal = text_of(node)
    if literal is not None:
        if literal.startswith("sqlite:///") and not literal.endswith(":memory:"):
            return literal, Path(literal.removeprefix("sqlite:///")).name or None
        return literal, None
    texts = [text_of(part) or "" for part in ast.walk(node) if isinstance(part, ast.Constant)]
    if any(text.startswith("sqlite:") for text in texts):
        name = next((Path(t).name for t in reversed(texts) if _SQLITE_FILE.search(t)), None)
        return (f"sqlite:///{name}" if name else None), name
    return None, None


def _tables_created(root: Path, reader: Reader, folder: str) -> list[str]:
    """Tables the migrations in ``folder``/versions create: `op.create_table("name", ...)`.

    Read as files: a revision's name often starts with a digit, so it is no module."""
    tables = []
    for path in sorted((root / folder / "versions").glob("*.py")):
        try:
            tree = ast.parse(reader.text(path) or "")
        except SyntaxError:
            continue
        tables += [
            name
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "create_table"
            and node.args
            for name in [text_of(node.args[0])]
            if name
        ]
    return tables


def _model_tables(modules: Iterable[Module], db_names: set[str]) -> list[str]:
    """Tables declared by models: `class User(db.Model)` is `user` (Flask-SQLAlchemy's
    snake_case name) unless `__tablename__` says otherwise."""
    tables = []
    for module in modules:
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {ast.unparse(base) for base in node.bases}
            if not any(f"{name}.Model" in bases for name in db_names):
                continue
            named = next(
                (text_of(v) for n, v, _ in assignments(node.body) if n == "__tablename__"), None
            )
            tables.append(named or _CAMEL.sub("_", node.name).lower())
    return tables


def _migrations_folder(
    root: Path, reader: Reader, directory: str | None
) -> tuple[str | None, str | None]:
    """(migrations folder, alembic.ini) relative to root, when they are there."""
    ini = root / "alembic.ini"
    location = None
    if ini.is_file() and not ini.is_symlink():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(reader.text(ini) or "")
            location = parser.get("alembic", "script_location", fallback=None)
        except configparser.Error:
            location = None
    candidates = [
        c.replace("%(here)s/", "").strip("/")
        for c in (directory, location, *_MIGRATION_FOLDERS)
        if c
    ]
    folder = next(
        (
            c
            for c in candidates
            if (root / c / "env.py").is_file() and (root / c / "versions").is_dir()
        ),
        None,
    )
    return folder, "alembic.ini" if location else None


def database_of(root: Path, reader: Reader, modules: list[Module]) -> AppDatabase | None:
    """The app's SQLAlchemy database, or None when it uses none that is recognised."""
    code = [m for m in modules if not m.is_test]
    layer = next(_calls(code, [_FLASK_SQLALCHEMY]), None)
    library: Literal["flask-sqlalchemy", "sqlalchemy"] = "flask-sqlalchemy"
    url_node: ast.expr | None = None
    url_module: Module | None = None
    key: str | None = FLASK_SQLALCHEMY_KEY
    if layer is None:
        layer = next(_calls(code, _ENGINES), None)
        if layer is None:
            return None
        library, key = "sqlalchemy", None
        module, call = layer
        url_node, url_module = (call.args[0] if call.args else keyword_of(call, "url")), module
        if isinstance(url_node, ast.Subscript) and text_of(url_node.slice):
            key = text_of(url_node.slice)  # create_engine(app.config["DATABASE_URL"])
            url_node = None
        elif isinstance(url_node, ast.Name):
            url_node = next(iter(_url_assignments(module, url_node.id)), url_node)
    if key is not None and url_node is None:
        url_module, url_node = next(
            ((m, value) for m in code for value in _url_assignments(m, key)), (None, None)
        )
    env, default_node = (None, url_node)
    if url_node is not None and url_module is not None:
        read = _env_read(url_node, url_module)
        if read is not None:
            env, default_node = read
    default, sqlite_file = _default(default_node)
    migrate = next(_calls(code, [_MIGRATE]), None)
    directory = text_of(keyword_of(migrate[1], "directory")) if migrate else None
    folder, ini = _migrations_folder(root, reader, directory)
    # The name the app's database object goes by (`db = SQLAlchemy(app)`): its models.
    db_names = {
        target.id
        for module in code
        for node in ast.walk(module.tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and qualified_name(node.value.func, module.imports) == _FLASK_SQLALCHEMY
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    created = _tables_created(root, reader, folder) if folder else []
    tables = created or _model_tables(code, db_names)
    return AppDatabase(
        library=library,
        config_key=key,
        env=env,
        default=default,
        sqlite_file=sqlite_file,
        migrate="flask-migrate" if migrate else "alembic" if folder else None,
        migrations=folder,
        alembic_ini=ini,
        tables=tuple(
            sorted({t.lower() for t in tables} | ({"alembic_version"} if folder else set()))
        ),
        evidence=layer[0].at(layer[1]),
        url_evidence=url_module.at(url_node) if url_module and url_node else None,
        migrate_evidence=migrate[0].at(migrate[1]) if migrate else None,
    )


__all__ = ["FLASK_SQLALCHEMY_KEY", "database_of"]
