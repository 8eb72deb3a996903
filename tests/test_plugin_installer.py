"""install-plugin's edit of Krita's kritarc: the plug-in enabled, every other setting kept."""

from __future__ import annotations

from iic_cli.plugin_installer import EDITOR_PLUGINS, plugins_source_dir, with_python_plugin_enabled


def test_enabling_adds_a_python_section_to_an_empty_kritarc() -> None:
    assert with_python_plugin_enabled("", "p") == "\n[python]\nenable_p=true\n"


def test_enabling_keeps_other_sections_and_plugins() -> None:
    kritarc = "[General]\nTheme=Krita dark\n[python]\nenable_other=true\n[Zoom]\nlevel=2\n"
    enabled = with_python_plugin_enabled(kritarc, "p")
    assert enabled == (
        "[General]\nTheme=Krita dark\n[python]\nenable_other=true\nenable_p=true\n[Zoom]\nlevel=2\n"
    )


def test_a_disabled_plugin_is_switched_on_once() -> None:
    enabled = with_python_plugin_enabled("[python]\nenable_p=false\n", "p")
    assert enabled == "[python]\nenable_p=true\n"
    assert with_python_plugin_enabled(enabled, "p") == enabled


def test_every_editor_entry_points_at_a_plugin_in_the_source_tree() -> None:
    for editor, plugin in EDITOR_PLUGINS.items():
        source = plugins_source_dir() / editor
        assert (source / plugin.folder).is_dir(), editor
        for name in (*plugin.companion_files, *(f"{plugin.folder}/{n}" for n in plugin.executable)):
            assert (source / name).is_file(), name
