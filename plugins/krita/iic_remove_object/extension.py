"""The Krita Extension: the "Remove object" action and the controller the docker shares."""

from __future__ import annotations

from krita import Extension, Krita, Window
from PyQt5.QtGui import QKeySequence

from . import plugin_settings
from .floating_message import show_message
from .plugin_ids import ACTION_ID, ACTION_MENU, ACTION_TEXT, DEFAULT_SHORTCUT
from .remove_object import RemoveObjectController

_controller: RemoveObjectController | None = None


def shared_controller() -> RemoveObjectController:
    """The one controller of this Krita session, shared by the action and every docker."""
    global _controller
    if _controller is None:
        _controller = RemoveObjectController(parent=Krita.instance())
        _controller.message.connect(show_message)
    return _controller


def remove_object_in_active_document() -> None:
    """What the action and the docker's button do."""
    doc = Krita.instance().activeDocument()
    node = doc.activeNode() if doc is not None else None
    shared_controller().start(doc, node, plugin_settings.want_confidence())


class RemoveObjectExtension(Extension):
    def setup(self) -> None:
        pass

    def createActions(self, window: Window) -> None:
        action = window.createAction(ACTION_ID, ACTION_TEXT, ACTION_MENU)
        action.setShortcut(QKeySequence(DEFAULT_SHORTCUT))
        action.triggered.connect(remove_object_in_active_document)
