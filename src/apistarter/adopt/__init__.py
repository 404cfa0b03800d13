"""Adopting an existing Flask app into a hybrid service (`apistarter new --legacy PATH`).

layout: where its pieces live in the service; app: what the app brings and the
template's ``legacy`` answer; database: its database and migration step;
dependencies: its requirements resolved with the service's; deploy: the deploy
plan's additions for it.
"""

from apistarter.adopt.app import Adoption, adoption
from apistarter.adopt.database import legacy_migration
from apistarter.adopt.dependencies import check_dependencies, conflict
from apistarter.adopt.deploy import adopted_deploy
from apistarter.legacy_source import AdoptError

__all__ = [
    "AdoptError",
    "Adoption",
    "adopted_deploy",
    "adoption",
    "check_dependencies",
    "conflict",
    "legacy_migration",
]
