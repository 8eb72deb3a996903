"""The wire format between editor sessions and the daemon (docs/protocol.md is the reference).

Every message is ZeroMQ frames ``[signature, header, blob…]``:

- ``header`` is one msgpack map: the envelope ``{"v", "kind", "id", "session", "seq", "blobs"}``
  plus the small fields of that kind. Never pickle.
- each ``blob`` is the raw bytes of one image or mask field (``blobs`` in the header names them
  and their sizes), so they are never copied into or out of msgpack.
- ``signature`` is HMAC-SHA256 of the header and the blobs with the secret from the connection
  file, as Jupyter signs kernel messages. A message whose signature does not match is dropped.

Each kind is a frozen dataclass below; ``encode`` and ``decode`` are the only ways in and out, and
``decode`` checks the frame count, the sizes, the signature and every field's type before anything
else sees it. Replay protection (``session``, ``seq``) lives in `iic_client.session`.
Standard library and msgpack only: this module is vendored into editor plugins.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import types
import typing
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

import msgpack

# Version 2: blobs in their own frames, CURVE transport, hello nonces, per-session sequence.
PROTOCOL_VERSION = 2
SUPPORTED_VERSIONS: tuple[int, ...] = (2,)
SIGNATURE_SCHEME = "hmac-sha256"
SECRET_BYTES = 32
NONCE_BYTES = 16
# The most blob frames a message has (a submit's pixels, hole, avoid and use).
MAX_BLOBS = 4
# A header carries ids, names, messages and stats, never pixels.
MAX_HEADER_BYTES = 256 * 1024
MAX_HEADER_BIN_BYTES = 64

# Wire dtypes of image pixels (little-endian, interleaved (H,W,C), row-major) and their sizes.
DTYPE_ITEMSIZE: dict[str, int] = {"uint8": 1, "uint16": 2, "float16": 2, "float32": 4}
CHANNEL_COUNTS: tuple[int, ...] = (1, 2, 3, 4)

# Defaults the daemon announces in `welcome`; the daemon may be started with others.
DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
# Short strings (ids, names, codes, messages) never need more than this.
MAX_STRING_BYTES = 64 * 1024
MAX_CONTAINER_ITEMS = 256
# Algorithm 1's T at test time (§4.1), and its cap: it converges in a handful of iterations,
# more only costs time. The engine's own copies (iic_engine.removal) must agree: the client
# side cannot import the engine (no torch in an editor), a test ties them.
DEFAULT_ITERATIONS = 4
MAX_ITERATIONS = 16
# How the fill gets its texture: borrowed from the photo ("patches", the default) or the
# paper's learned upsampler alone ("learned"); the engine's `texture` argument.
TEXTURES = ("patches", "learned")
# Growing the selection covers an object's soft fringe; past this it removes the scene.
MAX_GROW_PX = 256


class ErrorCode:
    """Stable codes of `error` replies. Plugins may switch on them; never rename one."""

    MALFORMED = "malformed"  # the body is not a msgpack map
    BAD_FIELD = "bad_field"  # a field is missing, has the wrong type or an impossible value
    UNKNOWN_KIND = "unknown_kind"
    UNSUPPORTED_VERSION = "unsupported_version"
    MESSAGE_TOO_LARGE = "message_too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    SIZE_MISMATCH = "size_mismatch"  # byte lengths do not match width × height × channels × dtype
    BAD_DTYPE = "bad_dtype"
    BUSY = "busy"  # the queue is full
    DUPLICATE_JOB = "duplicate_job"
    UNKNOWN_JOB = "unknown_job"
    UPLOAD_TIMEOUT = "upload_timeout"  # a job's pixels did not follow its submit in time
    CANCELLED = "cancelled"
    OUT_OF_MEMORY = "out_of_memory"
    INTERNAL = "internal"  # an unexpected failure inside the daemon; the daemon keeps running
    SHUTTING_DOWN = "shutting_down"  # the daemon stopped before the job finished
    # A signed message from another connection, or one already received: not run.
    REPLAYED = "replayed"
    # Raised by the client itself, never sent by the daemon.
    TIMEOUT = "timeout"
    NO_REPLY = "no_reply"
    DAEMON_NOT_RUNNING = "daemon_not_running"
    DAEMON_VANISHED = "daemon_vanished"
    UNSAFE_CONNECTION_FILE = "unsafe_connection_file"  # another user's, or readable by others
    NO_CURVE = "no_curve"  # this pyzmq cannot encrypt (built without libsodium)


class ProtocolError(ValueError):
    """An authenticated message the daemon cannot accept; answered with an `error` reply."""

    def __init__(
        self, code: str, message: str, *, job: str | None = None, reply_to: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.job = job
        self.reply_to = reply_to


class Unauthenticated(ValueError):
    """A message without a valid signature: dropped and logged, never answered."""


@dataclass(frozen=True)
class DecodeLimits:
    """Bounds checked before and while unpacking a message; `max_message_bytes` is the sum of
    its blobs."""

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_string_bytes: int = MAX_STRING_BYTES
    max_container_items: int = MAX_CONTAINER_ITEMS


# Image and mask bytes: `bytes` when built here, a zero-copy view of the received frame in decode.
Blob = bytes | memoryview


# ---- client → daemon -------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    """`nonce`: the client's challenge, NONCE_BYTES random bytes; the daemon's replies carry it."""

    KIND: ClassVar[str] = "hello"
    versions: list[int]
    client_name: str = ""
    nonce: bytes = b""


@dataclass(frozen=True)
class Submit:
    """One removal, declared: the daemon checks the shape and answers `send_pixels` (or an
    error) before a single pixel travels; the image then follows as `Pixels`."""

    KIND: ClassVar[str] = "submit"
    job: str
    width: int
    height: int
    channels: int
    dtype: str
    iterations: int = DEFAULT_ITERATIONS
    want_confidence: bool = False
    has_avoid: bool = False
    has_use: bool = False
    texture: str = "patches"
    grow_px: int = 0


@dataclass(frozen=True)
class Pixels:
    """The image of a submitted job: `pixels` interleaved (H,W,C); `hole`, `avoid`, `use` H×W
    uint8 (0..255)."""

    KIND: ClassVar[str] = "pixels"
    job: str
    pixels: Blob
    hole: Blob
    avoid: Blob | None = None
    use: Blob | None = None


@dataclass(frozen=True)
class Cancel:
    KIND: ClassVar[str] = "cancel"
    job: str


@dataclass(frozen=True)
class Status:
    KIND: ClassVar[str] = "status"


@dataclass(frozen=True)
class Ping:
    """Sent by a client while it has jobs, so the daemon knows it is still there."""

    KIND: ClassVar[str] = "ping"


# ---- daemon → client -------------------------------------------------------------------------


@dataclass(frozen=True)
class Welcome:
    """`nonce`: the daemon's challenge; the client's later messages carry it as `session`."""

    KIND: ClassVar[str] = "welcome"
    version: int
    device: str
    model_version: str
    limits: dict[str, Any]
    daemon_pid: int
    reply_to: str = ""
    nonce: bytes = b""


@dataclass(frozen=True)
class SendPixels:
    """The declared job fits: send its `Pixels`."""

    KIND: ClassVar[str] = "send_pixels"
    job: str


@dataclass(frozen=True)
class Accepted:
    KIND: ClassVar[str] = "accepted"
    job: str
    queue_position: int


@dataclass(frozen=True)
class Progress:
    """`stage` "queued" while waiting (queue_position ≥ 1), else the engine's (position 0)."""

    KIND: ClassVar[str] = "progress"
    job: str
    stage: str
    fraction: float
    message: str
    queue_position: int


