"""apistarter: decide between FastAPI, Flask and a hybrid, then render the service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("apistarter")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0"
