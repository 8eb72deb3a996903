"""The Krita plug-in's .action file names the action and the shortcut the plug-in advertises.

Krita reads a script action's shortcut from that file only (plugins/krita/.../action_file.py),
so a file that drifted from plugin_ids would lose the shortcut silently."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from krita_plugin_source import PLUGIN_DIR, load_plugin_module

ids = load_plugin_module("plugin_ids")


def test_the_action_file_gives_the_action_its_default_shortcut() -> None:
    tree = ElementTree.parse(PLUGIN_DIR / f"{ids.ACTION_ID}.action")
    (action,) = tree.getroot().iter("Action")
    assert action.get("name") == ids.ACTION_ID
    assert action.findtext("text") == ids.ACTION_TEXT
    assert action.findtext("shortcut") == ids.DEFAULT_SHORTCUT
