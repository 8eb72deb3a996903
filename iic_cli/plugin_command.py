"""`iic-inpaint install-plugin krita|gimp`: install an editor plug-in for this user."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iic_cli.plugin_installer import EDITOR_PLUGINS, PluginInstallError, install_plugin


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "install-plugin",
        help="install the Krita or GIMP plug-in, with the packages the editor's Python lacks",
        description=(
            "Copy the plug-in into the editor's user plug-in folder and vendor iic_client, "
            "pyzmq and msgpack (wheels for the editor's Python) into it. Krita's plug-in is "
            "also enabled in kritarc; restart the editor afterwards. For Krita's "
            "Import Python Plugin from File, see `iic-inpaint build-plugin-zip`."
        ),
    )
    parser.add_argument("editor", choices=sorted(EDITOR_PLUGINS))
    parser.add_argument(
        "--dest",
        type=Path,
        default=None,
        help="plug-in folder to install into (default: the editor's user folder, e.g. "
        "~/.local/share/krita/pykrita or ~/.config/GIMP/3.0/plug-ins)",
    )
    parser.add_argument(
        "--python-version",
        default=None,
        metavar="X.Y",
        help="the editor's Python version (default: this Python's; Krita's AppImage and "
        "Windows builds use 3.10, Debian 13's Krita and GIMP 3.13)",
    )
    parser.add_argument(
        "--platform",
        dest="platform_tag",
        default=None,
        metavar="TAG",
        help="wheel platform tag of the editor's Python, e.g. manylinux_2_28_x86_64, "
        "win_amd64, macosx_11_0_arm64 (default: this machine's)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        installed = install_plugin(args.editor, args.dest, args.python_version, args.platform_tag)
    except PluginInstallError as error:
        print(f"iic-inpaint install-plugin: {error}", file=sys.stderr)
        return 1
    print(f"Installed the {args.editor} plug-in in {installed}. Restart {args.editor} to load it.")
    return 0
