"""The wire format, the fair queue and the connection file, without a daemon process."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import msgpack
import pytest
from daemon_process import REPO_ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.fair_queue import FairQueue, QueueFull
from iic_client import protocol
from iic_client.connection_file import (
    ConnectionInfo,
    read_connection_file,
    user_runtime_dir,
    write_connection_file,
)
from iic_client.protocol import ErrorCode
from iic_client.session import Replayed, Session

SECRET = bytes(range(32))
SMALL_LIMITS = protocol.DecodeLimits(max_message_bytes=1 << 16)
PIXELS_BLOBS = {"pixels": bytes(12), "hole": bytes([0, 255, 0, 0])}


def signed(header: bytes, *blobs: bytes) -> list[bytes]:
    return [protocol.sign(SECRET, header, *blobs), header, *blobs]


def signed_map(fields: dict[str, object], blobs: dict[str, bytes]) -> list[bytes]:
    """A signed message as a peer might hand-build it: `blobs` in frames, declared in the header."""
    declared = [[name, len(blob)] for name, blob in blobs.items()]
    header = msgpack.packb({**fields, "blobs": declared}, use_bin_type=True)
    return signed(header, *blobs.values())


def submit_map(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "v": protocol.PROTOCOL_VERSION,
        "kind": "submit",
        "id": "m1",
        "job": "j1",
        "width": 2,
        "height": 2,
        "channels": 3,
        "dtype": "uint8",
    }
    fields.update(overrides)
    return fields


def pixels_map(**overrides: object) -> dict[str, object]:
    """The header of a `pixels` message; its blobs go in frames (`PIXELS_BLOBS`)."""
    return {"v": protocol.PROTOCOL_VERSION, "kind": "pixels", "id": "m2", "job": "j1", **overrides}


def test_every_kind_survives_encode_and_decode() -> None:
    messages = [
        protocol.Hello([2], "krita", bytes(range(16))),
        protocol.Submit("j", 2, 1, 1, "uint8", 3, True, has_avoid=False, has_use=True),
        protocol.Pixels("j", b"ab", b"\x00\xff", None, b"\x01\x00"),
        protocol.Cancel("j"),
        protocol.Status(),
        protocol.Ping(),
    ]
    for message in messages:
        decoded = protocol.decode(SECRET, protocol.encode(SECRET, message), protocol.CLIENT_KINDS)
        assert decoded.message == message


def test_progress_fraction_sent_as_int_reads_as_float() -> None:
    frames = protocol.encode(SECRET, protocol.Progress("j", "iteration", 1, "Iteration 4 of 4", 0))
    assert protocol.decode(SECRET, frames, protocol.DAEMON_KINDS).message.fraction == 1.0


@pytest.mark.parametrize("secret", [b"", b"wrong" * 8, SECRET[:-1] + b"\x00"])
def test_wrong_or_missing_secret_is_unauthenticated(secret: bytes) -> None:
    frames = protocol.encode(secret, protocol.Status())
    with pytest.raises(protocol.Unauthenticated):
        protocol.decode(SECRET, frames, protocol.CLIENT_KINDS)


def test_unsigned_single_frame_is_unauthenticated() -> None:
    body = msgpack.packb(submit_map())
    with pytest.raises(protocol.Unauthenticated):
        protocol.decode(SECRET, [body], protocol.CLIENT_KINDS)


def test_the_whole_message_is_capped_before_its_header_is_unpacked() -> None:
    # 0xc1 is never valid msgpack: unpacking the header would say "malformed".
    blobs = [bytes(SMALL_LIMITS.max_message_bytes // 2 + 1)] * 2  # each under, both over
    with pytest.raises(protocol.ProtocolError) as raised:
        protocol.decode(SECRET, signed(b"\xc1", *blobs), protocol.CLIENT_KINDS, SMALL_LIMITS)
    assert raised.value.code == ErrorCode.MESSAGE_TOO_LARGE


def test_more_frames_than_a_submit_has_are_dropped_unread() -> None:
    frames = signed(msgpack.packb(submit_map()), *[bytes(8)] * (protocol.MAX_BLOBS + 1))
    with pytest.raises(protocol.Unauthenticated, match="frames"):
        protocol.decode(SECRET, frames, protocol.CLIENT_KINDS)


def test_blobs_arrive_as_views_of_their_frames_without_a_copy() -> None:
    pixels = bytearray(12)
    frames = [memoryview(frame) for frame in signed_map(pixels_map(), PIXELS_BLOBS)]
    frames[2] = memoryview(pixels)
    frames[0] = memoryview(protocol.sign(SECRET, frames[1], pixels, frames[3]))
    submit = protocol.decode(SECRET, frames, protocol.CLIENT_KINDS).message
    pixels[0] = 7  # the decoded field is the frame's memory itself
    assert submit.pixels[0] == 7 and isinstance(submit.pixels, memoryview)


@pytest.mark.parametrize(
    "declared",
    [
        [["pixels", 12]],  # one blob frame undeclared
        [["pixels", 12], ["hole", 5]],  # a size that is not the frame's
        [["pixels", 12], ["pixels", 4]],  # a field twice
        [["pixels", 12], ["job", 4]],  # not a blob field
    ],
)
def test_blob_frames_must_match_the_signed_header(declared: list[list[object]]) -> None:
    header = msgpack.packb({**pixels_map(), "blobs": declared})
    with pytest.raises(protocol.ProtocolError) as raised:
        protocol.decode(SECRET, signed(header, *PIXELS_BLOBS.values()), protocol.CLIENT_KINDS)
    assert raised.value.code == ErrorCode.MALFORMED


def test_pixels_inside_the_header_are_malformed() -> None:
    header = msgpack.packb({**pixels_map(), "pixels": bytes(1000), "hole": bytes(4)})
    with pytest.raises(protocol.ProtocolError) as raised:
        protocol.decode(SECRET, signed(header), protocol.CLIENT_KINDS)
    assert raised.value.code == ErrorCode.MALFORMED


# ---- sessions: replay protection ---------------------------------------------------------------


def opened_sessions() -> tuple[Session, Session]:
    """A client's and a daemon's session after the hello's exchange of nonces."""
    client, daemon = Session(SECRET), Session(SECRET)
    client.peer_nonce, daemon.peer_nonce = daemon.own_nonce, client.own_nonce
    return client, daemon


