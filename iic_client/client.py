"""The client editor plugins and `iic-inpaint remove --daemon` use to talk to the daemon.

One `DaemonClient` per editor session; it may run several jobs at once. Nothing here blocks a GUI
longer than asked: `Job.poll` is meant for a GUI timer, `Job.wait` for scripts. pyzmq, msgpack
and the standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from iic_client import protocol
from iic_client.connection_file import (
    ConnectionFileError,
    ConnectionInfo,
    UnsafeLocation,
    default_connection_file,
    process_is_alive,
    read_connection_file,
)
from iic_client.connection_probe import ConnectionProbe, Silence
from iic_client.protocol import ErrorCode
from iic_client.session import Session
from iic_client.transport_security import CurveUnavailable, secure_client_socket

START_HINT = "Start it with `iic-inpaint serve` (or `python -m backend`) and try again."
# A client with jobs pings the daemon this often so the daemon knows it is still there.
PING_INTERVAL_S = 1.0
# Handshake wait when the connection file names a process we cannot see (stale, or sandboxed).
HIDDEN_PID_HELLO_S = 1.5
# Slice of a blocking wait between checks of the heartbeat and the deadline.
WAIT_SLICE_S = 0.1


class ClientError(Exception):
    """A failure with the daemon's stable `code` and a message that says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DaemonNotRunning(ClientError):
    """No daemon answers at the connection file's endpoint."""


class DaemonVanished(ClientError):
    """The daemon stopped sending heartbeats while a job was pending."""


@dataclass(frozen=True)
class RemovalRequest:
    """One removal on the wire: `pixels` interleaved (H,W,C) little-endian; masks H×W uint8."""

    width: int
    height: int
    channels: int
    dtype: str
    pixels: bytes
    hole: bytes
    avoid: bytes | None = None
    use: bytes | None = None
    iterations: int = protocol.DEFAULT_ITERATIONS
    want_confidence: bool = False
    texture: str = "patches"
    grow_px: int = 0  # grow the hole by this many pixels first (covers a missed fringe)


@dataclass(frozen=True)
class JobProgress:
    """`queue_position` 0 means running; ≥ 1 means waiting, with stage "queued"."""

    stage: str
    fraction: float
    message: str
    queue_position: int


@dataclass(frozen=True)
class JobResult:
    """`confidence` is H×W uint8 (255 = fully confident) when the request asked for it."""

    pixels: bytes
    confidence: bytes | None
    width: int
    height: int
    channels: int
    dtype: str
    stats: dict[str, Any] = field(default_factory=dict)


