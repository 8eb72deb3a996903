"""Test-only pykrita plug-in: drives "Remove object" in the real Krita window, then quits.

Active only when IIC_GUI_TEST names a report file. Each step is a QTimer callback, because
a new view activates its layer only from Krita's main loop (shared/editors/README.md §8).
Any exception prints and exits 3: Krita's own hook would open a modal dialog and hang.
"""

import hashlib
import json
import os
import sys
import time
import traceback

from krita import Extension, Krita, Selection
from PyQt5.QtCore import QTimer
from PyQt5.QtGui import QKeySequence
from PyQt5.QtTest import QTest
from PyQt5.QtWidgets import QApplication, QMessageBox, QPushButton

REPORT = os.environ.get("IIC_GUI_TEST")
# Set: start, report, quit; what a user's first start after installing does to the plug-in.
FIRST_START = bool(os.environ.get("IIC_GUI_FIRST_START"))
IMAGE = "/in/image.png"
OBJECT = (30, 20, 24, 16)
AVOID = (0, 0, 40, 64)
POLL_MS = 100
MAX_POLLS = 1200
STALL_TICK_MS = 10
HEAL_GROW_PX = 3


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


def _pixels_digest(doc, name):
    """What a layer holds: a hash of its bytes, and those inside OBJECT."""
    node = next(n for n in doc.topLevelNodes() if n.name() == name)
    return {
        "all": hashlib.sha256(bytes(node.pixelData(0, 0, doc.width(), doc.height()))).hexdigest(),
        "object": hashlib.sha256(bytes(node.pixelData(*OBJECT))).hexdigest(),
    }


def _press_shortcut():
    """The action's shortcut as key events on the focused widget, through Qt's shortcut map."""
    from iic_remove_object import plugin_ids

    window = Krita.instance().activeWindow().qwindow()
    QApplication.setActiveWindow(window)  # Xvfb has no window manager to activate it
    QTest.keySequence(
        QApplication.focusWidget() or window, QKeySequence(plugin_ids.DEFAULT_SHORTCUT)
    )


class StallMeter:
    """The GUI thread's longest gap between ticks of a STALL_TICK_MS timer while it waits for
    the daemon: gaps that ended before `result_applied` was called. The gap that holds that
    call is the plug-in writing the result into the document, Krita's own work on its GUI
    thread, kept apart (`result_stall_s`)."""

    def __init__(self):
        self.timer = QTimer()
        self.timer.setInterval(STALL_TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.last = self.longest_s = 0.0
        self.applied_at = None

    def start(self):
        self.started = self.last = time.monotonic()
        self.longest_s = self.longest_ended_s = self.result_stall_s = 0.0
        self.applied_at = None
        self.timer.start()

    def result_applied(self):
        if self.applied_at is None:
            self.applied_at = time.monotonic()

    def _tick(self):
        now = time.monotonic()
        gap = now - self.last
        if self.applied_at is not None and self.last <= self.applied_at:
            self.result_stall_s = max(self.result_stall_s, gap)
        elif self.applied_at is None and gap > self.longest_s:
            self.longest_s, self.longest_ended_s = gap, now - self.started
        self.last = now

    def stop_ms(self):
        self._tick()
        self.timer.stop()
        return self.longest_s * 1000.0


class GuiDriver(Extension):
    def __init__(self, parent):
        super().__init__(parent)
        self.report = {"ok": False}
        self.doc = None
        self.started = False
        self.stall_meter = StallMeter()

    def setup(self):
        if REPORT:
            Krita.instance().notifier().windowCreated.connect(self._on_window)

    def createActions(self, window):
        pass

    def _on_window(self):
        if not self.started:
            self.started = True
            sys.excepthook = _exit_on_error
            QTimer.singleShot(500, self._quit_at_once if FIRST_START else self._open)

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

    def _quit_at_once(self):
        _write({"ok": True})
        Krita.instance().action("file_quit").trigger()

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
        action = Krita.instance().action("iic_remove_object")
        self.report["shortcut_with_document"] = action.shortcut().toString()
        self._trigger()
        self.report["without_selection"] = self.controller.last_message
        _select(self.doc, AVOID)
        self._later(self._store_avoid_from_docker)

    def _store_avoid_from_docker(self):
        dockers = Krita.instance().dockers()
        self.docker = next(d for d in dockers if d.windowTitle() == "Remove object")
        self._click("Set from selection")
        self.report["avoid_label"] = self.docker.regions[0].state.text()
        self.report["grow_shown"] = self.docker.grow.text()
        self.report["active_after_store"] = self.doc.activeNode().name()
        _select(self.doc, OBJECT)
        self._later(self._remove)

    def _remove(self):
        self.report["layers_before"] = _names(self.doc)
        self.report["active_at_trigger"] = self.doc.activeNode().name()
        self.stall_meter.start()
        # The controller says it is no longer busy from the slot that wrote the new layer.
        self.controller.busy_changed.connect(self._busy_changed)
        _press_shortcut()
        self.report["busy_after_trigger"] = self.controller.busy
        self._later(self._removed, lambda: not self.controller.busy)

    def _busy_changed(self, busy):
        if not busy:
            self.stall_meter.result_applied()

    def _removed(self):
        self.controller.busy_changed.disconnect(self._busy_changed)
        self.report["longest_stall_ms"] = self.stall_meter.stop_ms()
        self.report["result_stall_ms"] = self.stall_meter.result_stall_s * 1000.0
        # When it ended (s after the key press), against the removal's end.
        self.report["longest_stall_ended_s"] = self.stall_meter.longest_ended_s
        self.report["removal_took_s"] = time.monotonic() - self.stall_meter.started
        self.report["message"] = self.controller.last_message
        self.report["active_after_removal"] = self.doc.activeNode().name()
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
        self.docker.placement.setCurrentIndex(1)  # heal in place, as a user picks it
        self.docker.grow.setValue(HEAL_GROW_PX)
        self.heal = {"placement": self.docker.placement.currentText()}
        self.heal["before"] = _pixels_digest(self.doc, "Background")
        _select(self.doc, OBJECT)
        self._later(self._heal)

    def _heal(self):
        self._trigger()
        self._later(self._healed, lambda: not self.controller.busy)

    def _healed(self):
        self.heal["message"] = self.controller.last_message
        self.heal["layers_after"] = _names(self.doc)
        self.heal["after"] = _pixels_digest(self.doc, "Background")
        Krita.instance().action("edit_undo").trigger()
        undone = lambda: _pixels_digest(self.doc, "Background") != self.heal["after"]  # noqa: E731
        self._later(self._heal_undone, undone, polls=50, run_anyway=True)

    def _heal_undone(self):
        self.heal["layers_after_undo"] = _names(self.doc)
        self.heal["after_undo"] = _pixels_digest(self.doc, "Background")
        self.report["heal"] = self.heal
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