def received(frames: list[protocol.Blob], by: Session) -> protocol.Envelope:
    envelope = protocol.decode(SECRET, frames, protocol.CLIENT_KINDS)
    by.accept(envelope)
    return envelope


def test_a_session_accepts_each_message_once_and_in_order() -> None:
    client, daemon = opened_sessions()
    first, second = client.encode(protocol.Status()), client.encode(protocol.Ping())
    assert received(first, daemon).seq == 1
    assert received(second, daemon).seq == 2
    for replay in (first, second):
        with pytest.raises(Replayed) as raised:
            received(replay, daemon)
        assert raised.value.code == ErrorCode.REPLAYED


def test_a_message_stamped_for_another_connection_is_replayed() -> None:
    client, _ = opened_sessions()
    _, other_daemon = opened_sessions()
    with pytest.raises(Replayed, match="another connection"):
        received(client.encode(protocol.Cancel("j")), other_daemon)


def test_an_unstamped_message_has_no_session() -> None:
    _, daemon = opened_sessions()
    with pytest.raises(protocol.ProtocolError) as raised:
        received(protocol.encode(SECRET, protocol.Status()), daemon)
    assert raised.value.code == ErrorCode.BAD_FIELD


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"width": "2"}, ErrorCode.BAD_FIELD),
        ({"width": True}, ErrorCode.BAD_FIELD),
        ({"seq": "1"}, ErrorCode.BAD_FIELD),
        ({"session": "not bytes"}, ErrorCode.BAD_FIELD),
        ({"kind": "format_disk"}, ErrorCode.UNKNOWN_KIND),
        ({"v": 99}, ErrorCode.UNSUPPORTED_VERSION),
        ({"v": 1}, ErrorCode.UNSUPPORTED_VERSION),
        ({"id": 7}, ErrorCode.BAD_FIELD),
    ],
)
def test_ill_typed_fields_get_stable_codes(overrides: dict[str, object], code: str) -> None:
    with pytest.raises(protocol.ProtocolError) as raised:
        protocol.decode(SECRET, signed_map(submit_map(**overrides), {}), protocol.CLIENT_KINDS)
    assert raised.value.code == code
    assert raised.value.job == "j1"


def test_missing_field_is_named() -> None:
    with pytest.raises(protocol.ProtocolError, match="'hole'"):
        protocol.decode(
            SECRET, signed_map(pixels_map(), {"pixels": bytes(12)}), protocol.CLIENT_KINDS
        )


