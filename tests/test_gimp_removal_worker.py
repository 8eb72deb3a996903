"""The GIMP plug-in's removal helper process against a real daemon, on the host.

GIMP kills a plug-in whose progress bar is cancelled, so the plug-in runs each removal in a
helper (plugins/gimp/iic-remove-object/removal_worker.py) that cancels the daemon job as soon
as the plug-in's end of its stdin closes. These tests play the plug-in's part with the host's
Python; tests/test_gimp_plugin.py runs the same helper from inside real GIMP.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from daemon_process import DaemonProcess, daemon_environment, start_daemon

import iic_client
from iic_client import DaemonClient, RemovalRequest
from iic_client.connection_file import read_connection_file

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "plugins" / "gimp" / "iic-remove-object"
sys.path.insert(0, str(PLUGIN_DIR))

import daemon_connection  # noqa: E402
import removal_worker  # noqa: E402

CANCEL_SEEN_TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    process = start_daemon(tmp_path_factory.mktemp("gimp-worker-daemon"))
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def helper_env(daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What the helper inherits from the plug-in: here iic_client comes from the checkout."""
    env = {**daemon_environment(), "IIC_INPAINT_CONNECTION_FILE": str(daemon.connection_file)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _request(side: int, iterations: int) -> dict[str, object]:
    rng = np.random.default_rng(side)
    image = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    hole = np.zeros((side, side), np.uint8)
    hole[side // 4 : 3 * side // 4, side // 4 : 3 * side // 4] = 255
    return {
        "width": side,
        "height": side,
        "channels": 3,
        "dtype": "uint8",
        "pixels": image.tobytes(),
        "hole": hole.tobytes(),
        "iterations": iterations,
        "want_confidence": True,
    }


def test_helper_returns_what_the_daemon_computes_and_relays_its_stages(
    daemon: DaemonProcess, helper_env: dict[str, str]
) -> None:
    request = _request(64, iterations=2)
    stages: list[str] = []
    result = removal_worker.run_removal(request, lambda event: stages.append(event["stage"]))
    with DaemonClient.connect(daemon.connection_file) as client:
        direct = client.submit(RemovalRequest(**request)).wait()  # type: ignore[arg-type]
    assert result["pixels"] == direct.pixels
    assert result["confidence"] == direct.confidence
    assert (result["width"], result["channels"], result["dtype"]) == (64, 3, "uint8")
    assert "iteration" in stages


def test_helper_reports_the_daemons_refusal_as_a_failure(helper_env: dict[str, str]) -> None:
    request = _request(64, iterations=2)
    request["hole"] = b"\xff" * (64 * 64)
    with pytest.raises(removal_worker.RemovalFailed, match="whole layer"):
        removal_worker.run_removal(request, lambda event: None)


def test_the_helper_ends_cleanly_while_the_plugin_still_holds_its_stdin(
    helper_env: dict[str, str],
) -> None:
    """After the result the helper exits by itself, status 0, whether or not the plug-in has
    closed its end yet (its reader of stdin once held the stream's lock, and Python aborted
    at exit with "Fatal Python error: _enter_buffered_busy": GIMP's log showed it)."""
    helper = subprocess.Popen(
        [sys.executable, str(PLUGIN_DIR / "removal_worker.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=helper_env,
    )
    assert helper.stdin is not None and helper.stdout is not None and helper.stderr is not None
    try:
        removal_worker.write_frame(helper.stdin, _request(64, iterations=1))
        while (event := removal_worker.read_frame(helper.stdout)) is not None:
            if event["kind"] != "progress":
                break
        assert event is not None and event["kind"] == "result", event
        status = helper.wait(timeout=30)  # stdin still open
        errors = helper.stderr.read().decode(errors="replace")
    finally:
        helper.stdin.close()
        helper.kill()
        helper.wait()
    assert status == 0, errors
    assert "Fatal Python error" not in errors, errors


def test_a_vanished_plugin_cancels_the_running_job(
    daemon: DaemonProcess, helper_env: dict[str, str]
) -> None:
    helper = subprocess.Popen(
        [sys.executable, str(PLUGIN_DIR / "removal_worker.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=helper_env,
    )
    assert helper.stdin is not None and helper.stdout is not None
    removal_worker.write_frame(helper.stdin, _request(768, iterations=16))
    while (event := removal_worker.read_frame(helper.stdout)) is not None:
        if event["kind"] == "progress" and event["stage"] == "iteration":
            break
    assert event is not None, "the helper ended before the job ran"
    # What SIGKILL does to the plug-in's ends of the pipes:
    helper.stdin.close()
    helper.stdout.close()
    assert helper.wait(timeout=CANCEL_SEEN_TIMEOUT_S) == 0
    deadline = time.monotonic() + CANCEL_SEEN_TIMEOUT_S
    while "cancelled while running" not in daemon.log_text():
        assert time.monotonic() < deadline, daemon.log_text()[-2000:]
        time.sleep(0.1)


def test_a_configured_daemon_is_started_when_none_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """settings.json names the iic-inpaint program; `serve` then writes the default
    connection file, which the plug-in finds."""
    runtime_dir = tmp_path / "runtime"
    runtime_dir.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the daemon's log
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv(daemon_connection.CONNECTION_FILE_ENV, raising=False)
    program = Path(sys.executable).with_name("iic-inpaint")
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps({"iic_inpaint_path": str(program)}))
    client = daemon_connection.connect(iic_client, daemon_connection.load_settings(settings_file))
    pid = read_connection_file(runtime_dir / "iic-inpaint" / "daemon.json").pid
    try:
        with client:
            assert client.hello()["daemon_pid"] == pid
    finally:
        os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):  # subprocess may have reaped it already
            os.waitpid(pid, 0)  # started by this process, detached: reap it here
