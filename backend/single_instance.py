"""One daemon per connection file: a lock held for the daemon's life, and stale files replaced.

The lock is an OS file lock next to the connection file, so it disappears with the process even
when the process is killed; a connection file without a held lock is stale by definition.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from iic_client.connection_file import (
    PRIVATE_FILE_MODE,
    ConnectionFileError,
    ConnectionInfo,
    make_private_dir,
    read_connection_file,
)


class AlreadyRunning(RuntimeError):
    """Another daemon holds the lock for this connection file."""


class DaemonLock:
    """Exclusive, non-blocking lock on `<connection file>.lock`, released by `release` or exit."""

    def __init__(self, connection_file: Path) -> None:
        self.connection_file = connection_file
        self.path = connection_file.with_name(connection_file.name + ".lock")
        self._stream: IO[bytes] | None = None

    def acquire(self) -> None:
        make_private_dir(self.path.parent)
        # O_NOFOLLOW: never lock (or create) a file a link planted in the folder points to.
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(self.path, flags, PRIVATE_FILE_MODE)
        stream = os.fdopen(descriptor, "r+b")  # held open for the daemon's life
        if not _try_lock(stream):
            stream.close()
            raise AlreadyRunning(self._already_running_message())
        self._stream = stream

    def release(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def stale_connection_info(self) -> ConnectionInfo | None:
        """The connection file left by a dead daemon, if any (call while holding the lock)."""
        try:
            return read_connection_file(self.connection_file)
        except (FileNotFoundError, ConnectionFileError):
            return None

    def _already_running_message(self) -> str:
        try:
            info = read_connection_file(self.connection_file)
            where = f" (process {info.pid}, {info.endpoint})"
        except (FileNotFoundError, ConnectionFileError):
            where = ""
        return (
            f"An IIC Inpaint daemon is already running{where}. Editors and "
            "`iic-inpaint remove --daemon` can use it as it is; stop it first to start another."
        )


def _try_lock(stream: IO[bytes]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            stream.seek(0)
            msvcrt.locking(stream.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
