"""install-plugin: the kritarc edit, the editor entries; build-plugin-zip: the release zip's
vendor folders, and what its plug-in says where it carries none for the editor's Python."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from krita_plugin_source import load_plugin_module

from iic_cli.plugin_installer import EDITOR_PLUGINS, plugins_source_dir, with_kritarc_entry
from iic_cli.plugin_zip import KRITA_RELEASE_TARGETS, WheelTarget


def _enabled(kritarc: str, plugin: str) -> str:
    return with_kritarc_entry(kritarc, "python", f"enable_{plugin}", "true")


def test_enabling_adds_a_python_section_to_an_empty_kritarc() -> None:
    assert _enabled("", "p") == "\n[python]\nenable_p=true\n"


def test_enabling_keeps_other_sections_and_plugins() -> None:
    kritarc = "[General]\nTheme=Krita dark\n[python]\nenable_other=true\n[Zoom]\nlevel=2\n"
    enabled = _enabled(kritarc, "p")
    assert enabled == (
        "[General]\nTheme=Krita dark\n[python]\nenable_other=true\nenable_p=true\n[Zoom]\nlevel=2\n"
    )


def test_a_disabled_plugin_is_switched_on_once() -> None:
    enabled = _enabled("[python]\nenable_p=false\n", "p")
    assert enabled == "[python]\nenable_p=true\n"
    assert _enabled(enabled, "p") == enabled


def test_every_editor_entry_points_at_a_plugin_in_the_source_tree() -> None:
    for editor, plugin in EDITOR_PLUGINS.items():
        source = plugins_source_dir() / editor
        assert (source / plugin.folder).is_dir(), editor
        for name in (*plugin.companion_files, *(f"{plugin.folder}/{n}" for n in plugin.executable)):
            assert (source / name).is_file(), name


def test_a_windows_path_is_escaped_the_way_kconfig_reads_it() -> None:
    entry = with_kritarc_entry(
        "", "iic_remove_object", "iic_inpaint_path", r"C:\venv\iic-inpaint.exe"
    )
    assert entry.splitlines()[-1] == r"iic_inpaint_path=C:\\venv\\iic-inpaint.exe"


@pytest.mark.skipif(sys.platform != "linux", reason="the host tag below is a Linux one")
def test_the_zip_names_a_vendor_folder_the_way_the_plugin_looks_for_it() -> None:
    host = WheelTarget(
        f"{sys.version_info.major}.{sys.version_info.minor}", f"manylinux_2_28_{platform.machine()}"
    )
    assert host.vendor_key == load_plugin_module("vendored_packages").vendor_key()


def test_krita_release_targets_cover_windows_macos_and_linux() -> None:
    keys = {target.vendor_key for target in KRITA_RELEASE_TARGETS}
    assert keys == {
        "win32-x86_64-py310",
        "linux-x86_64-py310",
        "darwin-arm64-py310",
        "darwin-x86_64-py310",
    }


# ---- the release zip (build-plugin-zip) -------------------------------------------------

PLUGIN = EDITOR_PLUGINS["krita"].folder
# No pyzmq or msgpack wheel exists for it anywhere: a target whose wheels cannot be had.
UNAVAILABLE = WheelTarget("2.7", "win_amd64")
# Run by a Python without site-packages, as Krita's: what the plug-in's __init__ does first
# (vendor/ onto sys.path, then the network packages), printing what its button would say.
PLUGIN_IMPORT_PROBE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("vendored_packages", sys.argv[1])
vendored_packages = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vendored_packages)
vendored_packages.add_vendor_dir_to_path()
try:
    import iic_client, msgpack, zmq
except ImportError as error:
    print(vendored_packages.missing_packages_message(error))
else:
    print("loaded")
"""


def _host_target() -> WheelTarget:
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return WheelTarget(python_version, f"manylinux_2_28_{platform.machine()}")


