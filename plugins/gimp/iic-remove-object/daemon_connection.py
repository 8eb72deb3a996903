"""Reaching the IIC Inpaint daemon from GIMP's Python: vendored modules, settings, autostart.

Standard library only until `iic_client` is imported. GIMP's bundled Python has no pyzmq or
msgpack, so `iic-inpaint install-plugin gimp` copies them, with `iic_client`, into this
folder's `vendor/`; `VENDOR_DIR` goes first on `sys.path` before anything imports them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

PLUGIN_DIR = Path(__file__).resolve().parent
VENDOR_DIR = PLUGIN_DIR / "vendor"
# Optional, written by `install-plugin gimp` or by hand:
# {"iic_inpaint_path": "/home/me/iic/.venv/bin/iic-inpaint", "connection_file": "..."}
SETTINGS_FILE = PLUGIN_DIR / "settings.json"
CONNECTION_FILE_ENV = "IIC_INPAINT_CONNECTION_FILE"
# Loading the model on a CPU takes a few seconds; on a busy machine, tens.
DEFAULT_START_TIMEOUT_S = 60.0
CONNECT_RETRY_S = 0.5


class DaemonUnavailable(RuntimeError):
    """The daemon cannot be reached from this plug-in; the message says what to run."""


@dataclass(frozen=True)
class DaemonSettings:
    connection_file: str | None = None
    iic_inpaint_path: str | None = None  # when set, `iic_inpaint_path serve` starts the daemon
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S

    @property
    def start_command(self) -> tuple[str, ...]:
        return (self.iic_inpaint_path, "serve") if self.iic_inpaint_path else ()


def put_vendor_first() -> None:
    vendor = str(VENDOR_DIR)
    if vendor not in sys.path:
        sys.path.insert(0, vendor)


def import_client() -> ModuleType:
    """`iic_client`, or `DaemonUnavailable` saying exactly how to install what is missing."""
    put_vendor_first()
    try:
        import iic_client
    except ImportError as error:
        raise DaemonUnavailable(missing_modules_message(error.name or str(error))) from None
    return iic_client


def missing_modules_message(missing: str) -> str:
    python = ".".join(str(part) for part in sys.version_info[:2])
    return (
        f"Remove Object cannot reach the IIC Inpaint daemon: the Python module “{missing}” is "
        f"missing from GIMP's Python {python}. In a terminal where IIC Inpaint is installed, run\n"
        f'    iic-inpaint install-plugin gimp --dest "{PLUGIN_DIR.parent}" '
        f"--python-version {python}\n"
        f"which puts iic_client, pyzmq and msgpack built for Python {python} into\n"
        f"    {VENDOR_DIR}\n"
        "then restart GIMP."
    )


def load_settings(path: Path = SETTINGS_FILE) -> DaemonSettings:
    """Settings from `settings.json` (if any), with $IIC_INPAINT_CONNECTION_FILE on top."""
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DaemonUnavailable(
                f"{path} is not valid JSON ({error}). Fix or delete it."
            ) from None
    connection_file = os.environ.get(CONNECTION_FILE_ENV) or data.get("connection_file")
    program = data.get("iic_inpaint_path")
    return DaemonSettings(
        connection_file=str(connection_file) if connection_file else None,
        iic_inpaint_path=str(Path(program).expanduser()) if program else None,
        start_timeout_s=float(data.get("start_timeout_s", DEFAULT_START_TIMEOUT_S)),
    )


def connect(client: ModuleType, settings: DaemonSettings) -> Any:
    """A connected `DaemonClient`, starting the daemon first when the settings say how."""
    try:
        return client.DaemonClient.connect(settings.connection_file)
    except client.DaemonNotRunning as error:
        if not settings.iic_inpaint_path:
            raise DaemonUnavailable(str(error)) from None
        if not Path(settings.iic_inpaint_path).is_file():
            # e.g. a sandboxed GIMP (Flatpak) that cannot see the host's files
            raise DaemonUnavailable(
                f"{error} ({SETTINGS_FILE} names {settings.iic_inpaint_path} to start it, "
                "but GIMP cannot see that program.)"
            ) from None
    start_daemon(client, settings.start_command)
    deadline = time.monotonic() + settings.start_timeout_s
    while True:
        try:
            return client.DaemonClient.connect(settings.connection_file)
        except client.DaemonNotRunning as error:
            if time.monotonic() > deadline:
                raise DaemonUnavailable(
                    f"Started the IIC Inpaint daemon with {' '.join(settings.start_command)!r}, "
                    f"but it did not answer within {settings.start_timeout_s:.0f} s: {error}"
                ) from None
            time.sleep(CONNECT_RETRY_S)


def start_daemon(client: ModuleType, command: tuple[str, ...]) -> None:
    """Start the daemon detached: it must outlive this process and GIMP's plug-in process,
    which GIMP kills when the person cancels the progress bar."""
    try:
        client.start_detached_daemon(command)
    except OSError as error:
        raise DaemonUnavailable(
            f"Could not start the IIC Inpaint daemon with {' '.join(command)!r} ({error}). "
            f'Fix "iic_inpaint_path" in {SETTINGS_FILE}, or start it yourself: iic-inpaint serve'
        ) from None