@dataclass(frozen=True)
class Result:
    """`confidence` is H×W uint8 (0..255 for 0..1) when asked for."""

    KIND: ClassVar[str] = "result"
    job: str
    width: int
    height: int
    channels: int
    dtype: str
    pixels: Blob
    confidence: Blob | None
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Error:
    KIND: ClassVar[str] = "error"
    code: str
    message: str
    job: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True)
class Heartbeat:
    """Sent by the daemon every heartbeat interval to clients with jobs, and in answer to `ping`."""

    KIND: ClassVar[str] = "heartbeat"


@dataclass(frozen=True)
class StatusReply:
    KIND: ClassVar[str] = "status_reply"
    device: str
    queued: int
    running: int  # jobs the worker is busy with (a cancelled one until the engine stops)
    clients: int
    finished: int  # results sent since the daemon started
    reply_to: str = ""


ClientMessage = Hello | Submit | Pixels | Cancel | Status | Ping
DaemonMessage = (
    Welcome | SendPixels | Accepted | Progress | Result | Error | Heartbeat | StatusReply
)
Message = ClientMessage | DaemonMessage

CLIENT_KINDS: dict[str, type] = {
    cls.KIND: cls for cls in (Hello, Submit, Pixels, Cancel, Status, Ping)
}
DAEMON_KINDS: dict[str, type] = {
    cls.KIND: cls
    for cls in (Welcome, SendPixels, Accepted, Progress, Result, Error, Heartbeat, StatusReply)
}


