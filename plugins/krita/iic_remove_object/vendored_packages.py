"""The plug-in's own copies of iic_client, pyzmq and msgpack.

Krita's bundled Python (Windows, macOS, AppImage) has no pyzmq or msgpack, so
`iic-inpaint install-plugin krita` unzips wheels matching Krita's Python into `vendor/`
next to this file. This module only puts that folder on `sys.path` and, when an import
still fails, says exactly what to run.
"""

from __future__ import annotations

import sys
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent / "vendor"


def add_vendor_dir_to_path() -> None:
    vendor = str(VENDOR_DIR)
    if VENDOR_DIR.is_dir() and vendor not in sys.path:
        sys.path.insert(0, vendor)


def missing_packages_message(error: ImportError) -> str:
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (
        f"IIC Inpaint cannot load its network packages ({error}). In a terminal where IIC Inpaint "
        f"is installed, run:  iic-inpaint install-plugin krita --python-version {python_version}  "
        "then restart Krita."
    )
