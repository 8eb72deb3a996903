"""A release zip of an editor plug-in, carrying pyzmq and msgpack for several platforms.

Krita imports it with Tools ▸ Scripts ▸ Import Python Plugin from File, which extracts the
.desktop file and the plug-in folder and nothing else. So everything the plug-in needs
lives inside its folder: `vendor/<key>/` per target platform, each with its own copy of
iic_client and the unzipped wheels. At run time the plug-in picks `vendor/<key>/` by the
same key (see plugins/krita/iic_remove_object/vendored_packages.py).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from iic_cli.plugin_installer import (
    EDITOR_PLUGINS,
    VENDOR_DIR_NAME,
    PluginInstallError,
    WheelsUnavailable,
    download_wheels,
    plugins_source_dir,
    vendor_packages,
)

DISTRIBUTION_NAME = "iic-inpaint"  # as in pyproject.toml, for the zip's version
_LINUX_TAG = re.compile(r"^(?:many|musl)linux(?:_\d+_\d+|1|2010|2014)_(?P<machine>.+)$")
_MAC_TAG = re.compile(r"^macosx_\d+_\d+_(?P<machine>.+)$")
_NOT_SHIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", VENDOR_DIR_NAME)
_WINDOWS_MACHINES = {"win_amd64": "x86_64", "win_arm64": "arm64", "win32": "x86"}


@dataclass(frozen=True)
class WheelTarget:
    """One editor Python a release zip supports."""

    python_version: str  # "3.10"
    platform_tag: str  # a pip platform tag: "win_amd64", "manylinux_2_28_x86_64", ...

    @property
    def vendor_key(self) -> str:
        """The plug-in's `vendor_key()` on that Python: "<sys.platform>-<machine>-py<XY>"."""
        return f"{_sys_platform_and_machine(self.platform_tag)}-py{self.python_version.replace('.', '')}"


def _sys_platform_and_machine(platform_tag: str) -> str:
    if platform_tag in _WINDOWS_MACHINES:
        return f"win32-{_WINDOWS_MACHINES[platform_tag]}"
    for pattern, system in ((_LINUX_TAG, "linux"), (_MAC_TAG, "darwin")):
        match = pattern.match(platform_tag)
        if match:
            return f"{system}-{match['machine']}"
    raise PluginInstallError(
        f"Unknown platform tag {platform_tag!r}: use e.g. win_amd64, manylinux_2_28_x86_64, "
        "macosx_11_0_arm64."
    )


# Krita 5.2's official builds (Windows installer, macOS dmg, Linux AppImage) bundle Python 3.10.
KRITA_RELEASE_TARGETS: tuple[WheelTarget, ...] = (
    WheelTarget("3.10", "win_amd64"),
    WheelTarget("3.10", "manylinux_2_28_x86_64"),
    WheelTarget("3.10", "macosx_11_0_arm64"),
    WheelTarget("3.10", "macosx_10_15_x86_64"),
)


# Only Krita imports a plug-in from a zip (and picks vendor/<key>/ at run time); GIMP's
# plug-in is installed with `install-plugin gimp`.
ZIP_EDITORS = ("krita",)


@dataclass(frozen=True)
class UnavailableWheels:
    """A target whose pyzmq and msgpack wheels pip could not get."""

    target: WheelTarget
    pip_output: str  # why, in pip's words


@dataclass(frozen=True)
class PluginZip:
    """A written release zip and which of its targets carry the network packages."""

    path: Path
    vendored: tuple[WheelTarget, ...]
    unavailable: tuple[UnavailableWheels, ...]


def default_zip_name(editor: str) -> str:
    """e.g. "iic_remove_object-0.1.0.zip"."""
    return f"{EDITOR_PLUGINS[editor].folder}-{_installed_version()}.zip"


def _installed_version() -> str:
    try:
        return metadata.version(DISTRIBUTION_NAME)
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "dev"


def build_plugin_zip(
    editor: str, zip_path: Path, targets: Sequence[WheelTarget] = KRITA_RELEASE_TARGETS
) -> PluginZip:
    """Write `zip_path`: the plug-in folder and companion files, vendored for `targets`.

    A target whose wheels pip cannot get (offline, or no such wheels) is left out of
    vendor/ and reported: on that platform the plug-in's button shows the command to run
    instead (plugins/krita/iic_remove_object/vendored_packages.py)."""
    if editor not in ZIP_EDITORS:
        raise PluginInstallError(
            f"Only {' and '.join(ZIP_EDITORS)} import plug-ins from a zip: install the "
            f"{editor} plug-in with `iic-inpaint install-plugin {editor}`."
        )
    plugin = EDITOR_PLUGINS[editor]
    source = plugins_source_dir() / editor
    vendored: list[WheelTarget] = []
    unavailable: list[UnavailableWheels] = []
    with tempfile.TemporaryDirectory(prefix="iic-plugin-zip-") as scratch:
        staged = Path(scratch) / "staged"
        plugin_dir = staged / plugin.folder
        shutil.copytree(source / plugin.folder, plugin_dir, ignore=_NOT_SHIPPED)
        for target in targets:
            try:
                wheels = download_wheels(
                    Path(scratch) / target.vendor_key, target.python_version, target.platform_tag
                )
            except WheelsUnavailable as error:
                unavailable.append(UnavailableWheels(target, error.pip_output))
                continue
            vendor_packages(plugin_dir / VENDOR_DIR_NAME / target.vendor_key, wheels)
            vendored.append(target)
        for name in plugin.companion_files:
            shutil.copy2(source / name, staged / name)
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        _write_zip(staged, zip_path)
    return PluginZip(zip_path, tuple(vendored), tuple(unavailable))


def _write_zip(staged: Path, zip_path: Path) -> None:
    # Folders get their own entries: Krita's importer finds the plug-in by its "NAME/" entry.
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(staged.rglob("*")):
            name = path.relative_to(staged).as_posix()
            if path.is_dir():
                archive.writestr(name + "/", b"")
            else:
                archive.write(path, name)
