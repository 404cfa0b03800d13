"""Rendering services with Copier: the only package that talks to Copier.

Each module is one step: where the template comes from (source), what it places
(data), putting a new project in place safely (place, new), its lock file (lock),
what a service recorded (recorded) and updating it (update).
"""

from apistarter.render.data import template_data
from apistarter.render.errors import RenderError, RestoredError
from apistarter.render.new import NewResult, new_project
from apistarter.render.place import STAGING_MARKER, check_destination
from apistarter.render.recorded import (
    ANSWERS_FILE,
    check_recorded_version,
    latest_version,
    recorded_answers,
    recorded_version,
)
from apistarter.render.source import (
    available_frameworks,
    check_template_source,
    ensure_template_source,
    template_version_ref,
    templates_dir,
)
from apistarter.render.update import UpdateResult, update_project

__all__ = [
    "ANSWERS_FILE",
    "STAGING_MARKER",
    "NewResult",
    "RenderError",
    "RestoredError",
    "UpdateResult",
    "available_frameworks",
    "check_destination",
    "check_recorded_version",
    "check_template_source",
    "ensure_template_source",
    "latest_version",
    "new_project",
    "recorded_answers",
    "recorded_version",
    "template_data",
    "template_version_ref",
    "templates_dir",
    "update_project",
]
