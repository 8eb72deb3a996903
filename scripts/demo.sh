#!/usr/bin/env bash
# The README's main job: start the daemon with the shipped model, remove the people from
# examples/beach.jpg through it, and write out/beach_before_after.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
mkdir -p out
daemon_pid=""
cleanup() { if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
# A daemon the user already runs is reused; otherwise start one for this demo.
if ! .venv/bin/python -c "from iic_client import DaemonClient; DaemonClient.connect(timeout_s=2).close()" 2>/dev/null; then
    .venv/bin/iic-inpaint serve --device auto > out/daemon.log 2>&1 &
    daemon_pid=$!
    for _ in $(seq 1 120); do
        if .venv/bin/python -c "from iic_client import DaemonClient; DaemonClient.connect(timeout_s=2).close()" 2>/dev/null; then
            break
        fi
        if ! kill -0 "$daemon_pid" 2>/dev/null; then
            cat out/daemon.log >&2
            exit 1
        fi
        sleep 0.5
    done
fi
.venv/bin/iic-inpaint remove --daemon examples/beach.jpg examples/beach_mask.png \
    out/beach_removed.png --confidence out/beach_confidence.png
.venv/bin/python scripts/before_after.py examples/beach.jpg examples/beach_mask.png \
    out/beach_removed.png out/beach_before_after.png
echo "wrote out/beach_before_after.png (left: selection, right: result)"
