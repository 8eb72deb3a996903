"""`iic-inpaint serve`: run the daemon that Krita, GIMP and `remove --daemon` talk to."""

from __future__ import annotations

import argparse
from typing import Any

from backend.daemon_config import add_serve_arguments, config_from_args


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the daemon editors talk to (model loaded once, kept warm)",
        description="Run the IIC Inpaint daemon: editors and `remove --daemon` connect to it "
        "through the connection file it writes in your runtime directory.",
    )
    add_serve_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from backend.serve import serve  # loads torch: only when actually serving

    return serve(config_from_args(args))
