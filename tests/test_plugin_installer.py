"""install-plugin: the kritarc edit, the editor entries, and the release zip's vendor folders."""

from __future__ import annotations

import sys

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
    import platform

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
