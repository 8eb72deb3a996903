"""The daemon's log: a rotating file in the user's log directory, and stderr."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

import platformdirs

LOG_FILE_NAME = "daemon.log"
LOG_FILE_BYTES = 2 * 1024 * 1024
LOG_FILE_BACKUPS = 3
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def configure_logging(log_dir: Path | None) -> Path:
    """Send the `backend` and `iic_engine` loggers to the rotating file; returns its path."""
    directory = log_dir or Path(platformdirs.user_log_dir("iic-inpaint", appauthor=False))
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / LOG_FILE_NAME
    file_handler = logging.handlers.RotatingFileHandler(
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
