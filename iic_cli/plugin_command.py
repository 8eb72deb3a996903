"""`iic-inpaint install-plugin krita|gimp`: install an editor plug-in for this user."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iic_cli.plugin_installer import EDITOR_PLUGINS, PluginInstallError, install_plugin
from iic_cli.plugin_zip import KRITA_RELEASE_TARGETS, WheelTarget, build_plugin_zip


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "install-plugin",
        help="install the Krita or GIMP plug-in, with the packages the editor's Python lacks",
        description=(
            "Copy the plug-in into the editor's user plug-in folder and vendor iic_client, "
            "pyzmq and msgpack (wheels for the editor's Python) into it. Krita's plug-in is "
            "also enabled in kritarc; restart the editor afterwards."
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
    parser.add_argument(
        "--zip",
        type=Path,
        default=None,
        metavar="FILE",
        help="instead of installing, write a release zip (Krita: Tools ▸ Scripts ▸ Import "
        "Python Plugin from File) carrying wheels for every --target",
    )
    parser.add_argument(
        "--target",
        dest="targets",
        action="append",
        type=_wheel_target,
        metavar="X.Y:TAG",
        help="with --zip: an editor Python to carry wheels for, e.g. 3.10:win_amd64 "
        "(repeatable; default: Krita 5.2's official Windows, macOS and AppImage builds)",
    )
    parser.set_defaults(func=run)


def _wheel_target(text: str) -> WheelTarget:
    python_version, _, platform_tag = text.partition(":")
    if not python_version or not platform_tag:
        raise argparse.ArgumentTypeError(f"{text!r} is not X.Y:PLATFORM_TAG, e.g. 3.10:win_amd64")
    return WheelTarget(python_version, platform_tag)


def run(args: argparse.Namespace) -> int:
    try:
        if args.zip is not None:
            targets = args.targets or KRITA_RELEASE_TARGETS
            written = build_plugin_zip(args.editor, args.zip, targets)
            print(f"Wrote {written} for {', '.join(t.vendor_key for t in targets)}.")
            return 0
        installed = install_plugin(args.editor, args.dest, args.python_version, args.platform_tag)
    except PluginInstallError as error:
        print(f"iic-inpaint install-plugin: {error}", file=sys.stderr)
        return 1
    print(f"Installed the {args.editor} plug-in in {installed}. Restart {args.editor} to load it.")
    return 0