class DaemonClient:
    """A connection to the local daemon. Create with `DaemonClient.connect`."""

    def __init__(self, info: ConnectionInfo, timeout_s: float) -> None:
        self._info = info
        self._secret = info.secret_bytes
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._set_timeout(timeout_s)
        try:
            secure_client_socket(self._socket, self._secret)
        except CurveUnavailable as error:
            self._socket.close(linger=0)
            self._context.term()
            raise ClientError(ErrorCode.NO_CURVE, str(error)) from None
        self._probe: ConnectionProbe | None = ConnectionProbe(self._socket)
        self._socket.connect(info.endpoint)
        self._session = Session(self._secret)
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._awaiting: set[str] = set()  # ids of requests sent and not yet answered
        self._replies: dict[str, Any] = {}
        self._limits: dict[str, Any] = {}
        self._last_heard = time.monotonic()
        self._last_ping = 0.0
        self._decode_limits = protocol.DecodeLimits(
            max_message_bytes=1 << 40, max_container_items=1 << 16
        )

    @classmethod
    def connect(
        cls, connection_file: str | Path | None = None, timeout_s: float = 5.0
    ) -> DaemonClient:
        """Connect and shake hands; raises `DaemonNotRunning` when no daemon answers."""
        path = Path(connection_file) if connection_file is not None else default_connection_file()
        try:
            info = read_connection_file(path)
        except FileNotFoundError:
            raise DaemonNotRunning(
                ErrorCode.DAEMON_NOT_RUNNING,
                f"The IIC Inpaint daemon is not running (no {path}). {START_HINT}",
            ) from None
        except UnsafeLocation as error:
            raise ClientError(ErrorCode.UNSAFE_CONNECTION_FILE, str(error)) from None
        except ConnectionFileError as error:
            raise DaemonNotRunning(ErrorCode.DAEMON_NOT_RUNNING, f"{error} {START_HINT}") from None
        # An editor in a sandbox (Flatpak, Snap) has its own PID namespace and cannot see
        # the daemon's process: a missing PID only shortens the wait for the handshake.
        visible = process_is_alive(info.pid)
        client = cls(info, timeout_s if visible else min(timeout_s, HIDDEN_PID_HELLO_S))
        try:
            client.hello()
        except ClientError as error:
            silence = client._stop_probing()
            client.close()
            if error.code == ErrorCode.NO_REPLY:
                raise _unanswered_hello(info, timeout_s, visible, silence) from None
            raise
        client._stop_probing()
        client._set_timeout(timeout_s)
        return client

    def hello(self) -> dict[str, Any]:
        """Protocol version, device, model version and limits of the daemon.

        The mutual challenge: only a daemon holding the secret can answer our nonce, and its
        nonce is what our later messages carry (`iic_client.session`)."""
        hello = protocol.Hello(
            list(protocol.SUPPORTED_VERSIONS), "iic_client", self._session.own_nonce
        )
        welcome = self._request(hello)
        if len(welcome.nonce) != protocol.NONCE_BYTES:
            raise ClientError(
                ErrorCode.UNSUPPORTED_VERSION,
                "The daemon's welcome carries no challenge: it is an older release. "
                "Install matching releases of the plug-in and the daemon.",
            )
        self._session.peer_nonce = welcome.nonce
        self._limits = dict(welcome.limits)
        return {
            "protocol_version": welcome.version,
            "device": welcome.device,
            "model_version": welcome.model_version,
            "limits": dict(welcome.limits),
            "daemon_pid": welcome.daemon_pid,
        }

    def status(self) -> dict[str, Any]:
        """How busy the daemon is: device, queued and running jobs, clients, finished jobs."""
        reply = self._request(protocol.Status())
        return {
            "device": reply.device,
            "queued": reply.queued,
            "running": reply.running,
            "clients": reply.clients,
            "finished": reply.finished,
        }

    def submit(self, request: RemovalRequest) -> Job:
        """Queue a removal; raises `ClientError` (e.g. code "busy") if the daemon refuses it."""
        job = Job(self, protocol.new_id())
        submit = protocol.Submit(
            job.id,
            request.width,
            request.height,
            request.channels,
            request.dtype,
            request.iterations,
            request.want_confidence,
            has_avoid=request.avoid is not None,
            has_use=request.use is not None,
            texture=request.texture,
            grow_px=request.grow_px,
        )
        pixels = protocol.Pixels(job.id, request.pixels, request.hole, request.avoid, request.use)
        try:
            protocol.check_submit(
                submit, int(self._limits.get("max_pixels", protocol.DEFAULT_MAX_PIXELS))
            )
            protocol.check_pixels(submit, pixels)
        except protocol.ProtocolError as error:
            raise ClientError(error.code, str(error)) from None
        wire_bytes = sum(
            len(blob) for blob in (request.pixels, request.hole, request.avoid, request.use) if blob
        )
        max_bytes = int(self._limits.get("max_message_bytes", protocol.DEFAULT_MAX_MESSAGE_BYTES))
        if wire_bytes > max_bytes:
            raise ClientError(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"The image is {wire_bytes / 1e6:.0f} MB on the wire; the daemon accepts at "
                f"most {max_bytes / 1e6:.0f} MB. Work on a smaller image or selection.",
            )
        with self._lock:
            self._jobs[job.id] = job
            try:
                # Declared first: a shape or a queue the daemon refuses costs no pixel on the wire.
                self._send(self._session.encode(submit))
                self._last_heard = time.monotonic()
                self._wait_for_daemon(job, lambda: job._pixels_wanted)
                if job._error is None:
                    self._send(self._session.encode(pixels), copy=False)
                    self._wait_for_daemon(job, lambda: job._accepted)
            except ClientError:
                self._jobs.pop(job.id, None)  # never taken: nothing to ping or cancel for it
                raise
        if job._error is not None:
            raise job._error
        return job

    def close(self) -> None:
        """Cancel this session's unfinished jobs and disconnect."""
        with self._lock:
            for job in list(self._jobs.values()):
                job.cancel()
            if self._probe is not None:
                self._probe.close()
            self._socket.close(linger=0)
            self._context.term()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- internals shared with Job --------------------------------------------------------

    def _request(self, message: protocol.Message) -> Any:
        """Send `message` and wait for the reply that names it (a hello goes unstamped: the
        session starts with its answer)."""
        message_id = protocol.new_id()
        with self._lock:
            if isinstance(message, protocol.Hello):
                frames = protocol.encode(self._secret, message, message_id)
            else:
                frames = self._session.encode(message, message_id)
            self._awaiting.add(message_id)
            try:
                self._send(frames)
                deadline = time.monotonic() + self._timeout_s
                while message_id not in self._replies:
                    if not self._pump(deadline - time.monotonic()):
                        raise ClientError(
                            ErrorCode.NO_REPLY,
                            f"The daemon did not answer within {self._timeout_s:g} s. {START_HINT}",
                        )
            finally:
                self._awaiting.discard(message_id)
            reply = self._replies.pop(message_id)
        if isinstance(reply, protocol.Error):
            raise ClientError(reply.code, reply.message)
        return reply

    def _wait_for_daemon(self, job: Job, answered: Callable[[], bool]) -> None:
        """Pump until `answered()` or the job failed; `no_reply` after `timeout_s`."""
        deadline = time.monotonic() + self._timeout_s
        while not answered() and job._error is None:
            if not self._pump(deadline - time.monotonic()):
                raise ClientError(
                    ErrorCode.NO_REPLY,
                    f"The daemon did not accept the job within {self._timeout_s:g} s. "
                    "It may be overloaded or stopped; try again, or restart `iic-inpaint serve`.",
                )

    def _pump(self, timeout_s: float) -> bool:
        """Receive everything waiting (waiting up to `timeout_s` for the first); False if none."""
        if self._jobs and time.monotonic() - self._last_ping >= PING_INTERVAL_S:
            self._send(self._session.encode(protocol.Ping()))
            self._last_ping = time.monotonic()
        received = False
        timeout_ms = max(0, int(timeout_s * 1000))
        while self._socket.poll(timeout_ms if not received else 0, zmq.POLLIN):
            self._dispatch(self._socket.recv_multipart())
            received = True
        return received

    def _dispatch(self, frames: list[bytes]) -> None:
        try:
            envelope = protocol.decode(
                self._secret, frames, protocol.DAEMON_KINDS, self._decode_limits
            )
        except (protocol.Unauthenticated, protocol.ProtocolError):
            return  # not from our daemon, or from an incompatible one: ignore it
        message = envelope.message
        if envelope.session is None:
            # Only the refusal of a request of ours may come without our session (a refused
            # hello, or a request the daemon no longer knows this connection for).
            if isinstance(message, protocol.Error) and message.reply_to in self._awaiting:
                self._replies[message.reply_to] = message
            return
        try:
            self._session.accept(envelope)
        except protocol.ProtocolError:
            return  # replayed, or from an earlier connection: not for us
        self._last_heard = time.monotonic()
        job_id = getattr(message, "job", None)
        if job_id is not None:
            job = self._jobs.get(job_id)
            if job is not None:
                job._deliver(message)
            return
        reply_to = getattr(message, "reply_to", None)
        if reply_to:
            self._replies[reply_to] = message

    def _check_heartbeat(self) -> None:
        silence_s = time.monotonic() - self._last_heard
        if silence_s > self._timeout_s:
            for job in list(self._jobs.values()):
                job._finish_with(
                    DaemonVanished(
                        ErrorCode.DAEMON_VANISHED,
                        f"The IIC Inpaint daemon stopped answering ({silence_s:.0f} s without a "
                        f"heartbeat). Restart it with `iic-inpaint serve` and try again.",
                    )
                )

    def _send_cancel(self, job_id: str) -> None:
        # A cancel nobody can take needs no answer: the daemon drops a silent client's jobs.
        with self._lock, contextlib.suppress(ClientError):
            self._send(self._session.encode(protocol.Cancel(job_id)))

    def _set_timeout(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._socket.setsockopt(zmq.SNDTIMEO, max(1, int(timeout_s * 1000)))

    def _send(self, frames: list[Any], copy: bool = True) -> None:
        """Send, waiting at most the timeout for a connection to take `frames`: with none up
        a send waits for one, and a peer at the endpoint that is not the daemon (another
        program on its port, without CURVE) fails every handshake, so that wait never ended."""
        try:
            self._socket.send_multipart(frames, copy=copy)
        except zmq.Again:
            raise ClientError(
                ErrorCode.NO_REPLY,
                f"The daemon did not take the message within {self._timeout_s:g} s. {START_HINT}",
            ) from None

    def _stop_probing(self) -> Silence:
        """Why the daemon has not answered so far; stops watching the connection."""
        assert self._probe is not None
        silence = self._probe.silence()
        self._probe.close()
        self._probe = None
        return silence

    def _forget(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)


class Job:
    """A submitted removal: poll it from a GUI timer, or wait for it."""

    def __init__(self, client: DaemonClient, job_id: str) -> None:
        self.id = job_id
        self._client = client
        self._inbox: deque[JobProgress | JobResult] = deque()
        self._pixels_wanted = False
        self._accepted = False
        self._result: JobResult | None = None
        self._error: ClientError | None = None

    @property
    def done(self) -> bool:
        return self._result is not None or self._error is not None

    def poll(self, timeout_s: float = 0.0) -> list[JobProgress | JobResult]:
        """Events since the last poll; raises `ClientError` when the job failed or was cancelled."""
        client = self._client
        with client._lock:
            if not self.done:
                client._pump(timeout_s)
                client._check_heartbeat()
            events = list(self._inbox)
            self._inbox.clear()
        if self._error is not None and not any(isinstance(e, JobResult) for e in events):
            raise self._error
        return events

    def wait(
        self,
        on_progress: Callable[[JobProgress], None] | None = None,
        timeout_s: float | None = None,
    ) -> JobResult:
        """Block until the result; a timeout cancels the job and raises code "timeout"."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            if self._result is not None and not self._inbox:
                return self._result
            remaining = WAIT_SLICE_S if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                self.cancel()
                raise ClientError(
                    ErrorCode.TIMEOUT,
                    f"The removal did not finish within {timeout_s:g} s and was cancelled. "
                    "Try a smaller selection, or wait longer.",
                )
            for event in self.poll(min(remaining, WAIT_SLICE_S)):
                if isinstance(event, JobResult):
                    return event
                if on_progress is not None:
                    on_progress(event)

    def cancel(self) -> None:
        """Stop the job, queued or running; later polls raise code "cancelled"."""
        if self.done:
            return
        self._client._send_cancel(self.id)
        self._finish_with(ClientError(ErrorCode.CANCELLED, "The removal was cancelled."))

    def _deliver(self, message: Any) -> None:
        if isinstance(message, protocol.SendPixels):
            self._pixels_wanted = True
        elif isinstance(message, protocol.Accepted):
            self._accepted = True
            self._inbox.append(
                JobProgress(
                    "queued", 0.0, _queue_message(message.queue_position), message.queue_position
                )
            )
        elif isinstance(message, protocol.Progress):
            self._inbox.append(
                JobProgress(
                    message.stage, message.fraction, message.message, message.queue_position
                )
            )
        elif isinstance(message, protocol.Result):
            self._result = JobResult(**_fields(message, JobResult))
            self._inbox.append(self._result)
            self._client._forget(self.id)
        elif isinstance(message, protocol.Error):
            self._finish_with(ClientError(message.code, message.message))

    def _finish_with(self, error: ClientError) -> None:
        if not self.done:
            self._error = error
        self._client._forget(self.id)


def _unanswered_hello(
    info: ConnectionInfo, timeout_s: float, visible: bool, silence: Silence
) -> ClientError:
    """The error for a hello nobody answered: "busy" when a daemon is there, else not running."""
    if not visible:
        reason = f"(process {info.pid}) has stopped"
    elif silence is Silence.NOTHING_LISTENS:
        reason = f"is not listening at {info.endpoint} (process {info.pid} is another program)"
    elif silence is Silence.KEY_REJECTED:
        reason = (
            f"at {info.endpoint} refused this connection file's key: the file is not the one "
            "the running daemon wrote"
        )
    else:
        return ClientError(
            ErrorCode.BUSY,
            f"The IIC Inpaint daemon (process {info.pid}) is running but did not answer within "
            f"{timeout_s:g} s: it is busy, or has too many connections open. Wait a moment and "
            "try again.",
        )
    return DaemonNotRunning(
        ErrorCode.DAEMON_NOT_RUNNING, f"The IIC Inpaint daemon {reason}. {START_HINT}"
    )


def _queue_message(position: int) -> str:
    return "Starting." if position == 0 else f"Waiting in the queue (position {position})."


def _fields(source: Any, target: type | None = None) -> dict[str, Any]:
    """The fields of dataclass `source` (those `target` has, if given), without copying."""
    names = [item.name for item in dataclasses.fields(target or source)]
    return {name: getattr(source, name) for name in names}
