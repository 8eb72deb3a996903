"""One "Remove object" run: document -> daemon -> new layer, driven by Qt timers.

Nothing here blocks Krita's GUI thread for longer than a poll: the job is submitted, then a
QTimer polls it; starting the daemon for the user is polled the same way. Every failure
ends with a message and leaves the document exactly as it was.
"""

from __future__ import annotations

import time
from pathlib import Path

from krita import Document, Node
from PyQt5.QtCore import QObject, QTimer, pyqtSignal

from iic_client import (
    ClientError,
    DaemonClient,
    DaemonNotRunning,
    DaemonVanished,
    Job,
    JobProgress,
    JobResult,
    RemovalRequest,
)

from . import plugin_settings
from .daemon_launcher import LaunchFailed, launch_daemon
from .document_access import (
    CONFIDENCE_LAYER_NAME,
    RESULT_LAYER_NAME,
    PluginRefusal,
    SourceCrop,
    add_result_layer,
    document_is_open,
    find_node,
    read_source,
)
from .pixel_formats import (
    UnsupportedPixelFormat,
    confidence_layer_pixels,
    fill_inside_selection,
    hole_from_selection,
    krita_to_wire,
    wire_to_krita,
)

POLL_INTERVAL_MS = 100
# How long the daemon may stay silent: when connecting (on the GUI thread, so not long) and
# between heartbeats (1 s apart) before the job counts as lost. A busy 2-core machine can
# delay a heartbeat by a second or two.
CLIENT_TIMEOUT_S = 5.0
DAEMON_START_POLL_MS = 1000
# The daemon imports torch and loads the weights before it answers: slow on a cold disk.
DAEMON_START_TIMEOUT_S = 120.0

VANISHED_MESSAGE = (
    "The IIC Inpaint daemon stopped while removing the object; your image was not changed. "
    "Start it again with `iic-inpaint serve` and run Remove object again."
)


def removal_request(crop: SourceCrop, want_confidence: bool, texture: str) -> RemovalRequest:
    return RemovalRequest(
        width=crop.rect.width,
        height=crop.rect.height,
        channels=crop.fmt.channels,
        dtype=crop.fmt.wire_dtype,
        pixels=krita_to_wire(crop.fmt, crop.pixels),
        hole=hole_from_selection(crop.selection),
        avoid=crop.avoid,
        use=crop.use,
        want_confidence=want_confidence,
        texture=texture,
    )