@dataclass(frozen=True)
class Envelope:
    """A decoded message with the envelope's id (for `reply_to`) and its replay stamp: the
    receiver's nonce as `session` and the sender's sequence number `seq` (None in a hello)."""

    message_id: str
    message: Any
    session: bytes | None = None
    seq: int | None = None


def new_id() -> str:
    return uuid.uuid4().hex


def sign(secret: bytes, *parts: Blob) -> bytes:
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.digest()


def encode(
    secret: bytes,
    message: Message,
    message_id: str | None = None,
    *,
    session: bytes | None = None,
    seq: int | None = None,
    version: int = PROTOCOL_VERSION,
) -> list[Blob]:
    """Frames ``[signature, header, blob…]`` of one message; `session` and `seq` are its replay
    stamp (see `iic_client.session`), `version` only differs to refuse an older peer's hello."""
    header_map: dict[str, Any] = {"v": version, "kind": message.KIND, "id": message_id or new_id()}
    if session is not None:
        header_map["session"], header_map["seq"] = session, seq
    blob_names = _blob_fields(type(message))  # type: ignore[arg-type]  # dataclass types hash
    blobs: list[tuple[str, Blob]] = []
    for item in dataclasses.fields(message):
        value = getattr(message, item.name)
        if item.name not in blob_names:
            header_map[item.name] = value
        elif value is not None:
            blobs.append((item.name, value))
    header_map["blobs"] = [[name, memoryview(value).nbytes] for name, value in blobs]
    header = msgpack.packb(header_map, use_bin_type=True)
    values = [value for _, value in blobs]
    return [sign(secret, header, *values), header, *values]


def decode(
    secret: bytes,
    frames: Sequence[Blob],
    kinds: dict[str, type],
    limits: DecodeLimits = DecodeLimits(),
) -> Envelope:
    """Check and unpack ``[signature, header, blob…]``; blobs stay views of their frames.

    Raises `Unauthenticated` (drop it) when the frames are not a signed message, and
    `ProtocolError` (answer it) when a signed message is too large, malformed or ill-typed.
    """
    if not 2 <= len(frames) <= 2 + MAX_BLOBS:
        raise Unauthenticated(f"expected 2 to {2 + MAX_BLOBS} frames, got {len(frames)}")
    signature, header, blobs = bytes(frames[0]), frames[1], frames[2:]
    if len(header) > MAX_HEADER_BYTES:
        raise Unauthenticated(f"a {len(header)}-byte header")
    if not hmac.compare_digest(signature, sign(secret, header, *blobs)):
        raise Unauthenticated("signature does not match")
    total = sum(len(blob) for blob in blobs)
    if total > limits.max_message_bytes:
        raise ProtocolError(
            ErrorCode.MESSAGE_TOO_LARGE,
            f"The message is {total / 1e6:.0f} MB; this daemon accepts at most "
            f"{limits.max_message_bytes / 1e6:.0f} MB. Work on a smaller selection or image.",
        )
    body_map = _unpack(header, limits)
    message_id = body_map.get("id")
    reply_to = message_id if isinstance(message_id, str) else None
    job = body_map.get("job")
    job = job if isinstance(job, str) else None
    version = body_map.get("v")
    # `hello` is how versions are negotiated, so it is read whatever its `v`; its fields never change.
    if version not in SUPPORTED_VERSIONS and body_map.get("kind") != Hello.KIND:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"Protocol version {version!r} is not spoken here (supported: "
            f"{list(SUPPORTED_VERSIONS)}). Update the plugin and the daemon to the same release.",
            job=job,
            reply_to=reply_to,
        )
    if reply_to is None:
        raise ProtocolError(ErrorCode.BAD_FIELD, "The message has no string 'id'.", job=job)
    kind = body_map.get("kind")
    cls = kinds.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(
            ErrorCode.UNKNOWN_KIND,
            f"Unknown message kind {kind!r}. Update the plugin and the daemon to the same release.",
            job=job,
            reply_to=reply_to,
        )
    try:
        blob_values = _blob_values(cls, body_map.get("blobs", []), blobs)
        session = _checked("session", body_map.get("session"), bytes | None)
        seq = _checked("seq", body_map.get("seq"), int | None)
        return Envelope(reply_to, _build(cls, body_map, blob_values), session, seq)
    except ProtocolError as error:
        error.job, error.reply_to = job, reply_to
        raise