def _iic_inpaint(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iic_cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _target_option(target: WheelTarget) -> list[str]:
    return ["--target", f"{target.python_version}:{target.platform_tag}"]


@pytest.mark.skipif(sys.platform != "linux", reason="the host tag is a Linux one")
def test_build_plugin_zip_writes_the_plugin_and_leaves_out_wheels_it_cannot_get(
    tmp_path: Path,
) -> None:
    host = _host_target()
    built = _iic_inpaint(
        "build-plugin-zip",
        "krita",
        *_target_option(host),
        *_target_option(UNAVAILABLE),
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    (written,) = tmp_path.glob("*.zip")
    assert written.name == f"{PLUGIN}-{metadata.version('iic-inpaint')}.zip"
    assert f"for {host.vendor_key}." in built.stdout
    assert "Import Python Plugin from File" in built.stdout
    assert UNAVAILABLE.vendor_key in built.stderr
    assert "iic-inpaint install-plugin krita --python-version 2.7" in built.stderr
    with zipfile.ZipFile(written) as archive:
        names = set(archive.namelist())
    # Krita's importer finds the plug-in by its .desktop file and its folder's own entry
    assert {f"{PLUGIN}.desktop", f"{PLUGIN}/", f"{PLUGIN}/__init__.py"} <= names
    for package in ("iic_client", "zmq", "msgpack"):
        assert f"{PLUGIN}/vendor/{host.vendor_key}/{package}/__init__.py" in names, package
    assert not any(UNAVAILABLE.vendor_key in name for name in names)


@pytest.mark.skipif(sys.platform != "linux", reason="Krita's pykrita folder below is Linux's")
def test_without_wheels_for_its_python_the_zipped_plugin_names_the_command_that_fixes_it(
    tmp_path: Path,
) -> None:
    zip_path = tmp_path / "plugin.zip"
    built = _iic_inpaint(
        "build-plugin-zip",
        "krita",
        "--out",
        str(zip_path),
        *_target_option(UNAVAILABLE),
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    # where Tools ▸ Scripts ▸ Import Python Plugin from File puts it: Krita's pykrita folder
    user = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    user["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    pykrita = tmp_path / "data" / "krita" / "pykrita"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(pykrita)
    probe = tmp_path / "probe.py"
    probe.write_text(PLUGIN_IMPORT_PROBE)
    plugin_module = pykrita / PLUGIN / "vendored_packages.py"

    def plugin_says() -> str:
        # -I -S: no site-packages, no PYTHONPATH: only what the plug-in brings
        command = [sys.executable, "-I", "-S", str(probe), str(plugin_module)]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    message = plugin_says()
    named = re.search(r"run:\s+iic-inpaint (install-plugin [^\n]*?)\s+then restart Krita", message)
    assert named is not None, message
    fixing = _iic_inpaint(*named[1].split(), cwd=tmp_path, env={**os.environ, **user})
    assert fixing.returncode == 0, fixing.stderr
    assert plugin_says().strip() == "loaded"


def test_a_krita_plugin_in_the_users_pykrita_folder_brings_its_shortcut_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Krita reads script shortcuts from <data>/krita/actions only; elsewhere it is left alone."""
    from iic_cli.plugin_installer import (
        KRITA_ACTION_FILE,
        install_krita_action_file,
        krita_pykrita_dir,
        plugins_source_dir,
    )

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    source = plugins_source_dir() / "krita" / "iic_remove_object"
    installed = krita_pykrita_dir() / "iic_remove_object"
    shutil.copytree(source, installed)
    install_krita_action_file(installed)
    copied = tmp_path / "data" / "krita" / "actions" / KRITA_ACTION_FILE
    assert copied.read_bytes() == (source / KRITA_ACTION_FILE).read_bytes()
    elsewhere = tmp_path / "custom" / "iic_remove_object"
    shutil.copytree(source, elsewhere)
    copied.unlink()
    install_krita_action_file(elsewhere)
    assert not copied.exists()
