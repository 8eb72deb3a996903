"""Replay protection: each connection's messages are bound to it and counted.

The hello is a mutual challenge. The client sends a fresh random `nonce`; the daemon answers with
a `welcome` signed with the secret that carries the client's nonce as `session` and a fresh nonce
of its own. From then on every message carries the *receiver's* nonce as `session` and the
sender's next sequence number as `seq`, and the receiver refuses one whose `session` is not its
nonce or whose `seq` is not above the last one it accepted. A signed message captured from one
connection therefore runs nowhere else, and not twice on its own (docs/protocol.md, "Sessions").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from iic_client import protocol
from iic_client.protocol import ErrorCode


def new_nonce() -> bytes:
    return secrets.token_bytes(protocol.NONCE_BYTES)


class Replayed(protocol.ProtocolError):
    """A signed message that belongs to another connection, or one already received."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            ErrorCode.REPLAYED,
            f"This request was not run: {reason}. It was sent on another connection or sent "
            "twice, which is what a replayed (captured and re-sent) message looks like. "
            "Reconnect and send it again; the plug-ins do this by themselves.",
        )


@dataclass
class Session:
    """One side of one connection: `own_nonce` is what the peer must send back as `session`,
    `peer_nonce` (empty until the peer's challenge is known) what this side sends."""

    secret: bytes
    own_nonce: bytes = field(default_factory=new_nonce)
    peer_nonce: bytes = b""
    sent: int = 0
    received: int = 0

    def encode(
        self, message: protocol.Message, message_id: str | None = None
    ) -> list[protocol.Blob]:
        """The message's frames, stamped with the peer's nonce and the next sequence number.
        Send them in the order they were encoded."""
        self.sent += 1
        return protocol.encode(
            self.secret, message, message_id, session=self.peer_nonce, seq=self.sent
        )

    def accept(self, envelope: protocol.Envelope) -> None:
        """Raise `Replayed` unless `envelope` is new on this connection; count it if it is."""
        if envelope.session is None or envelope.seq is None:
            raise protocol.ProtocolError(
                ErrorCode.BAD_FIELD, "The message has no 'session' and 'seq' (send hello first)."
            )
        if envelope.session != self.own_nonce:
            raise Replayed("it names another connection")
        if envelope.seq <= self.received:
            raise Replayed(f"its sequence number {envelope.seq} was already used")
        self.received = envelope.seq
