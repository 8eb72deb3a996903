"""The Krita plug-in's standard-library modules, loaded by path for host-side tests.

Importing the plug-in package itself would import Krita, which only exists inside Krita.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "plugins/krita/iic_remove_object"


def load_plugin_module(name: str) -> ModuleType:
    """`plugins/krita/iic_remove_object/<name>.py` as a module of its own."""
    spec = importlib.util.spec_from_file_location(f"krita_plugin_{name}", PLUGIN_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module
