"""Starting, refusing a second start, dying mid-job and restarting over a stale connection file."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_process import (
    REPO_ROOT,
    daemon_command,
    daemon_environment,
    sample_image,
    serve_arguments,
    start_daemon,
    wait_until_running,
)

from iic_client import ClientError, DaemonClient, DaemonNotRunning, DaemonVanished
from iic_client.connection_file import read_connection_file

# The client declares the daemon vanished after this many seconds without a heartbeat.
CLIENT_TIMEOUT_S = 2.0
# Slack for a loaded 2-core machine on top of the client's timeout.
REPORT_SLACK_S = 3.0
SLOW_SIDE = 2048


def test_daemon_lifecycle(tmp_path: Path) -> None:
    first = start_daemon(tmp_path)
    try:
        connection_file = first.connection_file
        assert stat.S_IMODE(connection_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(connection_file.parent.stat().st_mode) == 0o700
        assert read_connection_file(connection_file).endpoint.startswith("tcp://127.0.0.1:")

        second = subprocess.run(
            daemon_command(connection_file, tmp_path / "log"),
            cwd=REPO_ROOT,
            env=daemon_environment(),
            capture_output=True,
            timeout=120,
        )
        assert second.returncode != 0
        assert b"already running" in second.stderr
        assert read_connection_file(connection_file).pid == first.process.pid

        client = DaemonClient.connect(connection_file, timeout_s=CLIENT_TIMEOUT_S)
        job = client.submit(sample_image(1, SLOW_SIDE).request(iterations=16))
        wait_until_running(job)
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        killed_at = time.monotonic()
        with pytest.raises(DaemonVanished, match="iic-inpaint serve"):
            job.wait()
        assert time.monotonic() - killed_at < CLIENT_TIMEOUT_S + REPORT_SLACK_S
        client.close()
        with pytest.raises(DaemonNotRunning, match="iic-inpaint serve"):
            DaemonClient.connect(connection_file, timeout_s=CLIENT_TIMEOUT_S)
    finally:
        first.stop()

    # The killed daemon's connection file is stale; `iic-inpaint serve` replaces it.
    cli_serve = [
        sys.executable,
        "-m",
        "iic_cli.main",
        "serve",
        *serve_arguments(connection_file, tmp_path / "log"),
    ]
    restarted = start_daemon(tmp_path, command=cli_serve)
    try:
        assert read_connection_file(connection_file).pid == restarted.process.pid
        assert "stale connection file" in restarted.log_text()
        with DaemonClient.connect(connection_file) as client:
            result = client.submit(sample_image(2).request()).wait(timeout_s=60)
            assert result.width == 64
            # Stopping the daemon answers the job it was running instead of leaving it hanging.
            job = client.submit(sample_image(3, SLOW_SIDE).request(iterations=16))
            wait_until_running(job)
            restarted.process.send_signal(signal.SIGTERM)
            with pytest.raises(ClientError) as raised:
                job.wait(timeout_s=30)
            assert raised.value.code == "shutting_down"
        assert restarted.process.wait(timeout=30) == 0
        assert not connection_file.exists()
    finally:
        restarted.stop()