@functools.cache
def _blob_fields(cls: type) -> frozenset[str]:
    """Fields sent as frames of their own: those typed `Blob`."""
    hints = typing.get_type_hints(cls)
    return frozenset(
        item.name for item in dataclasses.fields(cls) if memoryview in _options(hints[item.name])
    )


def _blob_values(cls: type, declared: Any, blobs: Sequence[Blob]) -> dict[str, Blob]:
    """The blob frames by field name, as the (signed) header's `blobs` list declares them."""
    names = _blob_fields(cls)
    if not isinstance(declared, list) or len(declared) != len(blobs):
        raise ProtocolError(ErrorCode.MALFORMED, "The header's 'blobs' does not match the frames.")
    values: dict[str, Blob] = {}
    for entry, blob in zip(declared, blobs, strict=True):
        if not (isinstance(entry, list) and len(entry) == 2 and entry[0] in names):
            raise ProtocolError(ErrorCode.MALFORMED, f"Unexpected blob {entry!r} in the header.")
        name, size = entry
        if name in values or size != len(blob):
            raise ProtocolError(
                ErrorCode.MALFORMED, f"The blob '{name}' is repeated or not {size!r} bytes."
            )
        values[name] = blob
    return values


def _unpack(body: Blob, limits: DecodeLimits) -> dict[str, Any]:
    try:
        unpacked = msgpack.unpackb(
            body,
            raw=False,
            strict_map_key=True,
            ext_hook=_refuse_ext,
            max_bin_len=MAX_HEADER_BIN_BYTES,
            max_str_len=limits.max_string_bytes,
            max_array_len=limits.max_container_items,
            max_map_len=limits.max_container_items,
            max_ext_len=0,
        )
    except Exception as error:  # msgpack raises many types for bad input; all mean "malformed"
        raise ProtocolError(
            ErrorCode.MALFORMED, f"The message body is not valid msgpack ({error})."
        ) from None
    if not isinstance(unpacked, dict):
        raise ProtocolError(ErrorCode.MALFORMED, "The message body is not a msgpack map.")
    return unpacked


def _refuse_ext(code: int, data: bytes) -> None:
    raise ValueError(f"msgpack extension type {code} is not allowed")


def _build(cls: type, body_map: dict[str, Any], blob_values: dict[str, Blob]) -> Any:
    hints = typing.get_type_hints(cls)
    blob_names = _blob_fields(cls)
    values: dict[str, Any] = dict(blob_values)
    for item in dataclasses.fields(cls):
        if item.name in blob_names:
            if item.name not in values:  # a None blob is not sent
                if type(None) not in _options(hints[item.name]):
                    raise ProtocolError(ErrorCode.BAD_FIELD, f"The field '{item.name}' is missing.")
                values[item.name] = None
            continue
        if item.name not in body_map:
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                raise ProtocolError(ErrorCode.BAD_FIELD, f"The field '{item.name}' is missing.")
            continue
        values[item.name] = _checked(item.name, body_map[item.name], hints[item.name])
    return cls(**values)


