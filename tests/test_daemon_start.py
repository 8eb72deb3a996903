"""Plug-ins start the daemon through `iic_client.start_detached_daemon`: detached from the
editor's session and without the editor's Python settings."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

import iic_client

REPORT = """
import json, os, sys
with open(sys.argv[1], "w") as handle:
    json.dump({"sid": os.getsid(0), "pythonpath": os.environ.get("PYTHONPATH")}, handle)
"""


def test_the_daemon_starts_in_its_own_session_without_the_editors_python_path(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", "/editor/bundled/python")
    report = tmp_path / "report.json"
    child = iic_client.start_detached_daemon([sys.executable, "-c", REPORT, str(report)])
    assert child.wait(timeout=60) == 0
    seen = json.loads(report.read_text())
    assert seen["pythonpath"] is None
    assert seen["sid"] != os.getsid(0)  # Ctrl+C or the editor's exit does not reach it


def test_a_missing_program_is_an_os_error_the_plugins_turn_into_advice(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        iic_client.start_detached_daemon([str(tmp_path / "no-such-iic-inpaint"), "serve"])
