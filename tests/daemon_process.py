"""A real daemon in a subprocess on loopback, and small test images, for tests/test_daemon_*.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgpack
import numpy as np
import zmq

from iic_client import Job, JobProgress, RemovalRequest, protocol
from iic_client.connection_file import read_connection_file
from iic_client.session import Session
from iic_client.transport_security import secure_client_socket

REPO_ROOT = Path(__file__).resolve().parents[1]
# The shipped weights with a 64-pixel working side: a 128×128 job takes ~0.2 s on one core.
FAST_ENGINE_LIMITS = {"max_working_side": 64}
START_TIMEOUT_S = 90.0


@dataclass
class DaemonProcess:
    process: subprocess.Popen[bytes]
    connection_file: Path
    log_dir: Path
    output: Path

    def log_text(self) -> str:
        return (self.log_dir / "daemon.log").read_text(encoding="utf-8")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def serve_arguments(connection_file: Path, log_dir: Path, *extra: str) -> list[str]:
    """Options of `python -m backend` / `iic-inpaint serve` for a fast CPU test daemon."""
    return [
        "--device",
        "cpu",
        "--connection-file",
        str(connection_file),
        "--log-dir",
        str(log_dir),
        "--engine-limits",
        json.dumps(FAST_ENGINE_LIMITS),
        *extra,
    ]


def daemon_command(connection_file: Path, log_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "backend", *serve_arguments(connection_file, log_dir, *extra)]


def daemon_environment() -> dict[str, str]:
    # One torch thread: the CI machine has two cores shared with other work.
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}


def start_daemon(
    directory: Path,
    *extra: str,
    command: list[str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
    connection_file: Path | None = None,
) -> DaemonProcess:
    """Start a daemon and wait until its connection file (where `command` puts it) names it."""
    connection_file = connection_file or directory / "runtime" / "daemon.json"
    log_dir = directory / "log"
    output = directory / f"daemon-output-{time.monotonic_ns()}.txt"
    with output.open("wb") as stream:
        process = subprocess.Popen(
            command or daemon_command(connection_file, log_dir, *extra),
            cwd=REPO_ROOT,
            env=daemon_environment(),
            stdout=stream,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )
    daemon = DaemonProcess(process, connection_file, log_dir, output)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daemon exited early:\n{output.read_text()}")
        try:
            if read_connection_file(connection_file).pid == process.pid:
                return daemon
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.1)
    daemon.stop()
    raise RuntimeError(f"daemon did not start:\n{output.read_text()}")


@dataclass(frozen=True)
class SampleImage:
    image: np.ndarray  # (H,W,3) uint8
    hole: np.ndarray  # (H,W) uint8, 255 inside the hole

    def request(self, iterations: int = 4, want_confidence: bool = False) -> RemovalRequest:
        height, width = self.hole.shape
        return RemovalRequest(
            width=width,
            height=height,
            channels=3,
            dtype="uint8",
            pixels=self.image.tobytes(),
            hole=self.hole.tobytes(),
            iterations=iterations,
            want_confidence=want_confidence,
        )

    def wire(self, job: str) -> tuple[protocol.Submit, protocol.Pixels]:
        """The two messages of this removal as a raw peer sends them."""
        height, width = self.hole.shape
        return (
            protocol.Submit(job, width, height, 3, "uint8"),
            protocol.Pixels(job, self.image.tobytes(), self.hole.tobytes()),
        )


def sample_image(seed: int, side: int = 64) -> SampleImage:
    """A random-texture image with a square hole whose place depends on `seed`."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    hole = np.zeros((side, side), np.uint8)
    top, left = rng.integers(side // 8, side // 2, size=2)
    hole[top : top + side // 4, left : left + side // 4] = 255
    return SampleImage(image, hole)


def result_image(pixels: bytes, like: np.ndarray) -> np.ndarray:
    return np.frombuffer(pixels, dtype=like.dtype).reshape(like.shape)


def wait_until(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.1) -> bool:
    """Poll `condition` until it holds or `timeout_s` passed; its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


def wait_until_running(job: Job, timeout_s: float = 60.0) -> None:
    """Poll `job` until the daemon reports it running (queue position 0)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = job.poll(0.1)
        if any(isinstance(event, JobProgress) and event.queue_position == 0 for event in events):
            return
    raise AssertionError("the job never started")


class RawPeer:
    """A bare DEALER socket that holds the secret, to send what no well-behaved client would.

    It passes ZeroMQ's CURVE handshake (`curve=False`: it cannot) and, unless `hello=False`,
    opens a session; `stamped` signs a message for that session.
    """

    # Other jobs' events, passed over while waiting for the answer to a submit.
    EVENTS = (protocol.Heartbeat.KIND, protocol.Progress.KIND, protocol.Result.KIND)

    def __init__(
        self, connection_file: Path, *, secret: bytes | None = None, curve: bool = True
    ) -> None:
        info = read_connection_file(connection_file)
        self.secret = secret if secret is not None else info.secret_bytes
        self.session = Session(self.secret)
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        if curve:
            secure_client_socket(self.socket, self.secret)
        self.socket.connect(info.endpoint)

    def say_hello(self, timeout_s: float = 10.0) -> protocol.Welcome:
        hello = protocol.Hello([protocol.PROTOCOL_VERSION], "raw peer", self.session.own_nonce)
        envelope = self.decoded(self.ask(protocol.encode(self.secret, hello), timeout_s))
        assert isinstance(envelope.message, protocol.Welcome), envelope.message
        self.session.peer_nonce = envelope.message.nonce
        self.session.accept(envelope)
        return envelope.message

    def stamped(self, message: protocol.Message) -> list[protocol.Blob]:
        return self.session.encode(message)

    def submit(
        self, submit: protocol.Submit, pixels: protocol.Pixels, timeout_s: float
    ) -> protocol.Message:
        """Declare a job and, once asked for them, send its pixels; the daemon's last answer
        (other jobs' events are passed over)."""
        asked = self.declare(submit, timeout_s)
        if not isinstance(asked, protocol.SendPixels):
            return asked
        return self.decoded(self.ask(self.stamped(pixels), timeout_s, self.EVENTS)).message

    def declare(self, submit: protocol.Submit, timeout_s: float) -> protocol.Message:
        """Declare a job only: the daemon's answer, `send_pixels` unless it refused."""
        return self.decoded(self.ask(self.stamped(submit), timeout_s, self.EVENTS)).message

    def ask(
        self,
        frames: list[protocol.Blob],
        timeout_s: float,
        skip: tuple[str, ...] = (protocol.Heartbeat.KIND,),
    ) -> list[bytes] | None:
        """Send `frames`; the next message not of a kind in `skip`, or None."""
        self.socket.send_multipart(frames)
        deadline = time.monotonic() + timeout_s
        while self.socket.poll(max(0, int((deadline - time.monotonic()) * 1000))):
            reply = self.socket.recv_multipart()
            if msgpack.unpackb(reply[1]).get("kind") not in skip:
                return reply
        return None

    def decoded(self, frames: list[bytes] | None) -> protocol.Envelope:
        assert frames is not None, "the daemon did not answer a signed message"
        limits = protocol.DecodeLimits(max_container_items=1 << 16)
        return protocol.decode(self.secret, frames, protocol.DAEMON_KINDS, limits)

    def close(self) -> None:
        self.socket.close()
        self.context.term()