def _checked(name: str, value: Any, expected: Any) -> Any:
    """`value` if it has the `expected` type (ints are accepted for floats), else BAD_FIELD."""
    for option in _options(expected):
        if option is type(None) and value is None:
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option in (str, bytes, bool) and type(value) is option:
            return value
        if typing.get_origin(option) is list and isinstance(value, list):
            (item_type,) = typing.get_args(option)
            return [_checked(name, item, item_type) for item in value]
        if typing.get_origin(option) is dict and isinstance(value, dict):
            return value
    raise ProtocolError(
        ErrorCode.BAD_FIELD,
        f"The field '{name}' has type {type(value).__name__}, expected {_type_name(expected)}.",
    )


def _options(annotation: Any) -> tuple[Any, ...]:
    """The types a (possibly union) annotation allows."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation)


def check_submit(submit: Submit, max_pixels: int) -> None:
    """Raise `ProtocolError` unless the declared shape, dtype and iterations are acceptable.

    Both the client (before sending) and the daemon (before asking for any pixel) call this.
    """
    width, height, channels, dtype = submit.width, submit.height, submit.channels, submit.dtype
    if width <= 0 or height <= 0:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"The image is {width}×{height}: nothing to fill.")
    if width * height > max_pixels:
        raise ProtocolError(
            ErrorCode.TOO_MANY_PIXELS,
            f"The image is {width}×{height} ({width * height / 1e6:.1f} megapixels); this daemon "
            f"accepts at most {max_pixels / 1e6:.1f} megapixels. Crop or scale the image first, "
            f"or restart the daemon with a higher limit: iic-inpaint serve --max-pixels "
            f"{width * height}.",
        )
    if dtype not in DTYPE_ITEMSIZE:
        raise ProtocolError(
            ErrorCode.BAD_DTYPE,
            f"Pixel type {dtype!r} is not supported; send one of {sorted(DTYPE_ITEMSIZE)}.",
        )
    if channels not in CHANNEL_COUNTS:
        raise ProtocolError(
            ErrorCode.BAD_FIELD,
            f"The image has {channels} channels; grey, grey+alpha, RGB and RGBA (1–4) work.",
        )
    if not 1 <= submit.iterations <= MAX_ITERATIONS:
        raise ProtocolError(
            ErrorCode.BAD_FIELD,
            f"iterations is {submit.iterations}; choose between 1 and {MAX_ITERATIONS}.",
        )
    if submit.texture not in TEXTURES:
        raise ProtocolError(
            ErrorCode.BAD_FIELD,
            f"texture is {submit.texture!r}; choose {' or '.join(map(repr, TEXTURES))}.",
        )
    if not 0 <= submit.grow_px <= MAX_GROW_PX:
        raise ProtocolError(
            ErrorCode.BAD_FIELD,
            f"grow_px is {submit.grow_px}; choose between 0 and {MAX_GROW_PX} pixels.",
        )


def check_pixels(submit: Submit, pixels: Pixels) -> None:
    """Raise `ProtocolError` unless `pixels` has the byte lengths and masks `submit` declared."""
    width, height, channels, dtype = submit.width, submit.height, submit.channels, submit.dtype
    expected = width * height * channels * DTYPE_ITEMSIZE[dtype]
    if len(pixels.pixels) != expected:
        raise ProtocolError(
            ErrorCode.SIZE_MISMATCH,
            f"The pixels are {len(pixels.pixels)} bytes but {width}×{height}×{channels} {dtype} "
            f"needs {expected}. Check the image's depth and channel count.",
        )
    declared = {"hole": True, "avoid": submit.has_avoid, "use": submit.has_use}
    for name, mask in (("hole", pixels.hole), ("avoid", pixels.avoid), ("use", pixels.use)):
        if (mask is not None) != declared[name]:
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"The {name} mask was {'not ' if declared[name] else ''}declared in the submit.",
            )
        if mask is not None and len(mask) != width * height:
            raise ProtocolError(
                ErrorCode.SIZE_MISMATCH,
                f"The {name} mask is {len(mask)} bytes but a {width}×{height} mask needs "
                f"{width * height} (one uint8 per pixel).",
            )
