"""The daemon's loop: one ROUTER socket, many editor sessions, one worker per device.

Only this thread touches the socket. It authenticates and decodes each message, answers or queues
it, relays the workers' events to the right client, sends heartbeats, and drops the jobs of
clients that went away. Nothing a client sends can stop it: every failure becomes an `error`.

Three locks on the door, outermost first: ZeroMQ CURVE with the secret's keys (a peer without the
secret cannot deliver a message at all, `iic_client.transport_security`), the HMAC signature of
every message, and the session a hello opens (a message from another connection, or one seen
before, is refused as `replayed`, `iic_client.session`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from backend.daemon_config import DaemonConfig
from backend.device_worker import (
    JobFailed,
    JobFinished,
    JobProgressed,
    JobStarted,
    RemovalJob,
    WorkerEvent,
)
from backend.fair_queue import FairQueue, QueueFull
from iic_client import protocol
from iic_client.protocol import ErrorCode
from iic_client.session import Replayed, Session, new_nonce
from iic_client.transport_security import secure_daemon_socket

log = logging.getLogger(__name__)

WAKE_ENDPOINT = "inproc://iic-worker-events"
# Messages read before relaying the workers' events again, so a flood cannot starve progress.
MESSAGES_PER_ROUND = 100
# The loop notices a stop request (a signal) within this many milliseconds.
STOP_CHECK_MS = 200


@dataclass(frozen=True)
class DeclaredUpload:
    """A job declared by `submit` whose pixels have not arrived yet."""

    submit: protocol.Submit
    declared_at: float = field(default_factory=time.monotonic)


@dataclass
class ClientState:
    """A client from its hello until its connection is gone (or it fell silent with jobs)."""

    session: Session
    last_seen: float = field(default_factory=time.monotonic)
    jobs: set[str] = field(default_factory=set)
    uploads: dict[str, DeclaredUpload] = field(default_factory=dict)


class Daemon:
    """Serves on `router` (already bound) until `stop` is set."""

    def __init__(
        self,
        config: DaemonConfig,
        secret: bytes,
        router: zmq.Socket,
        device: str,
        model_version: str,
        job_queue: FairQueue[RemovalJob],
    ) -> None:
        self._config = config
        self._secret = secret
        self._router = router
        self._device = device
        self._model_version = model_version
        self._queue = job_queue
        self._decode_limits = protocol.DecodeLimits(max_message_bytes=config.max_message_bytes)
        self._clients: dict[bytes, ClientState] = {}
        self._jobs: dict[tuple[bytes, str], RemovalJob] = {}
        self._announced_positions: dict[tuple[bytes, str], int] = {}
        self._busy: set[tuple[bytes, str]] = set()  # started and not yet ended by the worker
        self._finished = 0
        self._events: queue.Queue[WorkerEvent] = queue.Queue()
        self._wake = router.context.socket(zmq.PULL)
        self._wake.bind(WAKE_ENDPOINT)
        # Made here, before any connection arrives, not on a worker's first event: a socket
        # costs a descriptor, and with idle connections holding every descriptor the daemon may
        # open, a lazily made one failed (EMFILE) and killed the worker with its job unanswered.
        wake_push = router.context.socket(zmq.PUSH)
        wake_push.setsockopt(zmq.LINGER, 0)
        wake_push.connect(WAKE_ENDPOINT)
        self._wake_push: zmq.Socket | None = wake_push  # None once the loop has shut down
        self._wake_push_lock = threading.Lock()  # a ZeroMQ socket is one thread's at a time
        self._handlers: dict[type, Callable[[bytes, str, Any], None]] = {
            protocol.Hello: self._on_hello,
            protocol.Submit: self._on_submit,
            protocol.Pixels: self._on_pixels,
            protocol.Cancel: self._on_cancel,
            protocol.Status: self._on_status,
            protocol.Ping: self._on_ping,
        }

    def post(self, event: WorkerEvent) -> None:
        """Called from worker threads."""
        self._events.put(event)
        # Only a wake-up: the loop relays queued events at least every STOP_CHECK_MS anyway.
        with self._wake_push_lock, contextlib.suppress(zmq.Again):  # wake-ups pending already
            if self._wake_push is not None:
                self._wake_push.send(b"", zmq.NOBLOCK)

    def serve(self, stop: threading.Event) -> None:
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._wake, zmq.POLLIN)
        next_tick = time.monotonic()
        while not stop.is_set():
            timeout_ms = max(0, int((next_tick - time.monotonic()) * 1000))
            ready = dict(poller.poll(min(timeout_ms, STOP_CHECK_MS)))
            if self._router in ready:
                self._receive_all()
            if self._wake in ready:
                while self._wake.poll(0):
                    self._wake.recv()
            self._relay_events()
            if time.monotonic() >= next_tick:
                self._tick()
                next_tick = time.monotonic() + self._config.heartbeat_interval_s
        self._shut_down()

    # ---- incoming messages -----------------------------------------------------------------

    def _receive_all(self) -> None:
        for _ in range(MESSAGES_PER_ROUND):
            if not self._router.poll(0, zmq.POLLIN):
                return
            # Frames, not bytes: the image blobs stay in ZeroMQ's buffers, never copied.
            frames = self._router.recv_multipart(copy=False)
            try:
                self._handle(frames[0].bytes, [frame.buffer for frame in frames[1:]])
            except Exception:
                log.exception("unexpected failure handling a message")

    def _handle(self, client: bytes, payload: list[memoryview]) -> None:
        try:
            envelope = protocol.decode(
                self._secret, payload, protocol.CLIENT_KINDS, self._decode_limits
            )
            if not isinstance(envelope.message, protocol.Hello):
                self._check_session(client, envelope)
        except protocol.Unauthenticated as reason:
            log.warning("dropped an unauthenticated message from peer %s: %s", client.hex(), reason)
            return
        except protocol.ProtocolError as error:
            self._refuse(client, error)
            return
        message = envelope.message
        job = getattr(message, "job", None)
        try:
            self._handlers[type(message)](client, envelope.message_id, message)
        except protocol.ProtocolError as error:
            error.job, error.reply_to = job, envelope.message_id
            self._refuse(client, error)
        except Exception as error:
            log.exception("failed to handle %s from %s", message.KIND, client.hex())
            self._send(
                client,
                protocol.Error(
                    ErrorCode.INTERNAL,
                    f"The daemon could not handle this request ({type(error).__name__}). "
                    "It is still running; try again.",
                    job,
                    envelope.message_id,
                ),
            )

    def _refuse(self, client: bytes, error: protocol.ProtocolError) -> None:
        log.info("refused a message from %s: %s (%s)", client.hex(), error.code, error)
        self._send(client, protocol.Error(error.code, str(error), error.job, error.reply_to))

    def _check_session(self, client: bytes, envelope: protocol.Envelope) -> None:
        """Refuse (as `replayed`) a message not stamped for this connection's session."""
        state = self._clients.get(client)
        try:
            if state is None:
                raise Replayed("this connection has not said hello")
            state.session.accept(envelope)
        except protocol.ProtocolError as error:
            error.job = getattr(envelope.message, "job", None)
            error.reply_to = envelope.message_id
            raise
        state.last_seen = time.monotonic()

    def _on_hello(self, client: bytes, message_id: str, hello: protocol.Hello) -> None:
        common = set(hello.versions) & set(protocol.SUPPORTED_VERSIONS)
        if not common:
            self._refuse_versions(client, message_id, hello)
            return
        if len(hello.nonce) != protocol.NONCE_BYTES:
            raise protocol.ProtocolError(
                ErrorCode.BAD_FIELD,
                f"The hello's nonce must be {protocol.NONCE_BYTES} random bytes.",
            )
        state = self._clients.get(client)
        if state is None:
            state = self._clients[client] = ClientState(Session(self._secret))
        else:  # a new challenge on a live connection: later messages answer it
            state.session.own_nonce, state.session.received = new_nonce(), 0
        state.session.peer_nonce = hello.nonce
        state.last_seen = time.monotonic()
        log.info("hello from %s (%s)", client.hex(), hello.client_name or "unnamed client")
        self._send(
            client,
            protocol.Welcome(
                version=max(common),
                device=self._device,
                model_version=self._model_version,
                limits={
                    "max_pixels": self._config.max_pixels,
                    "max_message_bytes": self._config.max_message_bytes,
                    "max_queue": self._config.max_queue,
                    "max_iterations": protocol.MAX_ITERATIONS,
                    "heartbeat_interval_s": self._config.heartbeat_interval_s,
                },
                daemon_pid=os.getpid(),
                reply_to=message_id,
                nonce=state.session.own_nonce,
            ),
        )

    def _refuse_versions(self, client: bytes, message_id: str, hello: protocol.Hello) -> None:
        """Refuse in the newest version the client speaks below ours, so an older plug-in can
        read why (its error has the same fields)."""
        older = [version for version in hello.versions if 0 < version < protocol.PROTOCOL_VERSION]
        error = protocol.Error(
            ErrorCode.UNSUPPORTED_VERSION,
            f"The plugin speaks protocol {hello.versions}, this daemon "
            f"{list(protocol.SUPPORTED_VERSIONS)}. Install matching releases of the plug-in and "
            "the daemon.",
            None,
            message_id,
        )
        log.info("refused a hello from %s: protocol %s", client.hex(), hello.versions)
        frames = protocol.encode(
            self._secret, error, version=max(older, default=protocol.PROTOCOL_VERSION)
        )
        with contextlib.suppress(zmq.ZMQError):
            self._router.send_multipart([client, *frames], zmq.NOBLOCK, copy=False)

    def _on_submit(self, client: bytes, message_id: str, submit: protocol.Submit) -> None:
        """Check the declared job and ask for its pixels: nothing large has arrived yet."""
        protocol.check_submit(submit, self._config.max_pixels)
        state = self._clients[client]
        if (client, submit.job) in self._jobs or submit.job in state.uploads:
            raise protocol.ProtocolError(
                ErrorCode.DUPLICATE_JOB, f"Job {submit.job} was already submitted."
            )
        uploading = sum(len(other.uploads) for other in self._clients.values())
        if len(self._queue) + uploading >= self._config.max_queue:
            raise _queue_full(self._config.max_queue)
        state.uploads[submit.job] = DeclaredUpload(submit)
        self._send(client, protocol.SendPixels(submit.job))

    def _on_pixels(self, client: bytes, message_id: str, pixels: protocol.Pixels) -> None:
        upload = self._clients[client].uploads.pop(pixels.job, None)
        if upload is None:
            raise protocol.ProtocolError(
                ErrorCode.UNKNOWN_JOB,
                f"No submitted job {pixels.job} is waiting for its pixels: send `submit` first.",
            )
        submit = upload.submit
        protocol.check_pixels(submit, pixels)
        job = RemovalJob(client, submit.job, submit, pixels)
        try:
            self._queue.put(client, submit.job, job)
        except QueueFull:
            raise _queue_full(self._config.max_queue) from None
        self._jobs[job.key] = job
        self._clients[client].jobs.add(submit.job)
        position = self._queue.positions().get(job.key, 0)
        self._announced_positions[job.key] = position
        log.info(
            "job %s from %s: %d×%d×%d %s, position %d",
            submit.job,
            client.hex(),
            submit.width,
            submit.height,
            submit.channels,
            submit.dtype,
            position,
        )
        self._send(client, protocol.Accepted(submit.job, position))
        self._announce_positions()

    def _on_cancel(self, client: bytes, message_id: str, cancel: protocol.Cancel) -> None:
        job = self._jobs.get((client, cancel.job))
        if self._clients[client].uploads.pop(cancel.job, None) is not None:
            log.info("job %s cancelled before its pixels arrived", cancel.job)
        elif job is None:
            raise protocol.ProtocolError(
                ErrorCode.UNKNOWN_JOB,
                f"Job {cancel.job} is not queued or running (it may have just finished).",
            )
        else:
            was_waiting = self._queue.remove(client, cancel.job) is not None
            job.cancelled.set()
            self._forget(job)
            state = "waiting" if was_waiting else "running"
            log.info("job %s cancelled while %s", cancel.job, state)
        self._send(
            client,
            protocol.Error(
                ErrorCode.CANCELLED, "The removal was cancelled.", cancel.job, message_id
            ),
        )
        self._announce_positions()

    def _on_status(self, client: bytes, message_id: str, status: protocol.Status) -> None:
        self._send(
            client,
            protocol.StatusReply(
                device=self._device,
                queued=len(self._queue),
                running=len(self._busy),
                clients=len(self._clients),
                finished=self._finished,
                reply_to=message_id,
            ),
        )

    def _on_ping(self, client: bytes, message_id: str, ping: protocol.Ping) -> None:
        self._send(client, protocol.Heartbeat())

    # ---- worker events ---------------------------------------------------------------------

    def _relay_events(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            self._track_worker(event)
            job = self._jobs.get(event.key)
            if job is not None:  # else cancelled, or its client went away: drop what it made
                self._relay(job, event)

    def _track_worker(self, event: WorkerEvent) -> None:
        """The worker is busy from a job's start to its end, even once the job was cancelled."""
        if isinstance(event, JobStarted):
            self._busy.add(event.key)
        elif isinstance(event, (JobFinished, JobFailed)):
            self._busy.discard(event.key)
            outcome = "finished" if isinstance(event, JobFinished) else event.code
            log.info("job %s left the worker: %s", event.key[1], outcome)

    def _relay(self, job: RemovalJob, event: WorkerEvent) -> None:
        client, job_id = event.key
        if isinstance(event, JobStarted):
            self._announced_positions.pop(event.key, None)
            self._send(client, protocol.Progress(job_id, "prepare", 0.0, "Starting.", 0))
            self._announce_positions()
        elif isinstance(event, JobProgressed):
            self._send(
                client, protocol.Progress(job_id, event.stage, event.fraction, event.message, 0)
            )
        elif isinstance(event, JobFinished):
            self._forget(job)
            sent = self._send(
                client,
                protocol.Result(
                    job=job_id,
                    width=job.submit.width,
                    height=job.submit.height,
                    channels=job.submit.channels,
                    dtype=job.submit.dtype,
                    pixels=event.pixels,
                    confidence=event.confidence,
                    stats=event.stats,
                ),
            )
            if sent:
                self._finished += 1
                log.info("job %s result sent: %s", job_id, event.stats)
        elif isinstance(event, JobFailed):
            self._forget(job)
            log.info("job %s error sent: %s %s", job_id, event.code, event.message)
            self._send(client, protocol.Error(event.code, event.message, job_id))

    def _announce_positions(self) -> None:
        """Tell every waiting job whose place in the queue changed where it now stands."""
        for key, position in self._queue.positions().items():
            if key in self._jobs and self._announced_positions.get(key) != position:
                self._announced_positions[key] = position
                self._send(
                    key[0],
                    protocol.Progress(
                        key[1],
                        "queued",
                        0.0,
                        f"Waiting in the queue (position {position}).",
                        position,
                    ),
                )

    # ---- heartbeats and vanished clients ---------------------------------------------------

    def _tick(self) -> None:
        """Heartbeats to every client: those with jobs rely on them, and a send to a closed
        connection fails, which is how `status.clients` counts only live ones."""
        now = time.monotonic()
        for client, state in list(self._clients.items()):
            silent_s = now - state.last_seen
            # A declared upload whose pixels never come holds a queue slot: it counts too.
            if (state.jobs or state.uploads) and silent_s > self._config.client_timeout_s:
                self._drop_client(client, f"silent for {silent_s:.0f} s")
            else:
                self._expire_uploads(client, state, now)
                # An idle editor need not read them: a full queue drops only this heartbeat.
                self._send(client, protocol.Heartbeat(), drop_when_full=bool(state.jobs))

    def _expire_uploads(self, client: bytes, state: ClientState, now: float) -> None:
        """A client sends a job's pixels as soon as it is asked for them; one that pings but
        has not sent them within the client timeout never will, and its declared job would
        hold a queue slot as long as it stays connected."""
        for job_id, upload in list(state.uploads.items()):
            waited_s = now - upload.declared_at
            if waited_s <= self._config.client_timeout_s:
                continue
            del state.uploads[job_id]
            log.warning(
                "job %s from %s: no pixels %.0f s after its submit", job_id, client.hex(), waited_s
            )
            error = protocol.Error(
                ErrorCode.UPLOAD_TIMEOUT,
                f"The pixels of job {job_id} did not arrive within "
                f"{self._config.client_timeout_s:.0f} s of its submit, so it was dropped. "
                "Submit it again.",
                job=job_id,
            )
            self._send(client, error)

    def _drop_client(self, client: bytes, reason: str) -> None:
        state = self._clients.pop(client, None)
        if state is None:
            return
        self._queue.remove_client(client)
        dropped = sorted(state.jobs | state.uploads.keys())
        for job_id in state.jobs:
            job = self._jobs.pop((client, job_id), None)
            if job is not None:
                job.cancelled.set()
            self._announced_positions.pop((client, job_id), None)
        if dropped:
            log.warning("client %s gone (%s): dropped jobs %s", client.hex(), reason, dropped)
        else:
            log.info("client %s gone (%s)", client.hex(), reason)
        self._announce_positions()

    def _forget(self, job: RemovalJob) -> None:
        self._jobs.pop(job.key, None)
        self._announced_positions.pop(job.key, None)
        state = self._clients.get(job.client)
        if state is not None:
            state.jobs.discard(job.job_id)

    def _send(self, client: bytes, message: protocol.Message, drop_when_full: bool = True) -> bool:
        """False (and the client dropped) when the client can no longer be reached. A peer
        without a session (only ever refused) gets an unstamped message."""
        state = self._clients.get(client)
        if state is not None:
            frames = state.session.encode(message)
        else:
            frames = protocol.encode(self._secret, message)
        try:
            self._router.send_multipart([client, *frames], zmq.NOBLOCK, copy=False)
        except zmq.ZMQError as error:
            # ROUTER_MANDATORY: EHOSTUNREACH once the peer disconnected, EAGAIN if it stopped
            # reading; either way nobody will read this client's answers any more.
            if error.errno != zmq.EAGAIN or drop_when_full:
                self._drop_client(client, f"cannot send ({error})")
            return False
        return True

    def _shut_down(self) -> None:
        self._queue.close()
        for job in list(self._jobs.values()):
            job.cancelled.set()
            self._send(
                job.client,
                protocol.Error(
                    ErrorCode.SHUTTING_DOWN,
                    "The daemon was stopped before this removal finished. Start it again with "
                    "`iic-inpaint serve` and retry.",
                    job.job_id,
                ),
            )
        self._jobs.clear()
        with self._wake_push_lock:
            if self._wake_push is not None:
                self._wake_push.close(linger=0)
                self._wake_push = None
        self._wake.close(linger=0)


def _queue_full(max_queue: int) -> protocol.ProtocolError:
    return protocol.ProtocolError(
        ErrorCode.BUSY,
        f"The daemon already has {max_queue} removals waiting. "
        "Wait for some to finish (or cancel one) and try again.",
    )


def configure_router(router: zmq.Socket, config: DaemonConfig, secret: bytes) -> int:
    """Secure `router` with `secret` and bind it to a random loopback port; returns the port."""
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)
    # Per frame, checked on the frame's declared size before ZeroMQ buffers any of it; the sum
    # of a message's blobs is checked in `protocol.decode`.
    router.setsockopt(zmq.MAXMSGSIZE, max(config.max_message_bytes, protocol.MAX_HEADER_BYTES))
    secure_daemon_socket(router, secret)
    return router.bind_to_random_port("tcp://127.0.0.1")
