"""ZeroMQ CURVE on the daemon's socket, with keys derived from the connection file's secret.

The daemon's CURVE key pair comes from the secret, and a client needs the daemon's public key to
even start ZeroMQ's handshake. So a peer without the secret cannot deliver a single message to
the daemon (ZeroMQ drops it during the handshake, before buffering anything it sends), and a
process posing as the daemon cannot finish the handshake with a client, which therefore sends it
nothing at all. Clients use a fresh key pair each; the daemon needs no list of them.
"""

from __future__ import annotations

import hashlib
import hmac

import zmq
from zmq.utils import z85

SERVER_KEY_LABEL = b"iic-inpaint daemon CURVE key, protocol 2"
# A connection that has not finished ZeroMQ's handshake by then is closed, so idle or stuck
# connections cannot pile up until the daemon runs out of file descriptors.
DAEMON_HANDSHAKE_TIMEOUT_MS = 5_000


class CurveUnavailable(RuntimeError):
    """This pyzmq was built without CURVE (libsodium); the message says what to install."""


def daemon_keys(secret: bytes) -> tuple[bytes, bytes]:
    """(public, secret) Z85 CURVE keys of the daemon that wrote `secret`."""
    _require_curve()
    secret_key = z85.encode(hmac.new(secret, SERVER_KEY_LABEL, hashlib.sha256).digest())
    return zmq.curve_public(secret_key), secret_key


def secure_daemon_socket(socket: zmq.Socket, secret: bytes) -> None:
    """Make `socket` (before bind) a CURVE server only holders of `secret` can talk to."""
    public_key, secret_key = daemon_keys(secret)
    socket.curve_server = True
    socket.curve_publickey = public_key
    socket.curve_secretkey = secret_key
    socket.setsockopt(zmq.HANDSHAKE_IVL, DAEMON_HANDSHAKE_TIMEOUT_MS)


def secure_client_socket(socket: zmq.Socket, secret: bytes) -> None:
    """Make `socket` (before connect) a CURVE client of the daemon that wrote `secret`."""
    server_key, _ = daemon_keys(secret)
    public_key, secret_key = zmq.curve_keypair()
    socket.curve_serverkey = server_key
    socket.curve_publickey = public_key
    socket.curve_secretkey = secret_key
    # No handshake deadline on our side: the hello's own timeout decides, and a handshake that
    # fails only because the daemon closed it tells us the key is wrong (not that it is busy).
    socket.setsockopt(zmq.HANDSHAKE_IVL, 0)


def _require_curve() -> None:
    if not zmq.has("curve"):
        raise CurveUnavailable(
            f"This pyzmq ({zmq.pyzmq_version()}, libzmq {zmq.zmq_version()}) has no CURVE "
            "encryption, which the IIC Inpaint daemon requires. Install a pyzmq wheel from PyPI "
            "(pip install --force-reinstall pyzmq), or reinstall the plug-in."
        )
