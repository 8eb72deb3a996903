"""Test-only pykrita plug-in: drives "Remove object" in the real Krita window, then quits.

Active only when IIC_GUI_TEST names a report file. Each step is a QTimer callback, because
a new view activates its layer only from Krita's main loop (shared/editors/README.md §8).
Any exception prints and exits 3: Krita's own hook would open a modal dialog and hang.
"""

import json
import os
import sys
import traceback

from krita import Extension, Krita, Selection
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication, QMessageBox, QPushButton

REPORT = os.environ.get("IIC_GUI_TEST")
IMAGE = "/in/image.png"
OBJECT = (30, 20, 24, 16)
AVOID = (0, 0, 40, 64)
POLL_MS = 100
MAX_POLLS = 1200


def _exit_on_error(exc_type, exc, tb):
    traceback.print_exception(exc_type, exc, tb)
    _write({"ok": False, "error": "".join(traceback.format_exception(exc_type, exc, tb))})
    os._exit(3)


def _write(report):
    with open(REPORT, "w") as stream:
        json.dump(report, stream, indent=1)


def _select(doc, rect):
    selection = Selection()
    selection.select(*rect, 255)
    doc.setSelection(selection)


def _names(doc):
    return [node.name() for node in doc.topLevelNodes()]


class GuiDriver(Extension):
    def __init__(self, parent):
        super().__init__(parent)
        self.report = {"ok": False}
        self.doc = None
        self.started = False

    def setup(self):
        if REPORT:
            Krita.instance().notifier().windowCreated.connect(self._on_window)

    def createActions(self, window):
        pass

    def _on_window(self):
        if not self.started:
            self.started = True
            sys.excepthook = _exit_on_error
            QTimer.singleShot(500, self._open)

    def _later(self, step, until=lambda: True, polls=MAX_POLLS, run_anyway=False):
        """Run `step` once `until()` holds; after `polls` tries fail, or run it if `run_anyway`."""

        def tick():
            try:
                if until() or (polls == 0 and run_anyway):
                    step()
                elif polls == 0:
                    raise RuntimeError(f"timed out before {step.__name__}")
                else:
                    self._later(step, until, polls - 1, run_anyway)
            except Exception:
                _exit_on_error(*sys.exc_info())

        QTimer.singleShot(POLL_MS, tick)

    def _open(self):
        from iic_remove_object import extension, plugin_ids

        self.controller = extension.shared_controller()
        app = Krita.instance()
        action = app.action(plugin_ids.ACTION_ID)
        self.report["action"] = {
            "text": action.text() if action else None,
            "shortcut": action.shortcut().toString() if action else None,
        }
        self.report["dockers"] = [d.windowTitle() for d in app.dockers()]
        app.setBatchmode(True)
        self.doc = app.openDocument(IMAGE)
        self.doc.setBatchmode(True)
        app.activeWindow().addView(self.doc)
        self._later(self._refuse_without_selection, lambda: self.doc.activeNode() is not None)

    def _trigger(self):
        Krita.instance().action("iic_remove_object").trigger()

    def _refuse_without_selection(self):
        self._trigger()
        self.report["without_selection"] = self.controller.last_message
        _select(self.doc, AVOID)
        self._later(self._store_avoid_from_docker)

    def _store_avoid_from_docker(self):
        dockers = Krita.instance().dockers()
        self.docker = next(d for d in dockers if d.windowTitle() == "Remove object")
        self._click("Set from selection")
        self.report["avoid_label"] = self.docker.regions[0].state.text()
        self.report["active_after_store"] = self.doc.activeNode().name()
        _select(self.doc, OBJECT)
        self._later(self._remove)

    def _remove(self):
        self.report["layers_before"] = _names(self.doc)
        self.report["active_at_trigger"] = self.doc.activeNode().name()
        self._trigger()
        self.report["busy_after_trigger"] = self.controller.busy
        self._later(self._removed, lambda: not self.controller.busy)

    def _removed(self):
        self.report["message"] = self.controller.last_message
        self.report["layers_after"] = _names(self.doc)
        Krita.instance().action("edit_undo").trigger()
        self._later(self._undone, lambda: "Object removed" not in _names(self.doc), 50, True)

    def _undone(self):
        self.report["layers_after_undo"] = _names(self.doc)
        self.doc.setSelection(Selection())
        self._click("Show")
        shown = self.doc.selection()
        self.report["shown_selection"] = shown and [
            shown.x(),
            shown.y(),
            shown.width(),
            shown.height(),
        ]
        self._click("Clear")
        self.report["avoid_label_after_clear"] = self.docker.regions[0].state.text()
        self.report["layers_after_clear"] = _names(self.doc)
        self._later(self._cleared)

    def _cleared(self):
        self.report["active_after_clear"] = self.doc.activeNode().name()
        self.report["ok"] = True
        _write(self.report)
        self._close()

    def _click(self, text):
        row = self.docker.regions[0]  # the avoid region
        next(b for b in row.findChildren(QPushButton) if b.text() == text).click()

    def _close(self):
        self.doc.waitForDone()
        self.doc.setModified(False)
        answer = QTimer()
        answer.timeout.connect(_answer_no)
        answer.start(100)
        self.doc.close()
        answer.stop()
        # Krita 5.2.9 hangs or crashes on QApplication.quit(); its own action quits cleanly.
        Krita.instance().action("file_quit").trigger()


def _answer_no():
    box = QApplication.activeModalWidget()
    if isinstance(box, QMessageBox) and box.button(QMessageBox.No) is not None:
        box.button(QMessageBox.No).click()


Krita.instance().addExtension(GuiDriver(Krita.instance()))
