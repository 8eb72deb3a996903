#!/usr/bin/env bash
# The README's test command: set up what a fresh machine lacks, then run every test.
# The Krita and GIMP tests need the editors root from ../shared/editors (built as root;
# a few minutes the first time, under a second after that).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
editors_setup=../shared/editors/setup-trixie-editors.sh
if [ -f "$editors_setup" ] && [ "$(id -u)" = 0 ]; then
    if ! bash "$editors_setup" > /tmp/iic-editors-setup.log 2>&1; then
        tail -n 30 /tmp/iic-editors-setup.log >&2
        echo "The editors root could not be built: see /tmp/iic-editors-setup.log" >&2
        exit 1
    fi
fi
# Lint, format and types first: a red style check fails the run as a test would.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy iic_engine iic_cli iic_client backend
exec .venv/bin/python -m pytest -q "$@"
