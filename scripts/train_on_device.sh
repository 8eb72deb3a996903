#!/usr/bin/env bash
# One resumable training chunk on the device tool's GPU machine (docs/training.md).
#
#   bash scripts/train_on_device.sh [CONFIG] [MINUTES] [TRAIN OPTIONS...]
#
# Runs from the repository root there, with the run folder and the packed data carried in.
# Trains for MINUTES (default 7.5, so start-up + training + the final checkpoint fit the
# tool's 10-minute call), resuming from the carried checkpoint if there is one, then copies
# the new checkpoint, config and log to $OUT/<run name>/ for the next chunk. Further options
# go to `iic-inpaint train` (e.g. `--device cpu --batch-size 4` for a dry run here).
set -uo pipefail
config="${1:-configs/gpu.toml}"
minutes="${2:-7.5}"
shift $(($# < 2 ? $# : 2))
: "${OUT:?OUT must be set (the device tool sets it)}"
export PYTHONPATH=. PYTHONUNBUFFERED=1

run_dir="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["run"]["directory"])' "$config")"
if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader
fi
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'

python3 -m iic_cli.main train --config "$config" --max-minutes "$minutes" "$@" 2>&1 \
    | tee "$OUT/train_stdout.log"
status=${PIPESTATUS[0]}

# Back to the caller: at most 2 folders down and 16 MiB a file (one file per network).
dest="$OUT/$(basename "$run_dir")"
mkdir -p "$dest/checkpoint"
cp "$run_dir"/checkpoint/* "$dest/checkpoint/" && cp "$run_dir"/config.toml "$run_dir"/log.jsonl "$dest/"
ls -l "$dest" "$dest/checkpoint"
exit "$status"
