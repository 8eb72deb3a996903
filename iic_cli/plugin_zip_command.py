"""`iic-inpaint build-plugin-zip krita`: the release zip for Krita's "Import Python Plugin
from File…", carrying pyzmq and msgpack for several editor Pythons."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iic_cli.plugin_installer import PluginInstallError
from iic_cli.plugin_zip import (
    KRITA_RELEASE_TARGETS,
    ZIP_EDITORS,
    PluginZip,
    UnavailableWheels,
    WheelTarget,
    build_plugin_zip,
    default_zip_name,
)

# pip's account of a failed download can run to pages; its last lines say why.
_PIP_LINES = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build-plugin-zip",
        help="write the Krita plug-in's release zip (Tools ▸ Scripts ▸ Import Python Plugin "
        "from File)",
        description=(
            "Write a zip holding the plug-in and, for every --target, its own copy of "
            "iic_client, pyzmq and msgpack (wheels fetched once, here, by pip). A target pip "
            "cannot get wheels for is left out and reported: there the plug-in's Remove object "
            "button shows the install-plugin command to run instead."
        ),
    )
    parser.add_argument("editor", choices=ZIP_EDITORS)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="the zip to write (default: ./iic_remove_object-VERSION.zip)",
    )
    parser.add_argument(
        "--target",
        dest="targets",
        action="append",
        type=_wheel_target,
        metavar="X.Y:TAG",
        help="an editor Python to carry wheels for, e.g. 3.10:win_amd64 (repeatable; "
        "default: Krita 5.2's official Windows, macOS and AppImage builds, "
        + ", ".join(f"{t.python_version}:{t.platform_tag}" for t in KRITA_RELEASE_TARGETS)
        + ")",
    )
    parser.set_defaults(func=run)


def _wheel_target(text: str) -> WheelTarget:
    python_version, _, platform_tag = text.partition(":")
    if not python_version or not platform_tag:
        raise argparse.ArgumentTypeError(f"{text!r} is not X.Y:PLATFORM_TAG, e.g. 3.10:win_amd64")
    return WheelTarget(python_version, platform_tag)


def run(args: argparse.Namespace) -> int:
    targets = args.targets or KRITA_RELEASE_TARGETS
    out = args.out if args.out is not None else Path(default_zip_name(args.editor))
    try:
        written = build_plugin_zip(args.editor, out, targets)
    except PluginInstallError as error:
        print(f"iic-inpaint build-plugin-zip: {error}", file=sys.stderr)
        return 1
    print(_report(written))
    for missing in written.unavailable:
        print(_unavailable_note(args.editor, missing), file=sys.stderr)
    return 0


def _report(written: PluginZip) -> str:
    carried = ", ".join(t.vendor_key for t in written.vendored)
    packages = f"with pyzmq and msgpack for {carried}" if carried else "without pyzmq and msgpack"
    return (
        f"Wrote {written.path} {packages}. In Krita: Tools ▸ Scripts ▸ Import Python Plugin "
        "from File…, choose the zip, then restart Krita."
    )


def _unavailable_note(editor: str, missing: UnavailableWheels) -> str:
    target = missing.target
    pip_said = "\n    ".join(missing.pip_output.splitlines()[-_PIP_LINES:])
    return (
        f"Warning: pip could not get pyzmq and msgpack wheels for Python "
        f"{target.python_version} on {target.platform_tag} ({target.vendor_key}), so the zip "
        f"carries none for it:\n    {pip_said}\n"
        "On that platform the plug-in loads, and its Remove object action says what to run "
        f"instead:  iic-inpaint install-plugin {editor} --python-version "
        f"{target.python_version}\n"
        "If pip was offline, run build-plugin-zip again where it can reach PyPI (or a mirror "
        "with those wheels); if no such wheels exist, leave that --target out."
    )
