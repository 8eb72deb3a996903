"""Where the daemon tells its clients how to reach it: endpoint, protocol version and secret.

The file lives in the user's runtime directory, computed with the standard library the way
platformdirs computes ``user_runtime_dir("iic-inpaint", appauthor=False)``, so an editor's Python
needs no platformdirs. It is written atomically with mode 0600 in a 0700 directory: the secret in
it is what keeps other users of the machine from running (or reading) anything.

Both sides distrust folders they did not make: the daemon refuses a folder another user owns or
can write to, and the client refuses a connection file (or folder) that is not the user's own
or that others can read, since another user could have planted it to receive the images.
"""

from __future__ import annotations

import contextlib
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


ROOT_UID = 0
# Group and other permission bits: none may be set on the connection file or its folder.
SHARED_BITS = 0o077
WRITABLE_BY_OTHERS = 0o022


class ConnectionFileError(ValueError):
    """The connection file is missing, unreadable or not one the daemon wrote."""


class UnsafeLocation(ConnectionFileError):
    """A folder or connection file another user owns or can read: never used."""


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
    shared_tmp = Path(tempfile.gettempdir()) / f"runtime-{uid}"
    if _is_ours_or_absent(shared_tmp, uid):
        return shared_tmp
    # Another user made <tmp>/runtime-<uid> (anyone may, in a shared /tmp): platformdirs would
    # use it anyway; we use a folder in the user's home instead, which nobody else can create.
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / f"{APP_NAME}-runtime-{uid}"


def _is_ours_or_absent(path: Path, uid: int) -> bool:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == uid


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
    """The daemon's connection info; `UnsafeLocation` when the file or its folder is not the
    user's own and private (it may be a trap set by another user)."""
    try:
        check_private_file(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        info = ConnectionInfo(
            endpoint=str(data["endpoint"]),
            secret=str(data["secret"]),
            protocol=int(data["protocol"]),
            signature_scheme=str(data["signature_scheme"]),
            pid=int(data["pid"]),
        )
        info.secret_bytes  # noqa: B018  (validates the hex)
    except (FileNotFoundError, UnsafeLocation):
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
    """Create `path` and any missing parents with mode 0700 (mkdir's `parents` would use 0777),
    or raise `UnsafeLocation` when `path` is another user's or sits in a folder others could
    swap it out of. A folder of ours with a looser mode is closed to 0700."""
    for directory in [*reversed(path.parents), path]:
        if not os.path.lexists(directory):
            # Not exist_ok: had another user made it in the meantime, the checks below see it.
            with contextlib.suppress(FileExistsError):
                directory.mkdir(mode=PRIVATE_DIR_MODE)
    if sys.platform == "win32":
        return
    uid = os.geteuid()
    for ancestor in reversed(path.parents):
        _check_trusted_ancestor(ancestor, uid)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
        raise UnsafeLocation(_not_yours_message(path, info, "folder"))
    if stat.S_IMODE(info.st_mode) != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)


def check_private_file(path: Path) -> None:
    """Raise `UnsafeLocation` unless `path` and its folder belong to this user and nobody else
    may read them; `FileNotFoundError` when there is no file."""
    if sys.platform == "win32":
        return
    uid = os.geteuid()
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != uid:
        raise UnsafeLocation(_not_yours_message(path, info, "connection file"))
    folder = os.stat(path.parent)
    if folder.st_uid != uid:
        raise UnsafeLocation(_not_yours_message(path.parent, folder, "folder"))
    for what, where, mode in (
        ("file", path, info.st_mode),
        ("folder", path.parent, folder.st_mode),
    ):
        if stat.S_IMODE(mode) & SHARED_BITS:
            raise UnsafeLocation(
                f"Other users can open the daemon's connection {what} {where} (mode "
                f"{stat.S_IMODE(mode):o}), so it may not be the one your daemon wrote; the plug-in "
                f"will not send your image there. Delete {path} and start the daemon again with "
                "`iic-inpaint serve`."
            )


def _check_trusted_ancestor(directory: Path, uid: int) -> None:
    """An ancestor must be ours or root's, and one that others may write to must be sticky (like
    /tmp), or they could rename our folder away and put theirs in its place. Our own folders
    may be group-writable: with per-user groups (umask 002) the group is us."""
    for info in (os.lstat(directory), os.stat(directory)):
        if info.st_uid not in (uid, ROOT_UID):
            raise UnsafeLocation(_not_yours_message(directory, info, "folder"))
    mode = info.st_mode
    writers = stat.S_IWOTH if info.st_uid == uid else WRITABLE_BY_OTHERS
    if mode & writers and not mode & stat.S_ISVTX:
        raise UnsafeLocation(
            f"Other users may write to {directory} (mode {stat.S_IMODE(mode):o}), so they could "
            "replace the daemon's folder inside it. Start the daemon with --connection-file in a "
            "folder of your own."
        )


def _not_yours_message(path: Path, info: os.stat_result, what: str) -> str:
    return (
        f"The {what} {path} belongs to {_user_name(info.st_uid)}, not to you: another user may "
        "have put it there to receive your images, so IIC Inpaint will not use it. Remove it "
        "(its owner or an administrator can), or start the daemon with --connection-file in a "
        "folder of your own."
    )


def _user_name(uid: int) -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


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
