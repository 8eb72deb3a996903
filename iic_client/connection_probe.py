"""Why a daemon did not answer the hello: nothing listening, a key it rejects, or busy.

The difference matters to the person: "not running" makes a plug-in start a daemon, which is
wrong when one is running but has its hands full (too many connections open, say). ZeroMQ's
socket monitor tells them apart while the client connects.
"""

from __future__ import annotations

import enum

import zmq
from zmq.utils.monitor import recv_monitor_message

WATCHED_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
HANDSHAKE_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
    zmq.EVENT_HANDSHAKE_FAILED_AUTH,
)


class Silence(enum.Enum):
    NOTHING_LISTENS = "nothing listens at the endpoint"
    KEY_REJECTED = "the daemon closed the handshake: it does not hold this file's secret"
    BUSY = "connected (or waiting to), but the daemon has not answered"


class ConnectionProbe:
    """Records `socket`'s connection events from before `connect` until `close`."""

    def __init__(self, socket: zmq.Socket) -> None:
        self._socket = socket
        self._monitor = socket.get_monitor_socket(WATCHED_EVENTS)
        self._seen: set[int] = set()

    def silence(self) -> Silence:
        """Why nothing came back, judged from the events so far."""
        while self._monitor.poll(0):
            self._seen.add(int(recv_monitor_message(self._monitor)["event"]))
        if any(event in self._seen for event in HANDSHAKE_FAILURES):
            return Silence.KEY_REJECTED
        if zmq.EVENT_CONNECT_RETRIED in self._seen and zmq.EVENT_CONNECTED not in self._seen:
            return Silence.NOTHING_LISTENS
        return Silence.BUSY

    def close(self) -> None:
        self._socket.disable_monitor()
        self._monitor.close(linger=0)
