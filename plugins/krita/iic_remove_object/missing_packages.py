"""Stand-in extension when the vendored network packages cannot be imported.

It registers the same action, so the user who presses it reads what to run instead of
finding nothing in the menu.
"""

from __future__ import annotations

from krita import Extension, Krita, Window

from .floating_message import show_message
from .plugin_ids import ACTION_ID, ACTION_MENU, ACTION_TEXT


class MissingPackagesExtension(Extension):
    def __init__(self, parent: Krita, message: str) -> None:
        super().__init__(parent)
        self.message = message

    def setup(self) -> None:
        pass

    def createActions(self, window: Window) -> None:
        action = window.createAction(ACTION_ID, ACTION_TEXT, ACTION_MENU)
        action.triggered.connect(lambda: show_message(self.message))
