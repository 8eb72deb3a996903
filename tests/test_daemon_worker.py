"""The device worker's out-of-memory fallback: a GPU job that runs out of memory finishes on the CPU.

No GPU here, so the GPU engine is a stand-in that raises torch's own OutOfMemoryError; the CPU
engine it falls back to is the real `Inpainter`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from daemon_process import FAST_ENGINE_LIMITS, result_image, sample_image

from backend.device_worker import DeviceWorker, JobFailed, JobFinished, RemovalJob, WorkerEvent
from backend.fair_queue import FairQueue
from iic_client import protocol
from iic_engine import EngineLimits, Inpainter, InpaintingError


class OutOfMemoryGpu:
    device = "cuda"

    def remove(self, *args: object, **kwargs: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def run_one_job(
    build_engine: Callable[[], object], submit: protocol.Submit, pixels: protocol.Pixels
) -> list[WorkerEvent]:
    events: list[WorkerEvent] = []
    done = threading.Event()

    def post(event: WorkerEvent) -> None:
        events.append(event)
        if isinstance(event, (JobFinished, JobFailed)):
            done.set()

    queue: FairQueue[RemovalJob] = FairQueue(max_length=1)
    worker = DeviceWorker(
        build_engine,  # type: ignore[arg-type]
        queue,
        post,
        lambda: Inpainter(device="cpu", limits=EngineLimits(**FAST_ENGINE_LIMITS)),
    )
    worker.start()
    queue.put(b"client", submit.job, RemovalJob(b"client", submit.job, submit, pixels))
    assert done.wait(timeout=120)
    queue.close()
    worker.join(timeout=10)
    return events


def test_gpu_out_of_memory_retries_on_the_cpu_and_says_so() -> None:
    sample = sample_image(3)
    events = run_one_job(OutOfMemoryGpu, *sample.wire("oom"))
    finished = events[-1]
    assert isinstance(finished, JobFinished), finished
    assert finished.stats["retried_on_cpu"] is True
    assert finished.stats["device"] == "cpu"
    assert any("ran out of memory" in getattr(event, "message", "") for event in events)
    filled = result_image(finished.pixels, sample.image)
    np.testing.assert_array_equal(filled[sample.hole == 0], sample.image[sample.hole == 0])


def test_the_engine_is_built_on_the_worker_thread_and_its_jobs_run_there() -> None:
    """torch's OpenMP team belongs to the thread that first computes: a model loaded on the
    main thread made every job on the worker run at about half speed."""
    threads: dict[str, threading.Thread] = {}

    class RecordingEngine(Inpainter):
        def remove(self, *args: Any, **kwargs: Any) -> Any:
            threads["job"] = threading.current_thread()
            return super().remove(*args, **kwargs)

    def build() -> Inpainter:
        threads["load"] = threading.current_thread()
        return RecordingEngine(device="cpu", limits=EngineLimits(**FAST_ENGINE_LIMITS))

    sample = sample_image(3)
    events = run_one_job(build, *sample.wire("where"))
    assert isinstance(events[-1], JobFinished), events[-1]
    assert threads["load"] is threads["job"]
    assert threads["load"] is not threading.main_thread()


def test_an_engine_that_cannot_load_is_reported_to_the_waiting_thread() -> None:
    def broken() -> Inpainter:
        raise InpaintingError("no-model", "The model file is missing.")

    queue: FairQueue[RemovalJob] = FairQueue(max_length=1)
    worker = DeviceWorker(broken, queue, lambda event: None, broken)
    worker.start()
    with pytest.raises(InpaintingError, match="model file is missing"):
        worker.loaded_engine(timeout_s=30)
    worker.join(timeout=10)
    assert not worker.is_alive()
