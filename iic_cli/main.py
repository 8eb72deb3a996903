"""Entry point of the `iic-inpaint` console script.

Each sub-command lives in its own module exposing ``register(subparsers)``; the module sets
``func`` on its parser. Modules are imported lazily by name, and a command imports only its
own module, so that ``iic-inpaint --help`` and the daemon client commands start without
importing torch, and the training and evaluation commands run where the daemon's pyzmq and
platformdirs are not installed (the GPU machine's image: docs/training.md).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Sub-commands and their modules, in the order `--help` lists them.
COMMAND_MODULES: dict[str, str] = {
    "remove": "iic_cli.remove_command",
    "serve": "iic_cli.serve_command",
    "install-plugin": "iic_cli.plugin_command",
    "build-plugin-zip": "iic_cli.plugin_zip_command",
    "train": "iic_cli.train_command",
    "eval": "iic_cli.eval_command",
    "show-samples": "iic_cli.show_samples_command",
    "pack-data": "iic_cli.pack_data_command",
    "export-weights": "iic_cli.export_weights_command",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of one known command, or of all (for `--help` and unknown commands)."""
    parser = argparse.ArgumentParser(
        prog="iic-inpaint",
        description="Object removal: iterative confidence-feedback inpainting with guided upsampling.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = [command] if command in COMMAND_MODULES else list(COMMAND_MODULES)
    for name in names:
        importlib.import_module(COMMAND_MODULES[name]).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments[0] if arguments else None)
    args = parser.parse_args(arguments)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
