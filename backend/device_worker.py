"""One thread per device: takes jobs from the fair queue and runs them through the engine.

The worker never touches the socket. It reports what happened as `WorkerEvent`s that the daemon's
loop turns into messages; every exception becomes a `JobFailed` with a stable code.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from backend.fair_queue import FairQueue
from backend.wire_arrays import confidence_to_wire, image_to_wire, inputs_from_wire
from iic_client import protocol
from iic_client.protocol import ErrorCode
from iic_engine import Inpainter, InpaintingError, RemovalCancelled

log = logging.getLogger(__name__)

OUT_OF_MEMORY_FALLBACK_NOTE = "The GPU ran out of memory; this removal was finished on the CPU."


@dataclass
class RemovalJob:
    """A job between its pixels' arrival and its answer; `cancelled` is shared with the
    worker."""

    client: bytes
    job_id: str
    submit: protocol.Submit
    pixels: protocol.Pixels
    submitted_at: float = field(default_factory=time.monotonic)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def key(self) -> tuple[bytes, str]:
        return (self.client, self.job_id)


@dataclass(frozen=True)
class JobStarted:
    key: tuple[bytes, str]


@dataclass(frozen=True)
class JobProgressed:
    key: tuple[bytes, str]
    stage: str
    fraction: float
    message: str


@dataclass(frozen=True)
class JobFinished:
    key: tuple[bytes, str]
    pixels: bytes
    confidence: bytes | None
    stats: dict[str, Any]


@dataclass(frozen=True)
class JobFailed:
    key: tuple[bytes, str]
    code: str
    message: str


WorkerEvent = JobStarted | JobProgressed | JobFinished | JobFailed


class DeviceWorker(threading.Thread):
    """Loads the engine, then runs jobs one at a time on it; falls back to a CPU engine after
    an out-of-memory.

    The engine is built on this thread, not handed in: torch's OpenMP team belongs to the
    thread that first computes, and once the main thread had one (loading the weights) every
    job on this thread ran at about half speed on a 2-core CPU (a 512² removal 2.1 → 4.6 s;
    libgomp then has more threads than cores and they sleep between the many small ops).
    """

    def __init__(
        self,
        engine_factory: Callable[[], Inpainter],
        queue: FairQueue[RemovalJob],
        post: Callable[[WorkerEvent], None],
        cpu_engine_factory: Callable[[], Inpainter],
    ) -> None:
        super().__init__(name="iic-worker", daemon=True)
        self._engine_factory = engine_factory
        self._queue = queue
        self._post = post
        self._cpu_engine_factory = cpu_engine_factory
        self._cpu_engine: Inpainter | None = None
        self._loaded = threading.Event()
        self._engine: Inpainter | None = None
        self._load_error: BaseException | None = None

    def loaded_engine(self, timeout_s: float | None = None) -> Inpainter:
        """Wait for the engine built on this thread; re-raises what its factory raised."""
        if not self._loaded.wait(timeout_s):
            raise TimeoutError("The engine did not load in time.")
        if self._load_error is not None:
            raise self._load_error
        assert self._engine is not None
        return self._engine

    def run(self) -> None:
        try:
            engine = self._engine = self._engine_factory()
        except BaseException as error:  # handed to the thread waiting in loaded_engine
            self._load_error = error
            return
        finally:
            self._loaded.set()
        while (taken := self._queue.take()) is not None:
            job = taken[2]
            if job.cancelled.is_set():
                continue
            self._post(JobStarted(job.key))
            self._post(self._run_job(engine, job))

    def _run_job(self, engine: Inpainter, job: RemovalJob) -> WorkerEvent:
        try:
            return self._remove(engine, job)
        except RemovalCancelled:
            return JobFailed(job.key, ErrorCode.CANCELLED, "The removal was cancelled.")
        except InpaintingError as error:
            if not _is_out_of_memory(error):
                return JobFailed(job.key, error.code, str(error))
            return self._retry_on_cpu(engine, job, error)
        except Exception as error:
            if _is_out_of_memory(error):
                return self._retry_on_cpu(engine, job, error)
            log.exception("job %s failed", job.job_id)
            return JobFailed(
                job.key,
                ErrorCode.INTERNAL,
                f"The removal failed inside the daemon ({type(error).__name__}: {error}). "
                "The daemon is still running; try again, and if it keeps failing send the "
                "daemon log to the developers.",
            )

    def _retry_on_cpu(self, engine: Inpainter, job: RemovalJob, error: Exception) -> WorkerEvent:
        if engine.device == "cpu":
            return JobFailed(
                job.key,
                ErrorCode.OUT_OF_MEMORY,
                "The computer ran out of memory for this removal. Close other programs, or "
                "select a smaller area, and try again.",
            )
        log.warning("job %s ran out of memory on %s: %s", job.job_id, engine.device, error)
        self._post(JobProgressed(job.key, "prepare", 0.0, OUT_OF_MEMORY_FALLBACK_NOTE))
        try:
            if self._cpu_engine is None:
                self._cpu_engine = self._cpu_engine_factory()
            finished = self._remove(self._cpu_engine, job)
        except RemovalCancelled:
            return JobFailed(job.key, ErrorCode.CANCELLED, "The removal was cancelled.")
        except InpaintingError as cpu_error:
            return JobFailed(job.key, cpu_error.code, str(cpu_error))
        except Exception as cpu_error:
            log.exception("job %s failed on the CPU fallback", job.job_id)
            return JobFailed(
                job.key,
                ErrorCode.OUT_OF_MEMORY,
                f"The GPU ran out of memory and the CPU fallback failed too ({cpu_error}). "
                "Select a smaller area and try again.",
            )
        stats = {**finished.stats, "note": OUT_OF_MEMORY_FALLBACK_NOTE, "retried_on_cpu": True}
        return JobFinished(job.key, finished.pixels, finished.confidence, stats)

    def _remove(self, engine: Inpainter, job: RemovalJob) -> JobFinished:
        inputs = inputs_from_wire(job.submit, job.pixels)
        started = time.monotonic()
        result = engine.remove(
            inputs.image,
            inputs.hole,
            avoid=inputs.avoid,
            use=inputs.use,
            iterations=job.submit.iterations,
            texture=job.submit.texture,
            grow_px=job.submit.grow_px,
            on_progress=lambda progress: self._post(
                JobProgressed(job.key, progress.stage, progress.fraction, progress.message)
            ),
            should_cancel=job.cancelled.is_set,
        )
        stats = _plain_stats(result.stats)
        stats["queue_wait_s"] = round(started - job.submitted_at, 3)
        stats["run_s"] = round(time.monotonic() - started, 3)
        return JobFinished(
            job.key,
            image_to_wire(result.image, job.submit.dtype),
            confidence_to_wire(result.confidence) if job.submit.want_confidence else None,
            stats,
        )


def _plain_stats(stats: Any) -> dict[str, Any]:
    """The engine's `RemovalStats` as msgpack-safe values (tuples become lists)."""
    values = asdict(stats) if is_dataclass(stats) and not isinstance(stats, type) else {}
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in values.items()
        if isinstance(value, (str, int, float, bool, tuple)) or value is None
    }


def _is_out_of_memory(error: Exception) -> bool:
    # torch.cuda.OutOfMemoryError (and MPS's RuntimeError) without importing torch here.
    if getattr(error, "code", None) == ErrorCode.OUT_OF_MEMORY:
        return True
    return type(error).__name__ == "OutOfMemoryError" or "out of memory" in str(error).lower()
