"""Installing the editor plug-ins, with the network packages their Python lacks.

Krita's and GIMP's bundled Pythons (Windows, macOS, AppImage) have no pyzmq or msgpack. So
the installer copies the plug-in folder, copies `iic_client` next to it, and unzips pyzmq
and msgpack wheels built for the *editor's* Python version and platform into the plug-in's
own `vendor/` folder, which the plug-in puts first on `sys.path`. The wheels are fetched
once, here, by this Python's pip: the editor never downloads anything.

Each editor is one `EditorPlugin` entry; adding an editor adds an entry, not a code path.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import iic_client

VENDOR_DIR_NAME = "vendor"
# The client's only third-party dependencies; versions as in pyproject.toml.
VENDORED_REQUIREMENTS = ("pyzmq>=25.0", "msgpack>=1.0")
_COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", VENDOR_DIR_NAME)


class PluginInstallError(Exception):
    """The plug-in could not be installed; the message says what to do."""


class WheelsUnavailable(PluginInstallError):
    """pip could not get pyzmq and msgpack wheels for the editor's Python."""

    def __init__(self, message: str, pip_output: str) -> None:
        super().__init__(message)
        self.pip_output = pip_output  # what pip said, for a caller that reports it its own way


@dataclass(frozen=True)
class EditorPlugin:
    """Where one editor's plug-in comes from in the source tree and where it goes."""

    editor: str
    folder: str  # the plug-in folder under plugins/<editor>/ and under the destination
    companion_files: tuple[str, ...]  # files next to the folder, e.g. Krita's .desktop
    executable: tuple[str, ...]  # files inside the folder the editor runs as programs
    default_destination: Callable[[], Path]
    enable: Callable[[str], None] | None  # turns the plug-in on in the editor's settings
    # writes the plug-in's own settings into its installed folder
    configure: Callable[[Path], None] | None = None


def _user_data_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def _user_config_dir() -> Path:
    if sys.platform in ("win32", "darwin"):
        return _user_data_dir()
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def krita_pykrita_dir() -> Path:
    return _user_data_dir() / "krita" / "pykrita"


def kritarc_path() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "kritarc"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Preferences" / "kritarc"
    return _user_config_dir() / "kritarc"


def gimp_plug_ins_dir() -> Path:
    return _user_config_dir() / "GIMP" / "3.0" / "plug-ins"


def with_kritarc_entry(kritarc: str, section: str, key: str, value: str) -> str:
    """`kritarc` with `key=value` in `[section]`, every other line kept.

    A text edit, not configparser: Krita's KConfig files have keys configparser would
    lowercase or reject, and Krita must find its other settings untouched."""
    header, entry = f"[{section}]", f"{key}={_kconfig_escaped(value)}"
    lines = kritarc.splitlines()
    current = None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if current == header:
                lines.insert(index, entry)
                return "\n".join(lines) + "\n"
            current = stripped
        elif current == header and stripped.startswith(f"{key}="):
            lines[index] = entry
            return "\n".join(lines) + "\n"
    if current == header:
        return "\n".join([*lines, entry]) + "\n"
    return "\n".join([*lines, "", header, entry]) + "\n"


def _kconfig_escaped(value: str) -> str:
    # KConfig reads "\\" as one backslash (Windows paths).
    return value.replace("\\", "\\\\")


def _edit_kritarc(section: str, key: str, value: str) -> None:
    path = kritarc_path()
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(with_kritarc_entry(text, section, key, value), encoding="utf-8")


def enable_krita_plugin(plugin: str) -> None:
    _edit_kritarc("python", f"enable_{plugin}", "true")


def iic_inpaint_program() -> Path | None:
    """The `iic-inpaint` program installed with this Python, if there is one."""
    name = "iic-inpaint.exe" if sys.platform == "win32" else "iic-inpaint"
    program = Path(sysconfig.get_path("scripts")) / name
    return program if program.is_file() else None


def write_gimp_settings(installed: Path) -> None:
    """settings.json naming the `iic-inpaint` that the GIMP plug-in starts (`serve`) when no
    daemon runs; GIMP has no settings dialog where a person could set it."""
    program = iic_inpaint_program()
    if program is None:
        return
    settings = {"iic_inpaint_path": str(program)}
    (installed / "settings.json").write_text(json.dumps(settings, indent=2) + "\n", "utf-8")


def write_krita_settings(installed: Path) -> None:
    """Name this environment's `iic-inpaint` in the plug-in's kritarc group, so the plug-in
    starts the daemon itself (the docker's "iic-inpaint program" field shows and edits it).
    The group is the plug-in folder's name, as in its plugin_settings.py."""
    program = iic_inpaint_program()
    if program is not None:
        _edit_kritarc(installed.name, "iic_inpaint_path", str(program))
    install_krita_action_file(installed)


KRITA_ACTION_FILE = "iic_remove_object.action"