VALID_SUBMIT = protocol.Submit("j", 2, 2, 3, "uint8", has_avoid=True)
VALID_PIXELS = protocol.Pixels("j", bytes(12), bytes(4), avoid=bytes(4))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"dtype": "int64"}, ErrorCode.BAD_DTYPE),
        ({"channels": 5}, ErrorCode.BAD_FIELD),
        ({"width": 0}, ErrorCode.BAD_FIELD),
        ({"width": 2000, "height": 2000}, ErrorCode.TOO_MANY_PIXELS),
        ({"iterations": 0}, ErrorCode.BAD_FIELD),
        ({"texture": "smudge"}, ErrorCode.BAD_FIELD),
        ({"grow_px": -1}, ErrorCode.BAD_FIELD),
        ({"grow_px": protocol.MAX_GROW_PX + 1}, ErrorCode.BAD_FIELD),
    ],
)
def test_the_declared_job_is_checked_before_any_pixel(change: dict[str, object], code: str) -> None:
    protocol.check_submit(VALID_SUBMIT, max_pixels=1_000_000)
    with pytest.raises(protocol.ProtocolError) as raised:
        protocol.check_submit(replace(VALID_SUBMIT, **change), max_pixels=1_000_000)  # type: ignore[arg-type]
    assert raised.value.code == code


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"pixels": bytes(11)}, ErrorCode.SIZE_MISMATCH),
        ({"hole": bytes(3)}, ErrorCode.SIZE_MISMATCH),
        ({"avoid": bytes(5)}, ErrorCode.SIZE_MISMATCH),
        ({"avoid": None}, ErrorCode.BAD_FIELD),  # declared, not sent
        ({"use": bytes(4)}, ErrorCode.BAD_FIELD),  # sent, not declared
    ],
)
def test_pixels_must_be_what_the_submit_declared(change: dict[str, object], code: str) -> None:
    protocol.check_pixels(VALID_SUBMIT, VALID_PIXELS)
    with pytest.raises(protocol.ProtocolError) as raised:
        protocol.check_pixels(VALID_SUBMIT, replace(VALID_PIXELS, **change))  # type: ignore[arg-type]
    assert raised.value.code == code


# ---- fuzzing the decoder: every input is a message, a ProtocolError or Unauthenticated ------


def decodes_or_refuses(frames: list[bytes]) -> None:
    with contextlib.suppress(protocol.ProtocolError, protocol.Unauthenticated):
        protocol.decode(SECRET, frames, protocol.CLIENT_KINDS, SMALL_LIMITS)


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(body: bytes) -> None:
    decodes_or_refuses(signed(body))
    decodes_or_refuses([body])
    decodes_or_refuses([body, body, body])


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_fuzz_truncated_msgpack(data: st.DataObject) -> None:
    header = signed_map(pixels_map(), PIXELS_BLOBS)[1]
    cut = data.draw(st.integers(0, len(header) - 1))
    decodes_or_refuses(signed(header[:cut], *PIXELS_BLOBS.values()))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(protocol.CLIENT_KINDS)), st.dictionaries(st.text(), msgpack_values))
def test_fuzz_wrong_field_types(kind: str, fields: dict[str, object]) -> None:
    body_map = {**fields, "v": protocol.PROTOCOL_VERSION, "kind": kind, "id": "fuzz"}
    decodes_or_refuses(signed(msgpack.packb(body_map, use_bin_type=True)))
    decodes_or_refuses(signed(msgpack.packb(body_map, use_bin_type=True), b"\x00" * 12))


@settings(max_examples=50, deadline=None)
@given(st.sampled_from([b"\xc6", b"\xdb", b"\xdd", b"\xdf"]), st.integers(2**20, 2**32 - 1))
def test_fuzz_huge_declared_sizes(header: bytes, declared: int) -> None:
    # bin32, str32, array32, map32 claiming up to 4 GiB with only a few bytes behind them.
    body = msgpack.packb({"v": protocol.PROTOCOL_VERSION, "kind": "submit", "id": "x"})[:-1]
    decodes_or_refuses(signed(header + declared.to_bytes(4, "big") + b"\x00" * 8))
    decodes_or_refuses(signed(body[:1] + header + declared.to_bytes(4, "big")))


