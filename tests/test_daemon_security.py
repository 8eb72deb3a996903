"""The daemon and client against someone who does not hold the secret (issue 16), with real
daemon processes on loopback and, where the tests run as root, a real second OS user."""

from __future__ import annotations

import json
import logging
import os
import pwd
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import msgpack
import pytest
import zmq
from daemon_process import (
    FAST_ENGINE_LIMITS,
    REPO_ROOT,
    DaemonProcess,
    RawPeer,
    daemon_environment,
    sample_image,
    serve_arguments,
    start_daemon,
    wait_until,
)

from iic_client import ClientError, DaemonClient, DaemonNotRunning, protocol
from iic_client.connection_file import (
    ConnectionInfo,
    default_connection_file,
    read_connection_file,
    write_connection_file,
)
from iic_client.protocol import ErrorCode
from iic_client.session import Session
from iic_client.transport_security import secure_daemon_socket

MAX_MESSAGE_MB = 16
CLIENT_TIMEOUT_S = 3
REPLY_TIMEOUT_S = 10.0
INTRUDER = "iic-test-intruder"
# Peak resident memory the floods below may add to the daemon; each sends 180-290 MB.
FLOOD_RSS_BOUND_MB = 40
FLOOD_FRAMES = 12


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    process = start_daemon(
        tmp_path_factory.mktemp("daemon"),
        "--max-message-mb",
        str(MAX_MESSAGE_MB),
        "--client-timeout",
        str(CLIENT_TIMEOUT_S),
    )
    yield process
    process.stop()


# ---- a second user plants the connection file ----------------------------------------------


@pytest.fixture(scope="module")
def intruder() -> Iterator[pwd.struct_passwd]:
    """A second OS user; only root can make one."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to create a second OS user")
    subprocess.run(["userdel", INTRUDER], capture_output=True)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", INTRUDER],
        check=True,
    )
    try:
        yield pwd.getpwnam(INTRUDER)
    finally:
        subprocess.run(["userdel", INTRUDER], check=True)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A world-writable sticky folder like /tmp, that both users can reach."""
    directory = Path(tempfile.mkdtemp(prefix="iic-shared-tmp-", dir="/tmp"))
    directory.chmod(0o1777)
    yield directory
    shutil.rmtree(directory)


@dataclass
class Impostor:
    """A fake daemon that knows its own secret (the one in the file it planted): it shakes
    hands like the real one and keeps every image it is sent."""

    secret: bytes
    endpoint: str = ""
    images: list[bytes] = field(default_factory=list)
    messages: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def serve(self, ready: threading.Event) -> None:
        context = zmq.Context()
        router = context.socket(zmq.ROUTER)
        secure_daemon_socket(router, self.secret)
        self.endpoint = f"tcp://127.0.0.1:{router.bind_to_random_port('tcp://127.0.0.1')}"
        ready.set()
        sessions: dict[bytes, Session] = {}
        while not self.stop.is_set():
            if not router.poll(100):
                continue
            peer, *frames = router.recv_multipart()
            self.messages += 1
            envelope = protocol.decode(self.secret, frames, protocol.CLIENT_KINDS)
            message = envelope.message
            session = sessions.setdefault(peer, Session(self.secret))
            reply: protocol.Message
            if isinstance(message, protocol.Hello):
                session.peer_nonce = message.nonce
                reply = protocol.Welcome(
                    2, "cpu", "fake", {}, os.getpid(), envelope.message_id, session.own_nonce
                )
            elif isinstance(message, protocol.Submit):
                reply = protocol.SendPixels(message.job)
            elif isinstance(message, protocol.Pixels):
                self.images.append(bytes(message.pixels))
                reply = protocol.Accepted(message.job, 1)
            else:
                continue
            router.send_multipart([peer, *session.encode(reply)])
        context.destroy(linger=0)


def as_user(user: pwd.struct_passwd, code: str, *args: str) -> None:
    """Run `code` with the system Python as `user` (who cannot read this checkout)."""
    subprocess.run(
        ["/usr/bin/python3", "-c", code, *args],
        user=user.pw_uid,
        group=user.pw_gid,
        check=True,
        cwd="/",
    )


