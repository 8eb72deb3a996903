"""`iic-inpaint eval` and `iic-inpaint show-samples` as a person runs them: the report's
tables by hole-size bin with Telea in the same run, the Tab. 2 split, and the contact sheets."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from shared_files import SHARED_DATA

from iic_engine.evaluation.contact_sheet import GAP
from iic_engine.evaluation.report import SHEET_TILE_HEIGHT
from iic_engine.training.config import (
    DataConfig,
    RunConfig,
    TrainingConfig,
    config_to_toml,
    load_config,
)
from iic_engine.training.data import pack_training_data


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iic_cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_eval_reports_every_bin_for_the_model_and_telea_and_draws_the_sheet(
    tmp_path: Path,
) -> None:
    photos = 3
    out = tmp_path / "eval"
    completed = _cli(
        "eval", "--data", str(SHARED_DATA / "dev_eval"), "--limit", str(photos),
        "--out", str(out), "--device", "cpu",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = (out / "report.md").read_text()
    assert report == completed.stdout.split("\nwrote ")[0]
    header = "| method | metric | <10% | 10-20% | 20-30% | 30-40% | 40-50% | all |"
    assert header in report
    for method in ("model", "telea"):
        for metric in ("L1", "PSNR", "SSIM"):
            row = next(
                line for line in report.splitlines() if line.startswith(f"| {method} | {metric} |")
            )
            assert row.count("|") == 9
    images_row = next(line for line in report.splitlines() if line.startswith("| images |"))
    assert images_row.rstrip(" |").endswith(str(photos))
    assert "| confidence > 0.5 |" in report and "| confidence ≤ 0.5 |" in report

    # One row per photo (fewer than the sheet's 12): tinted input | result | confidence | truth.
    sheet = np.asarray(Image.open(out / "contact_sheet.png"))
    assert sheet.shape[0] == photos * SHEET_TILE_HEIGHT + (photos - 1) * GAP
    assert sheet.shape[1] > 4 * SHEET_TILE_HEIGHT


def test_show_samples_writes_a_sheet_of_training_samples(tmp_path: Path) -> None:
    pack_training_data(SHARED_DATA, tmp_path / "data", short_side=96, limit=6, mask_limit=10)
    config = TrainingConfig(
        run=RunConfig(directory=str(tmp_path / "run")),
        data=DataConfig(root=str(tmp_path / "data"), crop=64, validation_photos=2),
    )
    (tmp_path / "config.toml").write_text(config_to_toml(config))
    sheet_path = tmp_path / "samples.png"
    completed = _cli(
        "show-samples", "--config", str(tmp_path / "config.toml"), "--out", str(sheet_path),
        "--count", "4",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    sheet = np.asarray(Image.open(sheet_path).convert("RGB")).astype(int)
    assert sheet.shape[0] >= 64 and sheet.shape[1] >= 64
    # Holes (10–50 % of a sample) are tinted blue: a good share of the sheet is clearly bluer
    # than it is red or green (28 % here; 0 % with the tint switched off).
    bluish = (sheet[..., 2] - np.maximum(sheet[..., 0], sheet[..., 1])) > 60
    assert bluish.mean() > 0.05


# The GPU machine's image has torch, numpy, pillow, safetensors and scipy, but neither the
# daemon's pyzmq and platformdirs nor OpenCV: the commands a device round runs
# (scripts/device_round.sh) must not import them.
WITHOUT_PACKAGES_THE_GPU_IMAGE_LACKS = """
import sys
for name in ("zmq", "platformdirs", "cv2"):
    sys.modules[name] = None
from iic_cli.main import main
sys.exit(main(sys.argv[1:]))
"""
REPOSITORY = Path(__file__).resolve().parents[1]


def test_the_device_rounds_commands_run_without_the_packages_the_gpu_image_lacks(
    tmp_path: Path,
) -> None:
    def without(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", WITHOUT_PACKAGES_THE_GPU_IMAGE_LACKS, *args],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=REPOSITORY,
        )

    for command in ("train", "export-weights", "pack-data"):
        completed = without(command, "--help")
        assert completed.returncode == 0, completed.stderr[-2000:]
    # The round's own config (a fine-tune of the shipped model, adversarial losses on, holes
    # drawn by loader workers), shrunk to two steps on a few small photos.
    data = tmp_path / "data"
    pack_training_data(SHARED_DATA, data, short_side=96, limit=6, mask_limit=20)
    round_config = load_config(REPOSITORY / "configs" / "gpu_finetune.toml")
    assert round_config.loss.adversarial_weight > 0 and round_config.run.initial_weights
    run = dataclasses.replace(
        round_config.run,
        directory=str(tmp_path / "run"), batch_size=2, max_steps=2, max_minutes=10.0,
        validate_every_steps=2, device="cpu",
    )  # fmt: skip
    small = dataclasses.replace(
        round_config.data, root=str(data), crop=64, validation_photos=2, loader_workers=2
    )
    (tmp_path / "round.toml").write_text(
        config_to_toml(dataclasses.replace(round_config, run=run, data=small))
    )
    completed = without("train", "--config", str(tmp_path / "round.toml"))
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "step=2" in completed.stdout
    model = tmp_path / "model.safetensors"
    completed = without(
        "export-weights", "--generator-run", str(tmp_path / "run"),
        "--upsampler-weights", "iic_engine/weights/iic_inpaint.safetensors", "--out", str(model),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    out = tmp_path / "eval"
    completed = without(
        "eval", "--data", str(SHARED_DATA / "dev_eval"), "--limit", "1",
        "--out", str(out), "--device", "cpu", "--weights", str(model),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = (out / "report.md").read_text()
    assert "| model | PSNR |" in report and "| telea |" not in report
    assert (out / "contact_sheet.png").is_file()
    # The control: blocked this way, the daemon (which needs them) does not start.
    assert without("serve", "--help").returncode != 0
