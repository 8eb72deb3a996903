"""The daemon's settings: one typed config, filled from `iic-inpaint serve` / `python -m backend`.

Imports nothing heavy, so `iic-inpaint --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iic_client import protocol
from iic_client.connection_file import default_connection_file

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class DaemonConfig:
    device: str = "auto"
    weights: Path | None = None
    connection_file: Path = field(default_factory=default_connection_file)
    log_dir: Path | None = None  # None: the platformdirs user log directory
    max_queue: int = 32
    max_pixels: int = protocol.DEFAULT_MAX_PIXELS
    max_message_bytes: int = protocol.DEFAULT_MAX_MESSAGE_BYTES
    # The daemon sends heartbeats this often to clients with jobs; clients give up after a few.
    heartbeat_interval_s: float = 1.0
    # Jobs of a client not heard from for this long are dropped (a client pings every second).
    client_timeout_s: float = 30.0
    # Fields of iic_engine.EngineLimits (e.g. {"max_working_side": 64} for fast tests).
    engine_limits: dict[str, Any] = field(default_factory=dict)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = DaemonConfig()
    parser.add_argument("--device", choices=DEVICES, default=defaults.device)
    parser.add_argument("--weights", type=Path, help="weights file (default: the shipped one)")
    parser.add_argument(
        "--connection-file",
        type=Path,
        default=defaults.connection_file,
        help=f"where clients find the daemon (default: {defaults.connection_file})",
    )
    parser.add_argument("--log-dir", type=Path, help="default: the user log directory")
    parser.add_argument(
        "--max-queue", type=int, default=defaults.max_queue, help="waiting jobs before 'busy'"
    )
    parser.add_argument(
        "--max-pixels", type=int, default=defaults.max_pixels, help="largest image, in pixels"
    )
    parser.add_argument(
        "--max-message-mb",
        type=float,
        default=defaults.max_message_bytes / 1e6,
        help="largest message, in MB",
    )
    parser.add_argument(
        "--client-timeout",
        type=float,
        default=defaults.client_timeout_s,
        help="seconds of silence after which a client's jobs are dropped",
    )
    parser.add_argument(
        "--engine-limits",
        type=json.loads,
        default={},
        help="JSON object of iic_engine.EngineLimits fields, e.g. '{\"max_working_side\": 256}'",
    )


def config_from_args(args: argparse.Namespace) -> DaemonConfig:
    return DaemonConfig(
        device=args.device,
        weights=args.weights,
        connection_file=args.connection_file,
        log_dir=args.log_dir,
        max_queue=args.max_queue,
        max_pixels=args.max_pixels,
        max_message_bytes=int(args.max_message_mb * 1e6),
        client_timeout_s=args.client_timeout,
        engine_limits=dict(args.engine_limits),
    )
