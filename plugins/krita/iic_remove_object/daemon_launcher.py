"""Starting `iic-inpaint serve` for the user when they told the plug-in where it is."""

from __future__ import annotations

import subprocess
from pathlib import Path

from iic_client import start_detached_daemon


class LaunchFailed(Exception):
    """The configured program could not be started; the message says what to fix."""


def launch_daemon(iic_inpaint_path: str) -> subprocess.Popen[bytes]:
    """Start `IIC_INPAINT serve` detached from Krita: it outlives Krita and never blocks it."""
    program = Path(iic_inpaint_path).expanduser()
    if not program.is_file():
        raise LaunchFailed(
            f"The iic-inpaint program set in the Remove object docker does not exist: {program}. "
            "Set the full path of iic-inpaint there, or start `iic-inpaint serve` yourself."
        )
    try:
        return start_detached_daemon([str(program), "serve"])
    except OSError as error:
        raise LaunchFailed(f"Could not start {program} serve: {error}.") from None
