#!/usr/bin/env bash
# Creates .venv with the pinned CPU build of torch and the project (editable) with its test
# and dev extras. torch is named with its version so pip takes the CPU wheel on disk instead
# of resolving a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    "torch==2.13.0" -e ".[test,dev]" 2> >(grep -v "^WARNING: Location" >&2)
