"""Where the daemon tells its clients how to reach it: endpoint, protocol version and secret.

The file lives in the user's runtime directory, computed with the standard library the way
platformdirs computes ``user_runtime_dir("iic-inpaint", appauthor=False)``, so an editor's Python
needs no platformdirs. It is written atomically with mode 0600 in a 0700 directory: the secret in
it is what keeps other users of the machine from running (or reading) anything.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

APP_NAME = "iic-inpaint"
FILE_NAME = "daemon.json"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class ConnectionFileError(ValueError):
    """The connection file is missing, unreadable or not one the daemon wrote."""


@dataclass(frozen=True)
class ConnectionInfo:
    endpoint: str  # e.g. "tcp://127.0.0.1:53711"
    secret: str  # hex; the HMAC-SHA256 key is bytes.fromhex(secret)
    protocol: int
    signature_scheme: str
    pid: int

    @property
    def secret_bytes(self) -> bytes:
        return bytes.fromhex(self.secret)


def default_connection_file() -> Path:
    return user_runtime_dir() / FILE_NAME


def user_runtime_dir() -> Path:
    """The platformdirs-equivalent per-user runtime directory for this application."""
    if sys.platform == "win32":
        local_app_data = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(local_app_data) / "Temp" / APP_NAME
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "TemporaryItems" / APP_NAME
    return _xdg_runtime_base() / APP_NAME


def _xdg_runtime_base() -> Path:
    # platformdirs accepts $XDG_RUNTIME_DIR, then /run/user/<uid>, only when owned by the user
    # with mode 0700 (the XDG spec's requirement); otherwise it falls back to <tmp>/runtime-<uid>.
    uid = os.geteuid()
    for candidate in (os.environ.get("XDG_RUNTIME_DIR", "").strip(), f"/run/user/{uid}"):
        if candidate and _is_private_dir(Path(candidate), uid):
            return Path(candidate)
    return Path(tempfile.gettempdir()) / f"runtime-{uid}"


def _is_private_dir(path: Path, uid: int) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == uid
        and stat.S_IMODE(info.st_mode) == PRIVATE_DIR_MODE
    )


def read_connection_file(path: Path) -> ConnectionInfo:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        info = ConnectionInfo(
            endpoint=str(data["endpoint"]),
            secret=str(data["secret"]),
            protocol=int(data["protocol"]),
            signature_scheme=str(data["signature_scheme"]),
            pid=int(data["pid"]),
        )
        info.secret_bytes  # noqa: B018  (validates the hex)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConnectionFileError(f"{path} is not a daemon connection file ({error}).") from None
    return info


def write_connection_file(path: Path, info: ConnectionInfo) -> None:
    """Atomically replace `path`; the file is created 0600 so the secret is never world-readable."""
    make_private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump(asdict(info), stream, indent=2)
        os.chmod(temporary, PRIVATE_FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def make_private_dir(path: Path) -> None:
    """Create `path` and any missing parents with mode 0700 (mkdir's `parents` would use 0777)."""
    for directory in [*reversed(path.parents), path]:
        if not directory.exists():
            directory.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    if sys.platform != "win32" and stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)


def process_is_alive(pid: int) -> bool:
    """False only when we know `pid` is gone (POSIX); True when we cannot tell (Windows)."""
    if sys.platform == "win32":
        return True  # os.kill there would terminate the process instead of probing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
