"""Entry point of the `iic-inpaint` console script.

Each sub-command lives in its own module exposing ``register(subparsers)``; the module sets
``func`` on its parser. Modules are imported lazily by name so that ``iic-inpaint --help``
and the daemon client commands start without importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Sub-command modules, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "iic_cli.remove_command",
    "iic_cli.serve_command",
    "iic_cli.plugin_command",
    "iic_cli.plugin_zip_command",
    "iic_cli.train_command",
    "iic_cli.eval_command",
    "iic_cli.show_samples_command",
    "iic_cli.pack_data_command",
    "iic_cli.export_weights_command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iic-inpaint",
        description="Object removal: iterative confidence-feedback inpainting with guided upsampling.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
