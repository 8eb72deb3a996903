#!/usr/bin/env bash
# One round on the device tool's GPU machine, all in one call (docs/training.md, "One round
# on the GPU machine"): fine-tune the shipped generator with the adversarial losses on,
# export a model file (the shipped upsampler kept), evaluate it on dev-eval photos, and
# leave the checkpoint, the model file and the report under $OUT.
#
#   bash scripts/device_round.sh [TRAIN_MINUTES] [EVAL_PHOTOS]
#
# Defaults: 5 minutes of training, the first 20 dev-eval photos (a first read; the verdict
# is the full eval run here afterwards, beside the shipped model). Start-up, export and the
# eval fit a 9-minute call. IIC_ROUND_DEVICE=cpu runs the same steps on the CPU (the dry run
# before spending device time) and IIC_ROUND_BATCH a batch that fits there (the config's 64
# took more than 24 GiB); IIC_ROUND_CONFIG names another generator config.
set -uo pipefail
minutes="${1:-5}"
eval_photos="${2:-20}"
device="${IIC_ROUND_DEVICE:-cuda}"
config="${IIC_ROUND_CONFIG:-configs/gpu_finetune.toml}"
batch=()
[ -z "${IIC_ROUND_BATCH:-}" ] || batch=(--batch-size "$IIC_ROUND_BATCH")
: "${OUT:?OUT must be set (the device tool sets it)}"
export PYTHONPATH=. PYTHONUNBUFFERED=1
shipped=iic_engine/weights/iic_inpaint.safetensors

for needed in runs/gpu_pack runs/dev_eval; do
    [ -d "$needed" ] || { echo "$needed is missing: carry it (docs/training.md)" >&2; exit 2; }
done
run_dir="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["run"]["directory"])' "$config")"
# Trains and copies the checkpoint back whatever happened, so the next round can resume it.
bash scripts/train_on_device.sh "$config" "$minutes" --device "$device" "${batch[@]}" || exit

python3 -m iic_cli.main export-weights --generator-run "$run_dir" --upsampler-weights "$shipped" \
    --out "$OUT/model.safetensors" || exit
# The report is a first read; a late eval must not cost the checkpoint, so it is bounded.
timeout 150 python3 -m iic_cli.main eval --data runs/dev_eval --weights "$OUT/model.safetensors" \
    --limit "$eval_photos" --device "$device" --out "$OUT/eval" 2>&1 | tail -n 40
ls -l "$OUT"