# ---- fair queue -------------------------------------------------------------------------------


def test_busy_client_does_not_starve_another() -> None:
    queue: FairQueue[str] = FairQueue(max_length=10)
    for index in range(5):
        queue.put(b"krita", f"k{index}", f"k{index}")
    assert queue.take(timeout_s=0) is not None  # k0 starts running
    queue.put(b"gimp", "g0", "g0")
    assert queue.positions()[(b"gimp", "g0")] == 1
    order = [queue.take(timeout_s=0)[2] for _ in range(5)]  # type: ignore[index]
    assert order == ["g0", "k1", "k2", "k3", "k4"]


def test_queue_positions_interleave_clients() -> None:
    queue: FairQueue[str] = FairQueue(max_length=10)
    for client, count in ((b"a", 3), (b"b", 2)):
        for index in range(count):
            queue.put(client, f"{client.decode()}{index}", "")
    positions = queue.positions()
    taken = [queue.take(timeout_s=0) for _ in range(5)]
    assert [(t[0], t[1]) for t in taken if t] == sorted(positions, key=positions.__getitem__)
    assert [t[1] for t in taken if t] == ["a0", "b0", "a1", "b1", "a2"]


def test_queue_is_bounded_and_cancel_frees_a_place() -> None:
    queue: FairQueue[str] = FairQueue(max_length=2)
    queue.put(b"a", "1", "")
    queue.put(b"b", "2", "")
    with pytest.raises(QueueFull):
        queue.put(b"c", "3", "")
    assert queue.remove(b"a", "1") == ""
    queue.put(b"c", "3", "")
    assert queue.remove_client(b"b") == [""]
    assert len(queue) == 1


# ---- connection file --------------------------------------------------------------------------


def test_connection_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "runtime" / "daemon.json"
    info = ConnectionInfo("tcp://127.0.0.1:1", SECRET.hex(), 1, "hmac-sha256", os.getpid())
    write_connection_file(path, info)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_connection_file(path) == info


def test_runtime_dir_follows_a_private_xdg_runtime_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = tmp_path / "xdg"
    private.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(private))
    assert user_runtime_dir() == private / "iic-inpaint"
    private.chmod(0o755)  # not private: platformdirs (and we) refuse it
    assert user_runtime_dir() != private / "iic-inpaint"


def test_hello_from_a_newer_or_older_client_is_still_read() -> None:
    for version in (1, protocol.PROTOCOL_VERSION + 1):
        body = msgpack.packb({"v": version, "kind": "hello", "id": "h", "versions": [version]})
        hello = protocol.decode(SECRET, signed(body), protocol.CLIENT_KINDS).message
        assert hello == protocol.Hello([version], "", b"")


def test_client_imports_without_numpy_or_torch() -> None:
    # Editor plugins vendor iic_client into a Python that has neither.
    code = (
        "import sys; sys.modules['numpy'] = None; sys.modules['torch'] = None; "
        "import iic_client; iic_client.RemovalRequest(1, 1, 1, 'uint8', b'x', b'\\xff')"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


@pytest.mark.parametrize(
    ("platform", "variable", "expected"),
    [
        ("darwin", "HOME", "{base}/Library/Caches/TemporaryItems/iic-inpaint"),
        ("win32", "LOCALAPPDATA", "{base}/Temp/iic-inpaint"),
    ],
)
def test_runtime_dir_on_macos_and_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str, variable: str, expected: str
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setenv(variable, str(tmp_path))
    assert user_runtime_dir() == Path(expected.format(base=tmp_path))


def test_the_protocol_and_the_engine_agree_on_choices_defaults_and_limits() -> None:
    """The client side keeps its own copies (an editor's Python has no torch): a change on
    one side only would make the daemon refuse what a client offers, or the reverse."""
    from iic_engine import removal, selection_growth

    assert protocol.TEXTURES == removal.TEXTURES
    assert protocol.DEFAULT_ITERATIONS == removal.DEFAULT_ITERATIONS
    assert protocol.MAX_ITERATIONS == removal.MAX_ITERATIONS
    assert protocol.MAX_GROW_PX == selection_growth.MAX_GROW_PX
    defaults = protocol.Submit("j", 1, 1, 3, "uint8")
    assert defaults.texture == removal.DEFAULT_TEXTURE
    assert defaults.iterations == removal.DEFAULT_ITERATIONS
