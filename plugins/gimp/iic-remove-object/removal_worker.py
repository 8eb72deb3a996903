"""One removal, run in a helper process so that cancelling GIMP's progress cancels the job.

When the person presses Cancel on a plug-in's progress bar, GIMP kills the plug-in process
(SIGKILL after a 10 ms grace, app/plug-in/gimpplugin.c): it cannot tell the daemon anything.
So the plug-in hands the request to this helper and keeps the helper's stdin open; the helper
talks to the daemon with `iic_client` and streams progress back. When its stdin closes
before the result is delivered — the plug-in was killed — the helper cancels the job at once.

Both ends speak length-prefixed msgpack frames (msgpack is vendored with `iic_client`):
parent → helper: one map of `RemovalRequest` fields; helper → parent: maps with "kind"
"progress", "result" or "error". Standard library, msgpack and `iic_client` only.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import daemon_connection

FRAME_HEADER = struct.Struct("<Q")
# How often the helper checks for a vanished parent between the daemon's messages.
POLL_INTERVAL_S = 0.1


class RemovalFailed(RuntimeError):
    """The daemon refused or failed the removal; the message says what to do."""


# ---- the plug-in's side ---------------------------------------------------------------


def run_removal(
    request: dict[str, Any], on_progress: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Run one removal (fields of `iic_client.RemovalRequest`) in a helper process and
    return the result's fields, reporting each progress map to `on_progress`."""
    helper = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        # its own session: it must outlive this process when GIMP kills it
        start_new_session=True,
    )
    assert helper.stdin is not None and helper.stdout is not None
    try:
        write_frame(helper.stdin, request)
        while True:
            event = read_frame(helper.stdout)
            if event is None:
                raise RemovalFailed(
                    f"The Remove Object helper process stopped (exit status {helper.wait()}); "
                    "GIMP's error console or terminal shows why."
                )
            if event["kind"] == "progress":
                on_progress(event)
            elif event["kind"] == "error":
                raise RemovalFailed(event["message"])
            else:
                return event
    finally:
        helper.stdin.close()  # also tells a helper still waiting that nobody listens
        helper.wait()


# ---- the helper's side ----------------------------------------------------------------


def serve_one_removal(requests: IO[bytes], events: IO[bytes]) -> None:
    request = read_frame(requests)
    if request is None:
        return
    parent_gone = threading.Event()
    threading.Thread(target=_wait_for_eof, args=(requests, parent_gone), daemon=True).start()
    try:
        client_module = daemon_connection.import_client()
        client = daemon_connection.connect(client_module, daemon_connection.load_settings())
    except daemon_connection.DaemonUnavailable as error:
        write_frame(events, {"kind": "error", "message": str(error)})
        return
    with client:
        try:
            job = client.submit(client_module.RemovalRequest(**request))
            _relay_until_done(job, client_module.JobResult, events, parent_gone)
        except client_module.ClientError as error:
            write_frame(events, {"kind": "error", "message": str(error)})


def _relay_until_done(
    job: Any, result_type: type, events: IO[bytes], parent_gone: threading.Event
) -> None:
    while not parent_gone.is_set():
        for event in job.poll(POLL_INTERVAL_S):
            is_result = isinstance(event, result_type)
            # JobResult and JobProgress are dataclasses of msgpack-able fields
            frame = {"kind": "result" if is_result else "progress", **dataclasses.asdict(event)}
            try:
                write_frame(events, frame)
            except BrokenPipeError:  # the plug-in is gone
                job.cancel()
                return
            if is_result:
                return
    job.cancel()


def _wait_for_eof(stream: IO[bytes], parent_gone: threading.Event) -> None:
    # The descriptor, not the buffered stream: a read blocked on the stream holds its lock,
    # and Python aborted at exit ("Fatal Python error: _enter_buffered_busy") when the result
    # was out before the plug-in closed its end. Only the end matters; the request was read.
    descriptor = stream.fileno()
    while os.read(descriptor, 1 << 16):
        pass
    parent_gone.set()


# ---- frames ---------------------------------------------------------------------------


# msgpack is imported where used: the plug-in must load, and say which module is missing,
# before vendor/ is known to hold it.


def write_frame(stream: IO[bytes], value: dict[str, Any]) -> None:
    import msgpack

    body = msgpack.packb(value, use_bin_type=True)
    stream.write(FRAME_HEADER.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    """The next frame, or None at the end of the stream."""
    import msgpack

    header = _read_exactly(stream, FRAME_HEADER.size)
    if header is None:
        return None
    body = _read_exactly(stream, FRAME_HEADER.unpack(header)[0])
    return None if body is None else msgpack.unpackb(body, raw=False)


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


if __name__ == "__main__":
    daemon_connection.put_vendor_first()
    frames_out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the frames
    serve_one_removal(sys.stdin.buffer, frames_out)
