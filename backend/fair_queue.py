"""The queue of waiting removals, fair across editor sessions.

Each client (one editor session, named by its ZeroMQ identity) has its own line. The next job
comes from the client served least recently, so a session that queued five removals cannot make
another session's single removal wait behind all five. The total length is bounded.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import Generic, TypeVar

Item = TypeVar("Item")

# A client never served sorts before every client served at least once.
NEVER_SERVED = -1


class QueueFull(Exception):
    """The queue already holds its maximum number of jobs."""


class FairQueue(Generic[Item]):
    """Thread-safe: the daemon's loop adds and removes, device workers take."""

    def __init__(self, max_length: int) -> None:
        self._max_length = max_length
        self._lines: dict[bytes, deque[tuple[str, Item]]] = {}
        self._last_served: dict[bytes, int] = {}
        self._arrival: dict[bytes, int] = {}
        self._clock = itertools.count()
        self._changed = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        with self._changed:
            return sum(len(line) for line in self._lines.values())

    def put(self, client: bytes, job_id: str, item: Item) -> None:
        with self._changed:
            if sum(len(line) for line in self._lines.values()) >= self._max_length:
                raise QueueFull(f"{self._max_length} jobs are already waiting")
            if client not in self._lines:
                self._lines[client] = deque()
                self._arrival[client] = next(self._clock)
            self._lines[client].append((job_id, item))
            self._changed.notify()

    def take(self, timeout_s: float | None = None) -> tuple[bytes, str, Item] | None:
        """The next job by fairness; None on timeout or once closed."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._closed or self._has_jobs(), timeout_s):
                return None
            if self._closed:
                return None
            client = self._next_client()
            job_id, item = self._lines[client].popleft()
            self._last_served[client] = next(self._clock)
            if not self._lines[client]:
                del self._lines[client]
            return client, job_id, item

    def remove(self, client: bytes, job_id: str) -> Item | None:
        """Take one waiting job out (cancelled); None if it is not waiting."""
        with self._changed:
            line = self._lines.get(client, deque())
            for entry in line:
                if entry[0] == job_id:
                    line.remove(entry)
                    if not line:
                        del self._lines[client]
                    return entry[1]
            return None

    def remove_client(self, client: bytes) -> list[Item]:
        """Take out every waiting job of a client that went away."""
        with self._changed:
            self._last_served.pop(client, None)
            self._arrival.pop(client, None)
            return [item for _, item in self._lines.pop(client, deque())]

    def positions(self) -> dict[tuple[bytes, str], int]:
        """(client, job id) → 1-based position in the order jobs will be taken."""
        with self._changed:
            remaining = {client: list(line) for client, line in self._lines.items()}
            last_served = dict(self._last_served)
            order: dict[tuple[bytes, str], int] = {}
            position = itertools.count(1)
            while remaining:
                client = min(remaining, key=lambda c: self._priority(c, last_served))
                job_id, _ = remaining[client].pop(0)
                order[(client, job_id)] = next(position)
                last_served[client] = max(last_served.values(), default=0) + 1
                if not remaining[client]:
                    del remaining[client]
            return order

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _has_jobs(self) -> bool:
        return bool(self._lines)

    def _next_client(self) -> bytes:
        return min(self._lines, key=lambda c: self._priority(c, self._last_served))

    def _priority(self, client: bytes, last_served: dict[bytes, int]) -> tuple[int, int]:
        return (last_served.get(client, NEVER_SERVED), self._arrival.get(client, 0))
