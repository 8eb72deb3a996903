"""The network side of one removal, on a thread of its own so Krita's GUI never waits.

Connecting (and starting the daemon for the user), sending the pixels, waiting for the
result and turning it into layer pixels all happen here; the worker reports to the GUI
thread through Qt signals, which Qt queues across threads. It never touches a Krita
document: the controller (remove_object.py) does that on the GUI thread.

A daemon thread rather than a QThread: Krita may quit while a cancelled worker still waits
on the network, and Qt aborts the process when a running QThread is destroyed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PyQt5.QtCore import QObject, pyqtSignal

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

from .daemon_launcher import LaunchFailed, launch_daemon
from .document_access import ResultPlacement, SourceCrop
from .pixel_formats import (
    confidence_layer_pixels,
    fill_inside_selection,
    hole_from_selection,
    krita_to_wire,
    wire_to_krita,
)

# How long the daemon may stay silent: when connecting and between heartbeats (1 s apart)
# before the job counts as lost. A busy 2-core machine can delay a heartbeat by a second or two.
CLIENT_TIMEOUT_S = 5.0
# How long one wait for the daemon's next message lasts: a Cancel is acted on within it.
POLL_SLICE_S = 0.1
DAEMON_START_POLL_S = 1.0
# The daemon imports torch and loads the weights before it answers: slow on a cold disk.
DAEMON_START_TIMEOUT_S = 120.0

VANISHED_MESSAGE = (
    "The IIC Inpaint daemon stopped while removing the object; your image was not changed. "
    "Start it again with `iic-inpaint serve` and run Remove object again."
)


@dataclass(frozen=True)
class RemovalPlan:
    """Everything the worker needs, read on the GUI thread before it starts."""

    crop: SourceCrop
    placement: ResultPlacement  # where the result goes, as set when the removal started
    want_confidence: bool
    texture: str  # "patches" | "learned"
    grow_px: int
    connection_file: Path | None
    iic_inpaint_path: str  # "" = never start the daemon


@dataclass(frozen=True)
class LayerPixels:
    """The decoded answer: the new layers' pixels in Krita's order, at plan.crop.rect."""

    result: bytes
    confidence: bytes | None
    note: str  # what the engine wants the user to know ("" when nothing)


class RemovalFailed(Exception):
    """The removal ended without a result; the message is what the user reads."""


class _Cancelled(Exception):
    pass


def removal_request(plan: RemovalPlan) -> RemovalRequest:
    crop = plan.crop
    return RemovalRequest(
        width=crop.rect.width,
        height=crop.rect.height,
        channels=crop.fmt.channels,
        dtype=crop.fmt.wire_dtype,
        pixels=krita_to_wire(crop.fmt, crop.pixels),
        hole=hole_from_selection(crop.selection),
        avoid=crop.avoid,
        use=crop.use,
        want_confidence=plan.want_confidence,
        texture=plan.texture,
        grow_px=plan.grow_px,
    )


def layer_pixels(crop: SourceCrop, result: JobResult) -> LayerPixels:
    """The daemon's answer as the new layers' pixels: the fill shown over `crop.shown`."""
    if (result.width, result.height) != (crop.rect.width, crop.rect.height):
        raise RemovalFailed("The daemon answered with a different image size; nothing was added.")
    filled = wire_to_krita(crop.fmt, result.pixels)
    confidence = None
    if result.confidence is not None:
        hole = hole_from_selection(crop.selection)
        confidence = confidence_layer_pixels(crop.fmt, result.confidence, hole)
    return LayerPixels(
        result=fill_inside_selection(crop.fmt, filled, crop.shown),
        confidence=confidence,
        note=result.stats.get("note") or "",
    )


class RemovalWorker(QObject):
    """Created on the GUI thread, which receives its signals; `start` runs it.

    Owned by Python, not by a Qt parent: its thread holds it until the last signal is out,
    so it is never deleted under the thread (a parent's end would delete it)."""

    progressed = pyqtSignal(str, float)  # what the daemon is doing, fraction 0..1
    succeeded = pyqtSignal(object)  # LayerPixels
    failed = pyqtSignal(str)  # the message for the user
    done = pyqtSignal()  # always the last signal, after succeeded or failed or neither

    def __init__(self, plan: RemovalPlan) -> None:
        super().__init__()
        self.plan = plan
        # Set before succeeded or failed is emitted, so done's receiver can tell "ended
        # without a word" apart even when Krita delivers done inside the result's handler.
        self.answered = False
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iic-remove-object", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        """Safe from any thread: the worker cancels the job within POLL_SLICE_S."""
        self._cancelled.set()

    def _run(self) -> None:
        try:
            self._remove()
        finally:
            self.done.emit()

    def _remove(self) -> None:
        client = None
        try:
            client = self._connect()
            pixels = layer_pixels(self.plan.crop, self._result_of(client))
            self.answered = True
            self.succeeded.emit(pixels)
        except _Cancelled:
            pass
        except RemovalFailed as failure:
            self._fail(str(failure))
        except ClientError as error:
            self._fail(VANISHED_MESSAGE if isinstance(error, DaemonVanished) else error.message)
        finally:
            if client is not None:
                client.close()

    def _fail(self, message: str) -> None:
        self.answered = True
        self.failed.emit(message)

    def _connect(self) -> DaemonClient:
        try:
            return DaemonClient.connect(self.plan.connection_file, timeout_s=CLIENT_TIMEOUT_S)
        except DaemonNotRunning as error:
            if not self.plan.iic_inpaint_path:
                raise RemovalFailed(
                    f"{error.message} Or set the path of iic-inpaint in the Remove object docker "
                    "so the plug-in starts it for you."
                ) from None
        return self._start_daemon_and_connect()

    def _start_daemon_and_connect(self) -> DaemonClient:
        try:
            launch_daemon(self.plan.iic_inpaint_path)
        except LaunchFailed as failure:
            raise RemovalFailed(str(failure)) from None
        self.progressed.emit("Starting the IIC Inpaint daemon…", 0.0)
        deadline = time.monotonic() + DAEMON_START_TIMEOUT_S
        while not self._cancelled.wait(DAEMON_START_POLL_S):
            try:
                return DaemonClient.connect(self.plan.connection_file, timeout_s=CLIENT_TIMEOUT_S)
            except DaemonNotRunning:
                if time.monotonic() > deadline:
                    raise RemovalFailed(
                        f"The IIC Inpaint daemon did not start within {DAEMON_START_TIMEOUT_S:.0f}"
                        " s. Run `iic-inpaint serve` in a terminal to see why."
                    ) from None
        raise _Cancelled

    def _result_of(self, client: DaemonClient) -> JobResult:
        if self._cancelled.is_set():
            raise _Cancelled
        job = client.submit(removal_request(self.plan))
        self.progressed.emit("Sent to the IIC Inpaint daemon", 0.0)
        while not self._cancelled.is_set():
            for event in job.poll(POLL_SLICE_S):
                if isinstance(event, JobResult):
                    return event
                if isinstance(event, JobProgress):
                    self.progressed.emit(event.message or event.stage, event.fraction)
        _cancel_on_the_daemon(client, job)
        raise _Cancelled


def _cancel_on_the_daemon(client: DaemonClient, job: Job) -> None:
    job.cancel()
    # The connection closes (linger 0) right after: a status round trip on the same socket
    # means the daemon has read the Cancel before it goes.
    with contextlib.suppress(ClientError):  # the daemon is gone: nothing is left to cancel
        client.status()
