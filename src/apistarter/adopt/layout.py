"""Where an adopted app's pieces live in the service, and the settings that carry them."""

# Where the app's code lives in the service, at the project root.
LEGACY_DIR = "legacy"

# Mounted at the root, existing clients keep their URLs: FastAPI's routes are matched
# first, everything else reaches Flask, so a route moves by being written in FastAPI.
ADOPTED_PREFIX = ""

# The service setting that becomes the app's SECRET_KEY.
SECRET_KEY_SETTING = "APP_SECRET_KEY"  # noqa: S105 - a variable name, not its value

# Where the image keeps the app's instance folder: writable by the service's user, a
# volume in the deploy artefacts.
INSTANCE_PATH = "/app/instance"

# The service setting holding the app's database URL when the app reads it from no
# variable of its own.
LEGACY_DATABASE_SETTING = "APP_LEGACY_DATABASE_URL"

# The instance folder's volume when it holds the app's SQLite files (a claim's request).
INSTANCE_VOLUME_SIZE = "1Gi"
