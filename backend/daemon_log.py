"""The daemon's log: a rotating file in the user's log directory, and stderr.

The log names clients, jobs and image sizes, so the file is 0600 (every rotation too) in a
folder of the user's own with mode 0700.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
from pathlib import Path

import platformdirs

from iic_client.connection_file import PRIVATE_FILE_MODE, make_private_dir

LOG_FILE_NAME = "daemon.log"
LOG_FILE_BYTES = 2 * 1024 * 1024
LOG_FILE_BACKUPS = 3
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def configure_logging(log_dir: Path | None) -> Path:
    """Send the `backend` and `iic_engine` loggers to the rotating file; returns its path."""
    directory = log_dir or Path(platformdirs.user_log_dir("iic-inpaint", appauthor=False))
    make_private_dir(directory)
    log_path = directory / LOG_FILE_NAME
    file_handler = PrivateRotatingFileHandler(
        log_path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
    )
    stderr_handler = logging.StreamHandler()
    formatter = logging.Formatter(LOG_FORMAT)
    for handler in (file_handler, stderr_handler):
        handler.setFormatter(formatter)
    for name in ("backend", "iic_engine"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(file_handler)
        logger.addHandler(stderr_handler)
    return log_path


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Opens each log file (the first and every one after a rotation) with mode 0600."""

    def _open(self) -> io.TextIOWrapper:
        descriptor = os.open(
            self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE
        )
        os.chmod(self.baseFilename, PRIVATE_FILE_MODE)  # a file from an older release
        return open(descriptor, "a", encoding=self.encoding, errors=self.errors)  # noqa: SIM115
