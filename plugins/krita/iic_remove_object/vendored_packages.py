"""The plug-in's own copies of iic_client, pyzmq and msgpack.

Krita's bundled Python (Windows, macOS, AppImage) has no pyzmq or msgpack.
`iic-inpaint install-plugin krita` unzips wheels matching this Krita's Python straight into
`vendor/` next to this file; a release zip, made for several platforms at once, keeps each
platform's set in `vendor/<vendor_key()>/`. This module puts the right folder on `sys.path`
and, when an import still fails, says exactly what to run.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent / "vendor"
# platform.machine() spellings -> the names wheel platform tags use.
_MACHINE_NAMES = {"amd64": "x86_64", "aarch64": "arm64", "x86": "x86", "i686": "x86"}


def vendor_key() -> str:
    """This Python's folder in a release zip's vendor/, e.g. "win32-x86_64-py310".

    iic_cli.plugin_zip names the folders the same way from wheel platform tags."""
    machine = platform.machine().lower()
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    return f"{sys.platform}-{_MACHINE_NAMES.get(machine, machine)}-{version}"


def add_vendor_dir_to_path() -> None:
    for folder in (VENDOR_DIR, VENDOR_DIR / vendor_key()):  # the platform's own set wins
        if folder.is_dir() and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def missing_packages_message(error: ImportError) -> str:
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (
        f"IIC Inpaint cannot load its network packages ({error}). In a terminal where IIC Inpaint "
        f"is installed, run:  iic-inpaint install-plugin krita --python-version {python_version}  "
        "then restart Krita."
    )
