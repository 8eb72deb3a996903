"""Load on the daemon: N editor sessions submitting 512×512 removals back to back.

    python bench/daemon_load.py [--clients 1 4 16] [--seconds 30] [--device cpu]
    python bench/daemon_load.py --clients 16 --seconds 120     # the sustained run (issue 16)

Starts a real daemon on loopback, then for each N runs N client processes (one DaemonClient
each) for a fixed time and reports jobs, lost jobs (no result), mixed jobs (a result that is not
the session's own image: every pixel outside the hole must come back as sent), jobs per minute,
p50/p95 latency (submit → result) and the daemon's resident memory at the row's start and end
and its peak. The protocol's overhead is the median round trip of one job through the daemon
(nothing else queued) over the median of the same `Inpainter.remove` called in this process,
measured in the same run; the target is ≤ 1.10 at 512×512.
Prints a markdown table for bench/README.md ("Daemon load").
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from iic_client import ClientError, DaemonClient, RemovalRequest  # noqa: E402
from iic_client.connection_file import read_connection_file  # noqa: E402

SIDE = 512
HOLE_SIDE = 128
OVERHEAD_REPEATS = 5
START_TIMEOUT_S = 120.0


# A job stuck longer than this is counted lost (16 sessions on 2 cores wait ~12 s each).
JOB_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class LoadRow:
    clients: int
    jobs: int
    lost: int
    mixed: int
    jobs_per_minute: float
    p50_s: float
    p95_s: float
    rss_start_mb: float
    rss_end_mb: float
    peak_rss_mb: float
    error_codes: dict[str, int]


@dataclass(frozen=True)
class SessionReport:
    latencies_s: list[float]
    lost: int
    mixed: int
    error_codes: dict[str, int]


def sample_job(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, SIDE, dtype=np.float32)
    image = (gradient[None, :, None] + rng.normal(0, 12, (SIDE, SIDE, 3))).clip(0, 255)
    hole = np.zeros((SIDE, SIDE), np.uint8)
    top, left = rng.integers(32, SIDE - HOLE_SIDE - 32, size=2)
    hole[top : top + HOLE_SIDE, left : left + HOLE_SIDE] = 255
    return image.astype(np.uint8), hole


def request_for(image: np.ndarray, hole: np.ndarray) -> RemovalRequest:
    return RemovalRequest(SIDE, SIDE, 3, "uint8", image.tobytes(), hole.tobytes())


def start_daemon(directory: Path, device: str, engine_limits: str) -> subprocess.Popen[bytes]:
    connection_file = directory / "daemon.json"
    command = [
        sys.executable,
        "-m",
        "backend",
        "--device",
        device,
        "--connection-file",
        str(connection_file),
        "--log-dir",
        str(directory / "log"),
        "--engine-limits",
        engine_limits,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if read_connection_file(connection_file).pid == process.pid:
                return process
        except (FileNotFoundError, ValueError):
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the daemon did not start")


def peak_rss_mb(pid: int) -> float:
    """Peak resident set (VmHWM) of `pid`; NaN where /proc is not available."""
    return _proc_status_mb(pid, "VmHWM:")


def rss_mb(pid: int) -> float:
    """Resident set (VmRSS) of `pid` now; NaN where /proc is not available."""
    return _proc_status_mb(pid, "VmRSS:")


def _proc_status_mb(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@dataclass(frozen=True)
class Overhead:
    """Median seconds of one 512×512 job, nothing else queued."""

    round_trip_s: float  # submit → result through the daemon
    daemon_engine_s: float  # the engine's own time inside the daemon (stats["run_s"])
    in_process_s: float  # the same `Inpainter.remove` called in this process


def protocol_overhead(connection_file: Path, device: str, engine_limits: str) -> Overhead:
    """Daemon and in-process runs alternate, so a drifting machine load hits both alike."""
    from iic_engine import EngineLimits, Inpainter

    image, hole = sample_job(0)
    limits = EngineLimits(**json.loads(engine_limits))
    round_trips, engine_times, in_process = [], [], []
    # One thread loads the engine and runs every in-process call, as the daemon's worker
    # does: torch's OpenMP team belongs to the thread that first computes, and calls on
    # another thread than the loading one ran at about half speed.
    with ThreadPoolExecutor(max_workers=1) as engine_thread:
        inpainter = engine_thread.submit(Inpainter, device=device, limits=limits).result()
        with DaemonClient.connect(connection_file) as client:
            for repeat in range(OVERHEAD_REPEATS + 1):  # the first of each is a warm-up
                started = time.perf_counter()
                result = client.submit(request_for(image, hole)).wait()
                round_trip = time.perf_counter() - started
                direct = engine_thread.submit(timed, lambda: inpainter.remove(image, hole))
                if repeat > 0:
                    round_trips.append(round_trip)
                    engine_times.append(float(result.stats["run_s"]))
                    in_process.append(direct.result())
    return Overhead(
        statistics.median(round_trips),
        statistics.median(engine_times),
        statistics.median(in_process),
    )


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def client_session(connection_file: str, index: int, seconds: float) -> SessionReport:
    """One editor session in its own process: submit, wait, check the result is ours."""
    image, hole = sample_job(index)
    outside = hole == 0
    latencies: list[float] = []
    lost = mixed = 0
    error_codes: dict[str, int] = {}
    with DaemonClient.connect(Path(connection_file), timeout_s=30.0) as client:
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                result = client.submit(request_for(image, hole)).wait(timeout_s=JOB_TIMEOUT_S)
            except ClientError as error:
                lost += 1
                error_codes[error.code] = error_codes.get(error.code, 0) + 1
                continue
            latencies.append(time.perf_counter() - started)
            filled = np.frombuffer(result.pixels, np.uint8).reshape(image.shape)
            if (result.width, result.height) != (SIDE, SIDE) or not np.array_equal(
                filled[outside], image[outside]
            ):
                mixed += 1
    return SessionReport(latencies, lost, mixed, error_codes)


def run_load(connection_file: Path, daemon_pid: int, clients: int, seconds: float) -> LoadRow:
    rss_start = rss_mb(daemon_pid)
    began = time.monotonic()
    # Processes, as editors are: each its own ZeroMQ context, and no GIL shared with the others.
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        reports = pool.starmap(
            client_session, [(str(connection_file), index, seconds) for index in range(clients)]
        )
    elapsed = time.monotonic() - began
    ordered = sorted(latency for report in reports for latency in report.latencies_s)
    error_codes: dict[str, int] = {}
    for report in reports:
        for code, count in report.error_codes.items():
            error_codes[code] = error_codes.get(code, 0) + count
    return LoadRow(
        clients=clients,
        jobs=len(ordered),
        lost=sum(report.lost for report in reports),
        mixed=sum(report.mixed for report in reports),
        jobs_per_minute=60 * len(ordered) / elapsed,
        p50_s=statistics.median(ordered) if ordered else float("nan"),
        p95_s=ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else float("nan"),
        rss_start_mb=rss_start,
        rss_end_mb=rss_mb(daemon_pid),
        peak_rss_mb=peak_rss_mb(daemon_pid),
        error_codes=error_codes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=30.0, help="submitting time per N")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--engine-limits", default="{}", help="JSON of EngineLimits fields")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        daemon = start_daemon(Path(directory), args.device, args.engine_limits)
        connection_file = Path(directory) / "daemon.json"
        try:
            overhead = protocol_overhead(connection_file, args.device, args.engine_limits)
            rows = [run_load(connection_file, daemon.pid, n, args.seconds) for n in args.clients]
        finally:
            daemon.terminate()
            daemon.wait()
    print(
        f"{SIDE}×{SIDE} RGB uint8, {HOLE_SIDE}×{HOLE_SIDE} hole, device {args.device}, "
        f"engine limits {args.engine_limits}, {args.seconds:g} s per row, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    print()
    print(
        "| clients | jobs | lost | mixed | jobs/min | p50 latency (s) | p95 latency (s) | "
        "daemon RSS start → end (MB) | daemon peak RSS (MB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.clients} | {row.jobs} | {row.lost} | {row.mixed} | "
            f"{row.jobs_per_minute:.1f} | {row.p50_s:.2f} | {row.p95_s:.2f} | "
            f"{row.rss_start_mb:.0f} → {row.rss_end_mb:.0f} | {row.peak_rss_mb:.0f} |"
        )
    failures = {code: n for row in rows for code, n in row.error_codes.items()}
    if failures:
        print(f"\nLost jobs by error code: {failures}")
    print()
    print(
        f"One job alone (median of {OVERHEAD_REPEATS}): through the daemon "
        f"{overhead.round_trip_s:.3f} s, of which the engine {overhead.daemon_engine_s:.3f} s; "
        f"in-process `Inpainter.remove` {overhead.in_process_s:.3f} s."
    )
    print(
        f"Overhead ratio vs in-process call: {overhead.round_trip_s / overhead.in_process_s:.3f}; "
        f"round trip vs the daemon's own engine time: "
        f"{overhead.round_trip_s / overhead.daemon_engine_s:.3f} (target ≤ 1.10)."
    )


if __name__ == "__main__":
    main()
