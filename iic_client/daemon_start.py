"""Start the daemon detached from the editor, the same way for every plug-in.

The daemon must outlive the process that starts it (GIMP kills a plug-in's process when the
person cancels its progress bar; Krita may quit while the daemon serves other sessions), must
never hold the editor's console, and must not inherit the editor's own Python settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

# Windows process-creation flags: its own process group, so Ctrl+C in the editor's console
# does not reach it, and no console window.
_CREATE_NEW_PROCESS_GROUP = 0x00000200
_CREATE_NO_WINDOW = 0x08000000


def start_detached_daemon(command: Sequence[str]) -> subprocess.Popen[bytes]:
    """Run `command` (e.g. [".../iic-inpaint", "serve"]) detached; OSError when it cannot
    start (the caller says which setting to fix)."""
    return subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=daemon_environment(),
        **_detached(),
    )


def daemon_environment() -> dict[str, str]:
    """The editor's environment without its Python settings, which would point the daemon's
    interpreter at the editor's bundled libraries."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _detached() -> dict[str, Any]:
    if sys.platform == "win32":
        return {"creationflags": _CREATE_NEW_PROCESS_GROUP | _CREATE_NO_WINDOW}
    return {"start_new_session": True}
