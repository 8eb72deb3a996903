"""One "Remove object" run: document -> daemon -> new layer, the GUI thread never waiting.

The GUI thread only reads the layer and selection (libkis wants that there) and, when the
answer is back, adds the layer. Everything between, from connecting to decoding, runs on a
RemovalWorker thread that reports through Qt signals. Every failure ends with a message and
leaves the document exactly as it was.
"""

from __future__ import annotations

from pathlib import Path

from krita import Document, Node
from PyQt5.QtCore import QObject, QTimer, pyqtSignal

from iic_client import resolve_grow_px

from . import plugin_settings
from .document_access import (
    PluginRefusal,
    ResultPlacement,
    add_results,
    check_can_heal,
    document_is_open,
    find_node,
    read_source,
)
from .pixel_formats import UnsupportedPixelFormat
from .removal_worker import LayerPixels, RemovalPlan, RemovalWorker


class RemoveObjectController(QObject):
    """Runs one removal at a time for the whole Krita session."""

    busy_changed = pyqtSignal(bool)
    progress_changed = pyqtSignal(str, float)  # what the daemon is doing, fraction 0..1
    message = pyqtSignal(str)  # what the user should read: a result, a refusal, an error

    def __init__(self, connection_file: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._connection_file = connection_file
        self._worker: RemovalWorker | None = None
        self._doc: Document | None = None
        self._running: set[RemovalWorker] = set()
        self.last_message = ""

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def start(self, doc: Document | None, node: Node | None, want_confidence: bool) -> None:
        """Read the selection from `doc`/`node` and hand it to a worker for the daemon."""
        if self.busy:
            self._say("A removal is already running: wait for it, or Cancel it first.")
            return
        if doc is None:
            self._say("Open an image and select the object to remove first.")
            return
        grow_px = resolve_grow_px(plugin_settings.grow_px(), doc.width(), doc.height())
        placement = plugin_settings.result_placement()
        try:
            crop = read_source(doc, node, grow_px)
            if placement is ResultPlacement.HEAL_IN_PLACE:
                check_can_heal(node)
        except (PluginRefusal, UnsupportedPixelFormat) as refusal:
            self._say(str(refusal))
            return
        plan = RemovalPlan(
            crop=crop,
            placement=placement,
            want_confidence=want_confidence,
            texture="patches" if plugin_settings.texture_from_photo() else "learned",
            grow_px=grow_px,
            connection_file=self._connection_file,
            iic_inpaint_path=plugin_settings.iic_inpaint_path(),
        )
        worker = RemovalWorker(plan)
        worker.progressed.connect(self._on_progress)
        worker.succeeded.connect(self._on_result)
        worker.failed.connect(self._on_failure)
        worker.done.connect(self._on_done)
        self._running.add(worker)  # a cancelled worker outlives its removal, for a while
        self._worker, self._doc = worker, doc
        self.busy_changed.emit(True)
        worker.start()

    def cancel(self) -> None:
        if self._worker is None:
            return
        self._worker.cancel()
        self._end("Cancelled: your image was not changed.")

    def _current(self) -> RemovalWorker | None:
        """The worker whose signal this is, if it is still the running removal's."""
        sender = self.sender()
        return self._worker if sender is self._worker else None

    def _on_progress(self, text: str, fraction: float) -> None:
        if self._current() is not None:
            self.progress_changed.emit(text, fraction)

    def _on_failure(self, text: str) -> None:
        if self._current() is not None:
            self._end(text)

    def _on_done(self) -> None:
        worker = self.sender()
        self._running.discard(worker)
        # Merging a heal down waits in a nested event loop, which can deliver done while
        # _on_result still runs: only a worker that never answered ended unexpectedly.
        if worker is self._worker and not worker.answered:  # a bug, already in Krita's log
            self._end("Remove object stopped unexpectedly; your image was not changed.")

    def _on_result(self, pixels: LayerPixels) -> None:
        worker = self._current()
        if worker is None:
            return
        doc, crop = self._doc, worker.plan.crop
        assert doc is not None
        if not document_is_open(doc):
            self._end("The image was closed while the object was being removed; nothing was added.")
            return
        source = find_node(doc, crop.node_id)
        if source is None:
            self._end(
                "The layer was deleted while the object was being removed; nothing was added."
            )
            return
        placement = worker.plan.placement
        added = add_results(doc, source, crop, pixels.result, pixels.confidence, placement)
        # Krita activates an added node from its event loop, after this slot; give the user
        # their layer back then, so the next Remove object works on it again.
        QTimer.singleShot(0, lambda: document_is_open(doc) and doc.setActiveNode(added.source))
        where = (
            f'merged into "{added.source.name()}" (Edit ▸ Undo takes it out again)'
            if placement is ResultPlacement.HEAL_IN_PLACE
            else f'in the new layer "{added.result_name}"'
        )
        self._end(f"Object removed: the fill is {where}. {pixels.note}".strip())

    def _end(self, text: str) -> None:
        self._worker, self._doc = None, None
        self.busy_changed.emit(False)
        self._say(text)

    def _say(self, text: str) -> None:
        self.last_message = text
        self.message.emit(text)