def install_krita_action_file(installed: Path) -> None:
    """Krita reads a script action's shortcut only from `<resource folder>/actions/*.action`
    at start-up (its zip importer puts the file there): copied there when the plug-in went
    into the user's own pykrita folder, so the shortcut holds from the first start. A
    plug-in put elsewhere (--dest) copies it there itself when Krita first runs it."""
    if installed.parent.resolve() != krita_pykrita_dir().resolve():
        return
    actions = krita_pykrita_dir().parent / "actions"
    actions.mkdir(parents=True, exist_ok=True)
    shutil.copy2(installed / KRITA_ACTION_FILE, actions / KRITA_ACTION_FILE)


EDITOR_PLUGINS: dict[str, EditorPlugin] = {
    "krita": EditorPlugin(
        editor="krita",
        folder="iic_remove_object",
        companion_files=("iic_remove_object.desktop",),
        executable=(),
        default_destination=krita_pykrita_dir,
        enable=enable_krita_plugin,
        configure=write_krita_settings,
    ),
    "gimp": EditorPlugin(
        editor="gimp",
        folder="iic-remove-object",
        companion_files=(),
        # GIMP runs only an executable file named like its folder.
        executable=("iic-remove-object.py",),
        default_destination=gimp_plug_ins_dir,
        enable=None,
        configure=write_gimp_settings,
    ),
}


# The wheel carries plugins/ here (setup.py copies it at build time).
PACKAGED_PLUGINS_DIR = "editor_plugins"


def plugins_source_dir() -> Path:
    """The editor plug-ins' source: inside the installed package, or a checkout's plugins/
    (an editable install, or running from the source tree)."""
    packaged = Path(str(resources.files("iic_cli") / PACKAGED_PLUGINS_DIR))
    checkout = Path(__file__).resolve().parents[1]
    if packaged.is_dir():
        return packaged
    if (checkout / "pyproject.toml").is_file() and (checkout / "plugins").is_dir():
        return checkout / "plugins"
    raise PluginInstallError(
        f"The editor plug-ins are missing from this installation ({packaged} does not "
        "exist, and it is not a source checkout). Reinstall IIC Inpaint from its wheel or sdist "
        "(`pip install --force-reinstall iic-inpaint`), which carry them."
    )


def install_plugin(
    editor: str,
    dest: Path | None = None,
    python_version: str | None = None,
    platform_tag: str | None = None,
) -> Path:
    """Install `editor`'s plug-in into `dest` (default: the editor's user plug-in folder).

    `python_version` ("3.13") and `platform_tag` ("manylinux_2_28_x86_64", "win_amd64",
    "macosx_11_0_arm64") describe the editor's Python; left out, this Python's are used.
    Returns the installed plug-in folder."""
    if editor not in EDITOR_PLUGINS:
        raise PluginInstallError(
            f"Unknown editor {editor!r}: choose {' or '.join(EDITOR_PLUGINS)}."
        )
    plugin = EDITOR_PLUGINS[editor]
    source = plugins_source_dir() / editor
    destination = Path(dest) if dest is not None else plugin.default_destination()
    installed = destination / plugin.folder
    with tempfile.TemporaryDirectory(prefix="iic-wheels-") as wheel_dir:
        wheels = download_wheels(Path(wheel_dir), python_version, platform_tag)
        _copy_plugin(plugin, source, destination)
        vendor_packages(installed / VENDOR_DIR_NAME, wheels)
    if plugin.enable is not None:
        plugin.enable(plugin.folder)
    if plugin.configure is not None:
        plugin.configure(installed)
    return installed


def _copy_plugin(plugin: EditorPlugin, source: Path, destination: Path) -> None:
    installed = destination / plugin.folder
    if installed.exists():
        shutil.rmtree(installed)
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source / plugin.folder, installed, ignore=_COPY_IGNORE)
    for name in plugin.companion_files:
        shutil.copy2(source / name, destination / name)
    for name in plugin.executable:
        program = installed / name
        program.chmod(program.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def download_wheels(into: Path, python_version: str | None, platform_tag: str | None) -> list[Path]:
    """pyzmq and msgpack wheels for the editor's Python, fetched by this Python's pip."""
    command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps"]
    command += ["--dest", str(into), "--disable-pip-version-check", "--quiet"]
    if python_version:
        command += ["--python-version", python_version]
    if platform_tag:
        command += ["--platform", platform_tag]
    completed = subprocess.run(
        [*command, *VENDORED_REQUIREMENTS], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        pip_output = completed.stderr.strip()[-2000:]
        raise WheelsUnavailable(
            "pip could not download pyzmq and msgpack wheels for Python "
            f"{python_version or _this_python()} on {platform_tag or 'this platform'}:\n"
            f"{pip_output}\n"
            "Check --python-version (the editor's Python, e.g. 3.10 for Krita's AppImage) and "
            "--platform (e.g. manylinux_2_28_x86_64, win_amd64, macosx_11_0_arm64).",
            pip_output,
        )
    return sorted(into.glob("*.whl"))


def _this_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def vendor_packages(vendor: Path, wheels: list[Path]) -> None:
    """`vendor/` holds exactly iic_client and the unzipped wheels."""
    if vendor.exists():
        shutil.rmtree(vendor)
    vendor.mkdir(parents=True)
    client_source = Path(iic_client.__file__).resolve().parent
    shutil.copytree(client_source, vendor / "iic_client", ignore=_COPY_IGNORE)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(vendor)
