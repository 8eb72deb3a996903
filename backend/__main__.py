"""`python -m backend [options]`: the same as `iic-inpaint serve`."""

from __future__ import annotations

import argparse
import sys

from backend.daemon_config import add_serve_arguments, config_from_args


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend", description="Run the IIC Inpaint daemon for editor plugins."
    )
    add_serve_arguments(parser)
    from backend.serve import serve

    return serve(config_from_args(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
