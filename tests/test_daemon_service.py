"""One real daemon process on loopback serving many editor sessions at once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import msgpack
import numpy as np
import pytest
from daemon_process import (
    FAST_ENGINE_LIMITS,
    REPO_ROOT,
    DaemonProcess,
    RawPeer,
    daemon_environment,
    result_image,
    sample_image,
    start_daemon,
    wait_until,
    wait_until_running,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iic_cli.daemon_remove import remove_through_daemon
from iic_client import (
    ClientError,
    DaemonClient,
    DaemonNotRunning,
    JobProgress,
    JobResult,
    protocol,
)
from iic_client.connection_file import read_connection_file, write_connection_file
from iic_client.protocol import ErrorCode

MAX_QUEUE = 8
MAX_PIXELS = 5_000_000
MAX_MESSAGE_MB = 24
# 2048×2048 with a 64-pixel working side: four guided-upsampling stages, about 4 s on one core,
# with cancel checks between stages; long enough to act on while it runs.
SLOW_SIDE = 2048
CLIENT_TIMEOUT_S = 3
REPLY_TIMEOUT_S = 5.0


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    process = start_daemon(
        tmp_path_factory.mktemp("daemon"),
        "--max-queue",
        str(MAX_QUEUE),
        "--max-pixels",
        str(MAX_PIXELS),
        "--max-message-mb",
        str(MAX_MESSAGE_MB),
        "--client-timeout",
        str(CLIENT_TIMEOUT_S),
    )
    yield process
    process.stop()


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[DaemonClient]:
    with DaemonClient.connect(daemon.connection_file) as connected:
        yield connected


def assert_filled_only_inside_hole(result: JobResult, seed: int, side: int) -> None:
    sample = sample_image(seed, side)
    assert (result.width, result.height, result.channels, result.dtype) == (side, side, 3, "uint8")
    filled = result_image(result.pixels, sample.image)
    outside = sample.hole == 0
    np.testing.assert_array_equal(filled[outside], sample.image[outside])
    assert (filled[~outside] != sample.image[~outside]).any()


def test_eight_concurrent_clients_each_get_their_own_result(daemon: DaemonProcess) -> None:
    sides = [64 + 8 * index for index in range(8)]
    results: dict[int, JobResult | BaseException] = {}

    def session(index: int) -> None:
        try:
            with DaemonClient.connect(daemon.connection_file) as own_client:
                job = own_client.submit(sample_image(index, sides[index]).request())
                results[index] = job.wait(timeout_s=120)
        except BaseException as error:  # reported by the assertion below
            results[index] = error

    threads = [threading.Thread(target=session, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, side in enumerate(sides):
        result = results[index]
        assert isinstance(result, JobResult), result
        assert_filled_only_inside_hole(result, index, side)


def test_busy_client_does_not_delay_another_clients_single_job(daemon: DaemonProcess) -> None:
    with (
        DaemonClient.connect(daemon.connection_file) as busy,
        DaemonClient.connect(daemon.connection_file) as single,
    ):
        # The first job is slow so that the busy client's later jobs are surely still waiting
        # when the other client's job arrives, however loaded the machine.
        sides = [SLOW_SIDE, 128, 128, 128, 128]
        busy_jobs = [
            busy.submit(sample_image(10 + i, side).request()) for i, side in enumerate(sides)
        ]
        single_job = single.submit(sample_image(20, 128).request())
        first_events = single_job.poll()
        assert first_events[0].queue_position <= 2  # type: ignore[union-attr]
        finished: list[str] = []
        last_job_positions: list[int] = []
        pending = {job.id: job for job in [*busy_jobs, single_job]}
        deadline = time.monotonic() + 120
        while pending and time.monotonic() < deadline:
            for job_id, job in list(pending.items()):
                events = job.poll(0.02)
                if job is busy_jobs[-1]:
                    last_job_positions += [
                        event.queue_position
                        for event in events
                        if isinstance(event, JobProgress) and event.stage == "queued"
                    ]
                if any(isinstance(event, JobResult) for event in events):
                    finished.append(job_id)
                    del pending[job_id]
        assert not pending
        assert finished.index(single_job.id) <= 1, "the single job waited behind the busy client"
        # The last job hears its place move back once (the other client's job goes ahead of
        # it), then move up as the jobs ahead of it start.
        after_peak = last_job_positions[last_job_positions.index(max(last_job_positions)) :]
        assert after_peak == sorted(after_peak, reverse=True)
        assert len(set(after_peak)) >= 3 and after_peak[-1] == 1


def test_cancel_a_queued_job(client: DaemonClient) -> None:
    slow = client.submit(sample_image(30, SLOW_SIDE).request())
    queued = client.submit(sample_image(31).request())
    after = client.submit(sample_image(32).request())
    queued.cancel()
    with pytest.raises(ClientError) as raised:
        queued.wait(timeout_s=5)
    assert raised.value.code == ErrorCode.CANCELLED
    slow.cancel()
    assert_filled_only_inside_hole(after.wait(timeout_s=60), 32, 64)
    assert client.status()["queued"] == 0


def test_cancel_a_running_job_stops_the_engine(daemon: DaemonProcess, client: DaemonClient) -> None:
    slow = client.submit(sample_image(40, SLOW_SIDE).request(iterations=16))
    wait_until_running(slow)
    slow.cancel()
    with pytest.raises(ClientError) as raised:
        slow.wait(timeout_s=5)
    assert raised.value.code == ErrorCode.CANCELLED
    assert wait_until(lambda: client.status()["running"] == 0, timeout_s=30)
    # The engine raised RemovalCancelled at its next check instead of finishing the job.
    assert f"job {slow.id} left the worker: cancelled" in daemon.log_text()
    assert_filled_only_inside_hole(
        client.submit(sample_image(41).request()).wait(timeout_s=60), 41, 64
    )


def test_full_queue_says_busy(client: DaemonClient) -> None:
    # The most Algorithm 1 iterations: the slow job must outlast eight submits.
    slow = client.submit(sample_image(50, SLOW_SIDE).request(iterations=16))
    wait_until_running(slow)
    queued = [client.submit(sample_image(51 + i).request()) for i in range(MAX_QUEUE)]
    with pytest.raises(ClientError) as raised:
        client.submit(sample_image(60).request())
    assert raised.value.code == ErrorCode.BUSY
    assert "waiting" in str(raised.value)
    for job in [slow, *queued]:
        job.cancel()


CLIENT_SCRIPT = """
import sys
from daemon_process import sample_image
from iic_client import DaemonClient
client = DaemonClient.connect(sys.argv[1])
job = client.submit(sample_image(70, {side}).request(iterations=16))
while not any(event.queue_position == 0 for event in job.poll(0.1)):
    pass