PLANT = """
import os, sys
folder, contents = sys.argv[1], sys.argv[2]
os.makedirs(folder, mode=0o755)
with open(os.path.join(folder, "daemon.json"), "w") as stream:
    stream.write(contents)
os.chmod(os.path.join(folder, "daemon.json"), 0o600)
"""


def serve_and_fail(connection_file: Path, log_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m backend` for `connection_file`, expecting it to refuse to start."""
    refused = subprocess.run(
        [sys.executable, "-m", "backend", *serve_arguments(connection_file, log_dir)],
        cwd=REPO_ROOT,
        env=daemon_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2, refused.stderr  # EXIT_CANNOT_START
    return refused


def test_a_connection_file_planted_by_another_user_gets_no_image(
    intruder: pwd.struct_passwd,
    shared_tmp: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    impostor = Impostor(secret=os.urandom(32))
    ready = threading.Event()
    thread = threading.Thread(target=impostor.serve, args=(ready,), daemon=True)
    thread.start()
    ready.wait(10)
    planted = ConnectionInfo(
        impostor.endpoint, impostor.secret.hex(), 2, "hmac-sha256", os.getpid()
    )
    # The fallback runtime folder when no $XDG_RUNTIME_DIR or /run/user/<uid> is usable.
    fallback = shared_tmp / f"runtime-{os.geteuid()}" / "iic-inpaint"
    as_user(intruder, PLANT, str(fallback), json.dumps(asdict(planted)))
    planted_file = fallback / "daemon.json"
    assert planted_file.stat().st_uid == intruder.pw_uid
    try:
        # The client refuses the file, though it could read it (root reads anything).
        with pytest.raises(ClientError) as raised:
            DaemonClient.connect(planted_file, timeout_s=2.0)
        assert raised.value.code == ErrorCode.UNSAFE_CONNECTION_FILE
        assert INTRUDER in str(raised.value)
        # The real daemon refuses the folder and leaves the planted file alone.
        refused = serve_and_fail(planted_file, tmp_path / "log")
        assert INTRUDER in refused.stderr
        assert planted_file.read_text(encoding="utf-8") == json.dumps(asdict(planted))

        # Where the two compute the default place, the intruder's folder is skipped: the
        # daemon and the client meet in a private folder of the user's own instead.
        home = tmp_path / "home"
        home.mkdir(mode=0o700)
        monkeypatch.setenv("TMPDIR", str(shared_tmp))
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        monkeypatch.setattr(tempfile, "tempdir", None)
        if Path(f"/run/user/{os.geteuid()}").is_dir():
            pytest.skip("/run/user/<uid> exists here, so the fallback folder is never used")
        assert default_connection_file().is_relative_to(home)
        default_place = [sys.executable, "-m", "backend", "--device", "cpu"]
        default_place += ["--log-dir", str(tmp_path / "log")]
        default_place += ["--engine-limits", json.dumps(FAST_ENGINE_LIMITS)]
        daemon = start_daemon(
            tmp_path, command=default_place, connection_file=default_connection_file()
        )
        try:
            with DaemonClient.connect() as client:
                result = client.submit(sample_image(3).request()).wait(timeout_s=60)
            assert result.width == 64
        finally:
            daemon.stop()
    finally:
        impostor.stop.set()
        thread.join(10)
    assert impostor.images == [] and impostor.messages == 0


def test_the_client_refuses_a_connection_file_others_can_read(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    copy = tmp_path / "private" / "daemon.json"
    write_connection_file(copy, read_connection_file(daemon.connection_file))
    with DaemonClient.connect(copy) as client:  # the same file, private: fine
        assert client.status()["device"] == "cpu"
    for path, mode in ((copy, 0o644), (copy.parent, 0o755)):
        path.chmod(mode)
        with pytest.raises(ClientError) as raised:
            DaemonClient.connect(copy, timeout_s=2.0)
        assert raised.value.code == ErrorCode.UNSAFE_CONNECTION_FILE
        assert "Other users can open" in str(raised.value)
        path.chmod(0o600 if path == copy else 0o700)


def test_the_daemon_refuses_a_folder_other_users_may_write_to(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # not sticky: anyone could rename our folder away and put theirs there
    connection_file = shared / "iic-inpaint" / "daemon.json"
    refused = serve_and_fail(connection_file, tmp_path / "log")
    assert "Other users may write to" in refused.stderr
    assert not connection_file.exists()


# ---- a process posing as the daemon, without the secret ----------------------------------------


@pytest.mark.parametrize("security", ["none", "curve with a key of its own"])
def test_a_fake_daemon_without_the_secret_learns_nothing(
    daemon: DaemonProcess, tmp_path: Path, security: str
) -> None:
    """The daemon's endpoint taken over by a process that does not know the secret (the daemon
    died and another program got its port): the client must prove nothing to it, and send
    nothing, before the fake has proved it holds the secret."""
    context = zmq.Context()
    fake = context.socket(zmq.ROUTER)
    if security != "none":
        fake.curve_server = True
        fake.curve_publickey, fake.curve_secretkey = zmq.curve_keypair()
    port = fake.bind_to_random_port("tcp://127.0.0.1")
    info = read_connection_file(daemon.connection_file)
    taken_over = tmp_path / "runtime" / "daemon.json"
    write_connection_file(
        taken_over,
        ConnectionInfo(
            f"tcp://127.0.0.1:{port}", info.secret, info.protocol, info.signature_scheme, 1
        ),
    )
    try:
        with pytest.raises(ClientError):
            DaemonClient.connect(taken_over, timeout_s=2.0)
        assert not fake.poll(500), "the fake daemon received a message"
    finally:
        context.destroy(linger=0)


def test_a_hello_to_a_peer_that_fails_every_handshake_ends_at_its_timeout() -> None:
    """Another ZeroMQ program on the daemon's port, without CURVE: each handshake fails, so
    no connection is ever up to take the hello. Its send once waited for one for good (the
    fake-daemon test above hung a CI run when the first failure came before the hello)."""
    context = zmq.Context()
    plain = context.socket(zmq.ROUTER)
    port = plain.bind_to_random_port("tcp://127.0.0.1")
    info = ConnectionInfo(
        f"tcp://127.0.0.1:{port}",
        os.urandom(protocol.SECRET_BYTES).hex(),
        protocol.PROTOCOL_VERSION,
        protocol.SIGNATURE_SCHEME,
        os.getpid(),
    )
    client = DaemonClient(info, timeout_s=1.0)
    outcome: list[BaseException] = []

    def say_hello() -> None:
        try:
            client.hello()
        except BaseException as error:  # handed to the test's thread
            outcome.append(error)

    hello = threading.Thread(target=say_hello, daemon=True)
    try:
        time.sleep(1.0)  # the first handshake has failed by now
        hello.start()
        hello.join(10)
        assert not hello.is_alive(), "the hello never returned"
        assert len(outcome) == 1 and isinstance(outcome[0], ClientError), outcome
        assert outcome[0].code == ErrorCode.NO_REPLY
        assert not client._awaiting, "the unsent hello is still awaited"
    finally:
        if not hello.is_alive():  # a hung hello holds the client's lock: leave it be
            client.close()
        context.destroy(linger=0)


def test_an_endpoint_nobody_listens_on_is_not_running_not_busy(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]  # free once closed
    dead = tmp_path / "runtime" / "daemon.json"
    write_connection_file(
        dead, ConnectionInfo(f"tcp://127.0.0.1:{port}", "00" * 32, 2, "hmac-sha256", os.getpid())
    )
    with pytest.raises(DaemonNotRunning, match="not listening"):
        DaemonClient.connect(dead, timeout_s=1.5)


# ---- memory: floods from outside and oversized frames from inside ----------------------------


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def reset_peak_rss(pid: int) -> float:
    """Start a fresh peak (VmHWM) at the current resident size; returns it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError as error:
        pytest.skip(f"cannot reset the peak resident size here ({error})")
    return peak_rss_mb(pid)


def zmtp_null_flood(port: int, frames: int, frame_bytes: int) -> int:
    """Speak ZMTP 3.0 without security (what a peer without the secret can do) and send one
    message of `frames` frames, whatever the daemon answers; returns the bytes it took."""
    greeting = b"\xff" + bytes(8) + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\x00") + bytes(32)
    ready_body = b"\x05READY" + b"\x0bSocket-Type" + (6).to_bytes(4, "big") + b"DEALER"
    ready = b"\x04" + bytes([len(ready_body)]) + ready_body
    payload = bytes(frame_bytes)
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.settimeout(5)
        try:
            connection.sendall(greeting + ready)
            sent += len(greeting) + len(ready)
            for index in range(frames):
                flags = 0x02 | (0x01 if index < frames - 1 else 0)  # long frame, more
                connection.sendall(bytes([flags]) + frame_bytes.to_bytes(8, "big"))
                connection.sendall(payload)
                sent += 9 + frame_bytes
        except OSError:
            pass  # the daemon closed the connection: the point
    return sent


def test_floods_do_not_inflate_the_daemons_memory(daemon: DaemonProcess) -> None:
    pid = daemon.process.pid
    port = int(read_connection_file(daemon.connection_file).endpoint.rsplit(":", 1)[1])
    frame_under = (MAX_MESSAGE_MB - 1) * 10**6
    frame_over = (MAX_MESSAGE_MB + 8) * 10**6

    with DaemonClient.connect(daemon.connection_file) as client:  # the engine's first run
        client.submit(sample_image(4).request()).wait(timeout_s=60)  # allocates for good
    start_mb = reset_peak_rss(pid)
    # Without the secret: frames each under the limit, far over it in all (180 MB).
    sent = zmtp_null_flood(port, FLOOD_FRAMES, frame_under)
    # With the secret: frames over the limit (12 × 24 MB), cut off at the first frame's size.
    insider = RawPeer(daemon.connection_file)
    insider.say_hello()
    insider.socket.send_multipart([bytes(frame_over)] * FLOOD_FRAMES)
    time.sleep(2.0)  # let the daemon read what it is going to read
    insider.close()
    with DaemonClient.connect(daemon.connection_file) as client:  # and it still serves
        assert client.submit(sample_image(5).request()).wait(timeout_s=60).width == 64
    growth_mb = peak_rss_mb(pid) - start_mb
    print(f"peak RSS growth {growth_mb:.1f} MB (outsider got {sent / 1e6:.1f} MB onto the wire)")
    assert growth_mb < FLOOD_RSS_BOUND_MB


# ---- idle connections ----------------------------------------------------------------------


IDLE_CONNECTIONS = 200
FD_LIMIT = 128


def limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def test_idle_connections_do_not_lock_a_real_client_out(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, preexec_fn=limit_descriptors)
    port = int(read_connection_file(daemon.connection_file).endpoint.rsplit(":", 1)[1])
    idle: list[socket.socket] = []
    refusals: list[ClientError] = []
    early_client = DaemonClient.connect(daemon.connection_file)  # in before the idle ones
    try:
        for _ in range(IDLE_CONNECTIONS):
            connection = socket.socket()
            connection.setblocking(False)
            connection.connect_ex(("127.0.0.1", port))  # never sends a byte
            idle.append(connection)
        # The situation of the issue: every descriptor the daemon may open is taken.
        descriptors = Path(f"/proc/{daemon.process.pid}/fd")
        assert wait_until(lambda: len(list(descriptors.iterdir())) >= FD_LIMIT - 1, 30)
        # A job run now needs no new descriptor: its events reach the loop and the client (the
        # worker once made its wake-up socket on its first event, failed, and died silently).
        early_result = early_client.submit(sample_image(7).request()).wait(timeout_s=60)
        assert early_result.width == 64
        deadline = time.monotonic() + 120
        served = False
        while not served and time.monotonic() < deadline:
            try:
                with DaemonClient.connect(daemon.connection_file, timeout_s=2.0) as client:
                    served = client.submit(sample_image(6).request()).wait(timeout_s=60).width == 64
            except ClientError as error:
                refusals.append(error)
        print(f"served after {len(refusals)} refusals: {[e.code for e in refusals]}")
        assert served
        assert all(error.code == ErrorCode.BUSY for error in refusals), refusals
        assert not any(isinstance(error, DaemonNotRunning) for error in refusals)
    finally:
        early_client.close()
        for connection in idle:
            connection.close()
        daemon.stop()


def test_a_daemon_that_cannot_answer_yet_is_busy_not_gone(daemon: DaemonProcess) -> None:
    # Stopped, the daemon's kernel still completes TCP connections but nothing answers them:
    # what a client sees when the daemon has its hands full.
    os.kill(daemon.process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(ClientError) as raised:
            DaemonClient.connect(daemon.connection_file, timeout_s=1.0)
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)
    assert raised.value.code == ErrorCode.BUSY
    assert not isinstance(raised.value, DaemonNotRunning)
    assert "Wait a moment" in str(raised.value)


# ---- replays -------------------------------------------------------------------------------


REPLAYS = 100


def test_a_replayed_submit_is_refused_and_never_runs(daemon: DaemonProcess) -> None:
    with DaemonClient.connect(daemon.connection_file) as client:
        finished_before = client.status()["finished"]
        sender = RawPeer(daemon.connection_file)
        sender.say_hello()
        submit, pixels = sample_image(7).wire("once")
        asked = sender.decoded(sender.ask(sender.stamped(submit), REPLY_TIMEOUT_S)).message
        assert isinstance(asked, protocol.SendPixels)
        captured = sender.stamped(pixels)  # the message that makes the job run
        accepted = sender.decoded(sender.ask(captured, REPLY_TIMEOUT_S)).message
        assert isinstance(accepted, protocol.Accepted)
        job_events = (protocol.Heartbeat.KIND, protocol.Progress.KIND, protocol.Result.KIND)
        again = sender.decoded(sender.ask(captured, REPLY_TIMEOUT_S, skip=job_events)).message
        assert isinstance(again, protocol.Error) and again.code == ErrorCode.REPLAYED
        codes = []
        for _ in range(REPLAYS):  # from fresh connections, with or without a session of their own
            replayer = RawPeer(daemon.connection_file)
            if len(codes) % 2:
                replayer.say_hello()
            codes.append(replayer.decoded(replayer.ask(captured, REPLY_TIMEOUT_S)).message.code)
            replayer.close()
        assert codes == [ErrorCode.REPLAYED] * REPLAYS
        # The original ran, once; every replay was refused on arrival.
        assert wait_until(lambda: client.status()["finished"] == finished_before + 1, 60)
        assert client.status()["queued"] == 0
        sender.close()
    assert "replayed" in daemon.log_text()


def test_an_older_client_can_read_why_it_is_refused(daemon: DaemonProcess) -> None:
    peer = RawPeer(daemon.connection_file)
    try:
        body = msgpack.packb({"v": 1, "kind": "hello", "id": "old", "versions": [1]})
        reply = peer.ask([protocol.sign(peer.secret, body), body], REPLY_TIMEOUT_S)
        assert reply is not None and len(reply) == 2  # version 1's [signature, body]
        fields = msgpack.unpackb(reply[1])
        assert (fields["v"], fields["kind"], fields["code"]) == (1, "error", "unsupported_version")
        assert "matching releases" in fields["message"]
    finally:
        peer.close()


# ---- small ones ----------------------------------------------------------------------------


def test_the_log_is_private(daemon: DaemonProcess) -> None:
    assert stat.S_IMODE(daemon.log_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((daemon.log_dir / "daemon.log").stat().st_mode) == 0o600


def test_rotated_logs_stay_private(tmp_path: Path) -> None:
    from backend.daemon_log import PrivateRotatingFileHandler

    handler = PrivateRotatingFileHandler(tmp_path / "daemon.log", maxBytes=64, backupCount=2)
    for index in range(6):
        handler.emit(_record(f"line {index} " * 8))
    handler.close()
    logs = sorted(tmp_path.glob("daemon.log*"))
    assert len(logs) == 3
    assert {stat.S_IMODE(path.stat().st_mode) for path in logs} == {0o600}


def _record(text: str) -> logging.LogRecord:
    return logging.LogRecord("backend", logging.INFO, __file__, 1, text, None, None)


def test_status_counts_only_live_clients(daemon: DaemonProcess) -> None:
    with DaemonClient.connect(daemon.connection_file) as watcher:
        # Earlier tests' clients are closed: once the daemon noticed, only the watcher is left.
        assert wait_until(lambda: watcher.status()["clients"] == 1, timeout_s=30)
        others = [DaemonClient.connect(daemon.connection_file) for _ in range(3)]
        assert watcher.status()["clients"] == 4
        for other in others[:2]:
            other.close()
        assert wait_until(lambda: watcher.status()["clients"] == 2, timeout_s=30)
        others[2].close()
        assert wait_until(lambda: watcher.status()["clients"] == 1, timeout_s=30)