class RemoveObjectController(QObject):
    """Runs one removal at a time for the whole Krita session."""

    busy_changed = pyqtSignal(bool)
    progress_changed = pyqtSignal(str, float)  # what the daemon is doing, fraction 0..1
    message = pyqtSignal(str)  # what the user should read: a result, a refusal, an error

    def __init__(self, connection_file: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._connection_file = connection_file
        self._client: DaemonClient | None = None
        self._job: Job | None = None
        self._doc: Document | None = None
        self._crop: SourceCrop | None = None
        self._want_confidence = False
        self._texture = "patches"
        self._daemon_deadline = 0.0
        self.last_message = ""
        self._poll_timer = QTimer(self)
        self._poll_timer.timeout.connect(self._poll_job)
        self._daemon_timer = QTimer(self)
        self._daemon_timer.timeout.connect(self._poll_daemon_start)

    @property
    def busy(self) -> bool:
        return self._crop is not None

    def start(self, doc: Document | None, node: Node | None, want_confidence: bool) -> None:
        """Read the selection from `doc`/`node` and send it to the daemon."""
        if self.busy:
            self._say("A removal is already running: wait for it, or Cancel it first.")
            return
        if doc is None:
            self._say("Open an image and select the object to remove first.")
            return
        try:
            crop = read_source(doc, node)
        except (PluginRefusal, UnsupportedPixelFormat) as refusal:
            self._say(str(refusal))
            return
        self._doc, self._crop, self._want_confidence = doc, crop, want_confidence
        self._texture = "patches" if plugin_settings.texture_from_photo() else "learned"
        self.busy_changed.emit(True)
        self._connect_and_submit()

    def cancel(self) -> None:
        if not self.busy:
            return
        if self._job is not None:
            self._job.cancel()
        self._end("Cancelled: your image was not changed.")

    def _connect_and_submit(self) -> None:
        try:
            client = self._new_client()
        except DaemonNotRunning as error:
            self._start_daemon_or_fail(error)
            return
        except ClientError as error:
            self._fail(error)
            return
        self._submit(client)

    def _new_client(self) -> DaemonClient:
        """A fresh connection per removal, so a daemon restarted since the last one is found.

        The previous connection is closed only now: a Cancel it carried has long been sent."""
        self._close_client()
        self._client = DaemonClient.connect(self._connection_file, timeout_s=CLIENT_TIMEOUT_S)
        return self._client

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _start_daemon_or_fail(self, error: DaemonNotRunning) -> None:
        program = plugin_settings.iic_inpaint_path()
        if not program:
            self._end(
                f"{error.message} Or set the path of iic-inpaint in the Remove object docker "
                "so the plug-in starts it for you."
            )
            return
        try:
            launch_daemon(program)
        except LaunchFailed as failure:
            self._end(str(failure))
            return
        self.progress_changed.emit("Starting the IIC Inpaint daemon…", 0.0)
        self._daemon_deadline = time.monotonic() + DAEMON_START_TIMEOUT_S
        self._daemon_timer.start(DAEMON_START_POLL_MS)

    def _poll_daemon_start(self) -> None:
        try:
            client = self._new_client()
        except DaemonNotRunning:
            if time.monotonic() > self._daemon_deadline:
                self._daemon_timer.stop()
                self._end(
                    f"The IIC Inpaint daemon did not start within {DAEMON_START_TIMEOUT_S:.0f} s. "
                    "Run `iic-inpaint serve` in a terminal to see why."
                )
            return
        except ClientError as error:
            self._daemon_timer.stop()
            self._fail(error)
            return
        self._daemon_timer.stop()
        self._submit(client)

    def _submit(self, client: DaemonClient) -> None:
        assert self._crop is not None
        try:
            self._job = client.submit(
                removal_request(self._crop, self._want_confidence, self._texture)
            )
        except ClientError as error:
            self._fail(error)
            return
        self.progress_changed.emit("Sent to the IIC Inpaint daemon", 0.0)
        self._poll_timer.start(POLL_INTERVAL_MS)

    def _poll_job(self) -> None:
        assert self._job is not None
        try:
            events = self._job.poll(0.0)
        except ClientError as error:
            self._fail(error)
            return
        for event in events:
            if isinstance(event, JobProgress):
                self.progress_changed.emit(event.message or event.stage, event.fraction)
            elif isinstance(event, JobResult):
                self._add_layers(event)
                return

    def _add_layers(self, result: JobResult) -> None:
        doc, crop = self._doc, self._crop
        assert doc is not None and crop is not None
        if not document_is_open(doc):
            self._end("The image was closed while the object was being removed; nothing was added.")
            return
        source = find_node(doc, crop.node_id)
        if source is None:
            self._end(
                "The layer was deleted while the object was being removed; nothing was added."
            )
            return
        if (result.width, result.height) != (crop.rect.width, crop.rect.height):
            self._end("The daemon answered with a different image size; nothing was added.")
            return
        filled = wire_to_krita(crop.fmt, result.pixels)
        layer_pixels = fill_inside_selection(crop.fmt, filled, crop.selection)
        result_layer = add_result_layer(doc, source, crop, layer_pixels, RESULT_LAYER_NAME)
        if result.confidence is not None:
            hole = hole_from_selection(crop.selection)
            confidence = confidence_layer_pixels(crop.fmt, result.confidence, hole)
            add_result_layer(
                doc, result_layer, crop, confidence, CONFIDENCE_LAYER_NAME, visible=False
            )
        note = result.stats.get("note") or ""
        self._end(
            f'Object removed: the fill is in the new layer "{RESULT_LAYER_NAME}". {note}'.strip()
        )

    def _fail(self, error: ClientError) -> None:
        self._close_client()
        self._end(VANISHED_MESSAGE if isinstance(error, DaemonVanished) else error.message)

    def _end(self, text: str) -> None:
        self._poll_timer.stop()
        self._daemon_timer.stop()
        self._job, self._doc, self._crop = None, None, None
        self.busy_changed.emit(False)
        self._say(text)

    def _say(self, text: str) -> None:
        self.last_message = text
        self.message.emit(text)