print(job.id, flush=True)
job.wait()
"""


def test_killed_client_does_not_wedge_the_daemon(
    daemon: DaemonProcess, client: DaemonClient
) -> None:
    finished_before = client.status()["finished"]
    editor = subprocess.Popen(
        [sys.executable, "-c", CLIENT_SCRIPT.format(side=SLOW_SIDE), str(daemon.connection_file)],
        cwd=REPO_ROOT / "tests",
        env={**daemon_environment(), "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT / 'tests'}"},
        stdout=subprocess.PIPE,
    )
    assert editor.stdout is not None
    job_id = editor.stdout.readline().strip().decode()
    editor.kill()
    editor.wait()
    assert wait_until(lambda: client.status()["running"] == 0, timeout_s=30)
    assert f"job {job_id} left the worker" in daemon.log_text()
    assert client.status()["finished"] == finished_before  # its result was dropped, not sent
    assert_filled_only_inside_hole(
        client.submit(sample_image(71).request()).wait(timeout_s=60), 71, 64
    )
    assert "gone" in daemon.log_text()


# ---- authentication and malformed input ----------------------------------------------------


@pytest.fixture
def raw_peer(daemon: DaemonProcess) -> Iterator[RawPeer]:
    peer = RawPeer(daemon.connection_file)
    peer.say_hello()
    yield peer
    peer.close()


def raw_submit(side: int = 64) -> protocol.Submit:
    return protocol.Submit("raw", side, side, 3, "uint8")


def test_wrong_and_missing_secret_run_nothing(
    daemon: DaemonProcess, client: DaemonClient, raw_peer: RawPeer, tmp_path: Path
) -> None:
    finished_before = client.status()["finished"]
    info = read_connection_file(daemon.connection_file)
    wrong_secret = bytes(32)
    outsider = RawPeer(daemon.connection_file, secret=wrong_secret)  # fails CURVE's handshake
    try:
        assert outsider.ask(protocol.encode(wrong_secret, raw_submit()), timeout_s=1.0) is None
    finally:
        outsider.close()
    wrongly_signed = protocol.encode(wrong_secret, raw_submit(), session=b"x", seq=1)
    assert raw_peer.ask(wrongly_signed, timeout_s=1.0) is None
    assert raw_peer.ask(raw_peer.stamped(raw_submit())[1:], timeout_s=1.0) is None  # unsigned
    assert raw_peer.ask([b"", *raw_peer.stamped(raw_submit())[1:]], timeout_s=1.0) is None
    forged = tmp_path / "forged.json"
    write_connection_file(forged, replace(info, secret=wrong_secret.hex()))
    with pytest.raises(DaemonNotRunning):
        DaemonClient.connect(forged, timeout_s=1.0)
    status = client.status()
    assert (status["queued"], status["running"], status["finished"]) == (0, 0, finished_before)
    assert "unauthenticated" in daemon.log_text()


def decode_reply(peer: RawPeer, frames: list[bytes] | None) -> protocol.Error:
    message = peer.decoded(frames).message
    assert isinstance(message, protocol.Error), message
    return message


def test_limits_are_checked_before_decoding(raw_peer: RawPeer) -> None:
    half = bytes(MAX_MESSAGE_MB * 10**6 // 2 + 1)  # two blobs, each under the limit, both over
    huge = protocol.Pixels("h", half, half)
    reply = decode_reply(raw_peer, raw_peer.ask(raw_peer.stamped(huge), 10))
    assert reply.code == ErrorCode.MESSAGE_TOO_LARGE
    # Refused on the declared shape: no pixel was ever sent.
    too_many = protocol.Submit("p", 3000, 2000, 1, "uint8")
    reply = decode_reply(raw_peer, raw_peer.ask(raw_peer.stamped(too_many), REPLY_TIMEOUT_S))
    assert (reply.code, reply.job) == (ErrorCode.TOO_MANY_PIXELS, "p")
    mismatch = protocol.Submit("m", 4, 4, 3, "float32")
    wrong_size = protocol.Pixels("m", bytes(4 * 4 * 3), bytes(16))
    reply = raw_peer.submit(mismatch, wrong_size, REPLY_TIMEOUT_S)
    assert isinstance(reply, protocol.Error) and reply.code == ErrorCode.SIZE_MISMATCH
    assert "float32" in reply.message
    stray = protocol.Pixels("never-submitted", bytes(12), bytes(4))
    reply = decode_reply(raw_peer, raw_peer.ask(raw_peer.stamped(stray), REPLY_TIMEOUT_S))
    assert reply.code == ErrorCode.UNKNOWN_JOB


fuzz_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=256),
        st.builds(
            lambda kind, fields: msgpack.packb(
                {**fields, "v": protocol.PROTOCOL_VERSION, "kind": kind, "id": "f"}
            ),
            st.sampled_from(["submit", "cancel", "hello", "nonsense"]),
            st.dictionaries(
                st.sampled_from(["job", "width", "pixels", "hole", "dtype"]), fuzz_values
            ),
        ),
    )
)
def test_fuzzed_signed_messages_get_an_error_and_the_daemon_keeps_serving(
    daemon: DaemonProcess, raw_peer: RawPeer, body: bytes
) -> None:
    secret = raw_peer.secret
    reply = decode_reply(
        raw_peer, raw_peer.ask([protocol.sign(secret, body), body], REPLY_TIMEOUT_S)
    )
    assert reply.code in vars(ErrorCode).values()
    assert raw_peer.ask([body], timeout_s=0.05) is None  # unsigned: dropped
    raw_peer.say_hello(REPLY_TIMEOUT_S)  # and it still answers


def test_engine_errors_keep_their_code_and_message(client: DaemonClient) -> None:
    sample = sample_image(80)
    whole = replace(sample.request(), hole=bytes([255]) * len(sample.request().hole))
    with pytest.raises(ClientError) as raised:
        client.submit(whole).wait(timeout_s=60)
    assert raised.value.code == "no_context"
    assert "Select only the object" in str(raised.value)
    assert client.status()["running"] == 0


def test_silent_client_has_its_jobs_dropped_after_the_timeout(
    daemon: DaemonProcess, client: DaemonClient, raw_peer: RawPeer
) -> None:
    sample = sample_image(90, SLOW_SIDE)
    finished_before = client.status()["finished"]
    full_jobs = tuple(f"silent-{number}" for number in range(1, 5))
    for job_id in full_jobs:
        accepted = raw_peer.submit(*sample.wire(job_id), REPLY_TIMEOUT_S)
        assert isinstance(accepted, protocol.Accepted), accepted
    # A declared job whose pixels never come: it holds a queue slot however fast the worker
    # runs the others, so the silence always finds something to drop (with full jobs alone,
    # a fast enough CPU finished them all before the timeout, and the test had nothing to see).
    submit, _ = sample.wire("silent-upload")
    asked = raw_peer.declare(submit, REPLY_TIMEOUT_S)
    assert isinstance(asked, protocol.SendPixels), asked

    def drop_line() -> str | None:
        lines = [line for line in daemon.log_text().splitlines() if "silent for" in line]
        return lines[-1] if lines else None

    # The peer stays connected but never pings: after --client-timeout its jobs go.
    assert wait_until(lambda: drop_line() is not None, timeout_s=40)
    dropped_line = drop_line()
    assert dropped_line is not None and "silent-upload" in dropped_line
    assert client.status()["queued"] == 0  # only the peer had jobs waiting
    assert wait_until(lambda: client.status()["running"] == 0, timeout_s=40)
    # Each full job either sent its result before the silence was noticed or was dropped
    # (and so never counted, not even the one the worker was running): never both, never later.
    dropped_full = [job_id for job_id in full_jobs if f"'{job_id}'" in dropped_line]
    assert client.status()["finished"] - finished_before + len(dropped_full) == len(full_jobs)


def test_a_declared_job_whose_pixels_never_come_is_dropped_though_its_client_pings(
    daemon: DaemonProcess, client: DaemonClient, raw_peer: RawPeer
) -> None:
    submit, pixels = sample_image(91).wire("never-sent")
    asked = raw_peer.declare(submit, REPLY_TIMEOUT_S)
    assert isinstance(asked, protocol.SendPixels), asked
    assert client.status()["queued"] == 0

    # The peer stays in touch (a client that pings is not silent), but sends no pixels.
    answer: protocol.Message | None = None
    deadline = time.monotonic() + CLIENT_TIMEOUT_S + 10
    while answer is None and time.monotonic() < deadline:
        frames = raw_peer.ask(raw_peer.stamped(protocol.Ping()), timeout_s=0.5)
        answer = raw_peer.decoded(frames).message if frames is not None else None
    assert isinstance(answer, protocol.Error), answer
    assert (answer.code, answer.job) == (ErrorCode.UPLOAD_TIMEOUT, "never-sent")
    assert "Submit it again" in answer.message
    assert "no pixels" in daemon.log_text()

    # Pixels that come late for the dropped declaration are refused; only the declaration
    # went, not the client, so the same job can be submitted again.
    late = raw_peer.decoded(raw_peer.ask(raw_peer.stamped(pixels), REPLY_TIMEOUT_S, RawPeer.EVENTS))
    assert isinstance(late.message, protocol.Error)
    assert late.message.code == ErrorCode.UNKNOWN_JOB
    assert isinstance(raw_peer.submit(submit, pixels, REPLY_TIMEOUT_S), protocol.Accepted)


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((64, 64), np.uint16),
        ((64, 64, 4), np.uint8),
        ((64, 64, 3), np.float32),
        ((64, 64, 2), np.float16),
    ],
)
def test_remove_through_daemon_keeps_shape_dtype_and_unselected_pixels(
    daemon: DaemonProcess, shape: tuple[int, ...], dtype: type
) -> None:
    rng = np.random.default_rng(7)
    if np.issubdtype(dtype, np.integer):
        image = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    else:
        image = rng.random(shape).astype(dtype)
    hole = np.zeros(shape[:2], bool)
    hole[20:36, 24:40] = True
    filled, confidence = remove_through_daemon(
        image, hole, None, None, 4, None, daemon.connection_file
    )
    assert (filled.shape, filled.dtype) == (image.shape, image.dtype)
    np.testing.assert_array_equal(filled[~hole], image[~hole])
    assert confidence is not None and confidence.shape == shape[:2]
    assert (confidence[~hole] == 1.0).all()


def test_remove_through_daemon_matches_the_in_process_engine(daemon: DaemonProcess) -> None:
    from iic_engine import EngineLimits, Inpainter

    sample = sample_image(95, 96)
    avoid = np.zeros(sample.hole.shape, np.uint8)
    avoid[:, :8] = 255
    events: list[JobProgress] = []
    filled, confidence = remove_through_daemon(
        sample.image, sample.hole, avoid, None, 3, events.append, daemon.connection_file
    )
    engine = Inpainter(device="cpu", limits=EngineLimits(**FAST_ENGINE_LIMITS))
    expected = engine.remove(sample.image, sample.hole, avoid=avoid, iterations=3)
    # Thread counts may differ between the processes: allow one grey level of rounding.
    assert np.abs(filled.astype(int) - expected.image.astype(int)).max() <= 1
    assert confidence is not None
    np.testing.assert_allclose(confidence, expected.confidence, atol=1.5 / 255)
    assert [event.stage for event in events][-1] == "done"
    assert any(event.stage == "iteration" for event in events)
