"""Build hook: ship the template's versioned git bundle inside the wheel.

See src/apistarter/template_source.py for why the bundle exists.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).parent


def _template_source() -> Any:
    # Loaded by path: the package is being built, so it cannot be imported yet.
    spec = importlib.util.spec_from_file_location(
        "_apistarter_template_source", ROOT / "src" / "apistarter" / "template_source.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class TemplateBundleHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return  # an editable install builds the bundle from the checkout on demand
        source = _template_source()
        bundle = Path(tempfile.mkdtemp(prefix="apistarter-wheel-")) / source.BUNDLE_NAME
        source.build_bundle(ROOT / "templates", self.metadata.version, bundle, ROOT)
        build_data["force_include"][str(bundle)] = f"apistarter/{source.BUNDLE_NAME}"
