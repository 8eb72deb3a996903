"""Starting `iic-inpaint serve` for the user when they told the plug-in where it is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class LaunchFailed(Exception):
    """The configured program could not be started; the message says what to fix."""


# Windows process-creation flags (not defined by `subprocess` elsewhere): its own process
# group, so Ctrl+C in Krita's console does not reach it, and no console window.
_CREATE_NEW_PROCESS_GROUP = 0x00000200
_CREATE_NO_WINDOW = 0x08000000


def launch_daemon(iic_inpaint_path: str) -> subprocess.Popen[bytes]:
    """Start `IIC_INPAINT serve` detached from Krita: it outlives Krita and never blocks it."""
    program = Path(iic_inpaint_path).expanduser()
    if not program.is_file():
        raise LaunchFailed(
            f"The iic-inpaint program set in the Remove object docker does not exist: {program}. "
            "Set the full path of iic-inpaint there, or start `iic-inpaint serve` yourself."
        )
    windows = sys.platform == "win32"
    try:
        return subprocess.Popen(
            [str(program), "serve"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_daemon_environment(),
            start_new_session=not windows,
            creationflags=_CREATE_NEW_PROCESS_GROUP | _CREATE_NO_WINDOW if windows else 0,
        )
    except OSError as error:
        raise LaunchFailed(f"Could not start {program} serve: {error}.") from None


def _daemon_environment() -> dict[str, str]:
    # Krita's own Python settings must not leak into the daemon's interpreter.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
