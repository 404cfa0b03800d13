"""The deploy plan of a service that adopted an app: its secret, its instance folder's volume."""

from __future__ import annotations

from typing import Any

from apistarter.adopt.database import legacy_migration
from apistarter.adopt.layout import INSTANCE_PATH, INSTANCE_VOLUME_SIZE, SECRET_KEY_SETTING
from apistarter.database import migrate_command
from apistarter.deploy import MigrationDeploy


def adopted_deploy(plan: dict[str, Any], legacy: dict[str, Any], package: str) -> dict[str, Any]:
    """The deploy plan's data with what an adopted app adds: its secret, its instance
    folder, its database's URL and the step that migrates it.

    ``legacy`` is the template's ``legacy`` answer (at `new`, or as an update reads it
    back from the service's answers); ``package`` is the service's import name. An
    instance folder holding the app's SQLite files is a volume that outlives the
    container (a PersistentVolumeClaim, a named Compose volume, a systemd
    StateDirectory), written by one pod: SQLite is one file with local locks, so one
    replica, replaced rather than rolled. Without a database the folder is scratch space
    like the service's other writable paths.
    """
    database = legacy.get("database") or {}
    secrets = [
        *plan["secrets"],
        *([SECRET_KEY_SETTING] if legacy.get("secret_key") else []),
        *([database["setting"]] if database else []),
    ]
    plan = {**plan, "secrets": secrets}
    # A server's URL has no default the service could use: it cannot start without it.
    if database and not database["sqlite"]:
        plan["required_secrets"] = [*plan["required_secrets"], database["setting"]]
    if legacy_migration(legacy):
        # One step migrates everything the service owns: its own tables first (when it
        # has them), then the app's database (legacy/migrate.py).
        own = plan.get("migration") or {}
        plan["migration"] = MigrationDeploy(
            command=migrate_command(package),
            # Every secret either side may need (the app's SECRET_KEY, its URL, the service's).
            secrets=tuple(dict.fromkeys([*own.get("secrets", ()), *secrets])),
            state_volume=bool(database.get("sqlite") or legacy.get("databases")),
            postgres_image=own.get("postgres_image"),
        ).model_dump(mode="json")
    if legacy.get("databases") or database.get("sqlite"):
        volume = {"path": INSTANCE_PATH, "size": INSTANCE_VOLUME_SIZE}
        return {**plan, "instance_volume": volume, "min_replicas": 1, "max_replicas": 1}
    paths = [*plan["writable_paths"], *([INSTANCE_PATH] if legacy.get("instance") else [])]
    return {**plan, "writable_paths": paths}
