"""`iic-inpaint serve` / `python -m backend`: start the daemon and run it until stopped.

Order matters: take the single-instance lock (a second daemon stops here), load the model, bind
loopback, and only then write the connection file, so a client never finds a daemon that is not
ready to answer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import sys
import threading

import zmq

from backend.daemon import Daemon, configure_router
from backend.daemon_config import DaemonConfig
from backend.daemon_log import configure_logging
from backend.device_worker import DeviceWorker, RemovalJob
from backend.fair_queue import FairQueue
from backend.single_instance import AlreadyRunning, DaemonLock
from iic_client import protocol
from iic_client.connection_file import (
    ConnectionInfo,
    UnsafeLocation,
    read_connection_file,
    write_connection_file,
)
from iic_client.transport_security import CurveUnavailable

log = logging.getLogger(__name__)

EXIT_CANNOT_START = 2
EXIT_ALREADY_RUNNING = 3
# How long a running job may take to notice shutdown before the process exits anyway.
WORKER_STOP_TIMEOUT_S = 10.0


def serve(config: DaemonConfig) -> int:
    lock = DaemonLock(config.connection_file)
    try:
        log_path = configure_logging(config.log_dir)
        lock.acquire()
    except AlreadyRunning as error:
        print(error, file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    except UnsafeLocation as error:
        print(f"iic-inpaint serve: {error}", file=sys.stderr)
        return EXIT_CANNOT_START
    try:
        return _serve_locked(config, lock, str(log_path))
    finally:
        lock.release()


def _serve_locked(config: DaemonConfig, lock: DaemonLock, log_path: str) -> int:
    from iic_engine import EngineLimits, Inpainter, InpaintingError

    stale = lock.stale_connection_info()
    if stale is not None:
        log.warning("replacing the stale connection file of process %d", stale.pid)
    job_queue: FairQueue[RemovalJob] = FairQueue(config.max_queue)
    try:
        limits = EngineLimits(**config.engine_limits)
        # Built on the worker's thread (see DeviceWorker): the main thread never computes.
        worker = DeviceWorker(
            lambda: Inpainter(config.weights, config.device, limits),
            job_queue,
            # Events come only from jobs, and jobs only once `daemon` below serves.
            lambda event: daemon.post(event),
            lambda: Inpainter(config.weights, "cpu", limits),
        )
        worker.start()
        engine = worker.loaded_engine()
    except (InpaintingError, TypeError) as error:  # TypeError: unknown --engine-limits field
        print(f"iic-inpaint serve: {error}", file=sys.stderr)
        return EXIT_CANNOT_START
    log.info("model %s loaded on %s; log file %s", engine.model_version, engine.device, log_path)

    _allow_all_file_descriptors()
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    secret = secrets.token_bytes(protocol.SECRET_BYTES)
    try:
        port = configure_router(router, config, secret)
    except CurveUnavailable as error:
        print(f"iic-inpaint serve: {error}", file=sys.stderr)
        job_queue.close()
        context.destroy(linger=0)
        return EXIT_CANNOT_START
    daemon = Daemon(config, secret, router, engine.device, engine.model_version, job_queue)
    info = ConnectionInfo(
        endpoint=f"tcp://127.0.0.1:{port}",
        secret=secret.hex(),
        protocol=protocol.PROTOCOL_VERSION,
        signature_scheme=protocol.SIGNATURE_SCHEME,
        pid=os.getpid(),
    )
    stop = threading.Event()
    _stop_on_signals(stop)
    write_connection_file(config.connection_file, info)
    log.info("serving on %s; connection file %s", info.endpoint, config.connection_file)
    try:
        daemon.serve(stop)
    finally:
        _remove_if_ours(config, info)
        worker.join(WORKER_STOP_TIMEOUT_S)
        context.destroy(linger=0)
        log.info("stopped")
    return 0


def _allow_all_file_descriptors() -> None:
    """Raise the soft descriptor limit to the hard one: each connection holds a descriptor, and
    at the usual soft limit a few hundred idle connections would lock real clients out until
    the handshake timeout closes them."""
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log.info("file descriptor limit raised from %d to %d", soft, hard)


def _stop_on_signals(stop: threading.Event) -> None:
    def request_stop(signum: int, frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), request_stop)


def _remove_if_ours(config: DaemonConfig, info: ConnectionInfo) -> None:
    try:
        if read_connection_file(config.connection_file) == info:
            config.connection_file.unlink()
    except (OSError, ValueError):
        log.warning("could not remove %s", config.connection_file)
