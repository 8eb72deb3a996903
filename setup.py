"""One build step pyproject.toml cannot express: the editor plug-ins go into the wheel.

They stay in plugins/ in the source tree (where the editors' tests and their authors find
them) and are copied into the built package as iic_cli/editor_plugins/, where
`iic-inpaint install-plugin` and `build-plugin-zip` find them without a source checkout
(iic_cli/plugin_installer.py, PACKAGED_PLUGINS_DIR). Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PLUGINS_SOURCE = Path(__file__).resolve().parent / "plugins"
PLUGINS_IN_PACKAGE = ("iic_cli", "editor_plugins")
# vendor/ is what the installer writes into an installed plug-in, never part of its source.
NOT_SHIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "vendor")


class BuildPyWithPlugins(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads plugins/ from the checkout
            return
        target = Path(self.build_lib, *PLUGINS_IN_PACKAGE)
        if target.exists():  # a stale copy in a reused build/ folder
            shutil.rmtree(target)
        shutil.copytree(PLUGINS_SOURCE, target, ignore=NOT_SHIPPED)


setup(cmdclass={"build_py": BuildPyWithPlugins})
