"""A few real training steps on CPU: finite losses, a checkpoint that round-trips, a run
that resumes where it stopped, a model file the engine loads, and batches that depend only
on (seed, step)."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from shared_files import SHARED_DATA

from iic_engine import Inpainter
from iic_engine.model_config import GeneratorConfig
from iic_engine.networks.discriminator import PatchDiscriminator
from iic_engine.networks.generator import Generator
from iic_engine.training.checkpoint import (
    ResumePoint,
    load_checkpoint,
    load_module_state,
    save_checkpoint,
)
from iic_engine.training.config import (
    DataConfig,
    RunConfig,
    TrainingConfig,
    UpsamplerStageConfig,
    config_to_toml,
    load_config,
    with_overrides,
)
from iic_engine.training.data import (
    BatchPlanner,
    TrainingPhotos,
    assemble_batch,
    pack_training_data,
    photo_names,
    resident_photos,
)
from iic_engine.training.export import export_weights
from iic_engine.training.hole_synthesis import HoleSampler, ObjectMaskPool
from iic_engine.training.runtime import Runtime
from iic_engine.training.trainer import build_stage, train
from iic_engine.weights import load_weights, shipped_weights_path


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    summary = pack_training_data(SHARED_DATA, root, short_side=96, limit=8, mask_limit=20)
    assert summary.photos == 8 and summary.object_masks == 20
    return root


def _config(data_root: Path, run_directory: Path) -> TrainingConfig:
    return TrainingConfig(
        run=RunConfig(
            directory=str(run_directory),
            batch_size=2,
            max_steps=2,
            log_every_steps=1,
            validate_every_steps=2,
            device="cpu",
        ),
        data=DataConfig(root=str(data_root), crop=64, validation_photos=2),
        # Read only by upsampler-stage runs: the packed photos are 96 px on the short side.
        upsampler_stage=UpsamplerStageConfig(hr_crop=64),
    )


def test_packed_photos_are_shrunk_and_keep_the_validation_slice(data_root: Path) -> None:
    assert photo_names(data_root) == photo_names(SHARED_DATA)[:8]
    photos = TrainingPhotos.load(data_root, validation_count=2)
    assert all(min(image.shape[:2]) == 96 for image in photos.images)


def test_training_steps_checkpoint_and_resume(data_root: Path, tmp_path: Path) -> None:
    config = _config(data_root, tmp_path / "run")
    first = train(config)
    assert (first.first_step, first.last_step) == (0, 2)
    losses = first.last_losses
    assert all(math.isfinite(v) for v in losses.values())
    terms = [losses["coarse"], losses["inpainting"], losses["confidence"]]
    assert len(set(terms)) == 3 and losses["total"] == pytest.approx(sum(terms), rel=1e-5)
    assert first.validation_psnr is not None and math.isfinite(first.validation_psnr)
    assert load_config(tmp_path / "run" / "config.toml") == config

    saved = load_module_state(tmp_path / "run", "generator")
    generator, discriminator = Generator(), PatchDiscriminator(config.discriminator)
    optimizer = torch.optim.Adam(generator.parameters())
    resume = load_checkpoint(
        tmp_path / "run",
        {"generator": generator, "discriminator": discriminator},
        {"generator": optimizer},
        torch.device("cpu"),
    )
    assert resume is not None and resume.step == 2
    for name, value in generator.state_dict().items():
        assert torch.equal(value, saved[name])
    moments = next(iter(optimizer.state.values()))
    assert moments["exp_avg"].dtype == torch.float32

    second = train(with_overrides(config, max_steps=3))
    assert (second.first_step, second.last_step) == (2, 3)

    model = Inpainter(weights=export_weights(tmp_path / "run", tmp_path / "m.safetensors"))
    assert model.model_version == "run-3"
    image = np.asarray(TrainingPhotos.load(data_root, validation_count=2).images[0][:64, :80])
    hole = np.zeros(image.shape[:2], dtype=bool)
    hole[16:40, 20:60] = True
    removed = model.remove(image, hole)
    assert np.array_equal(removed.image[~hole], image[~hole])


def _state_equal(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_a_new_run_starts_from_a_model_files_network_and_a_resumed_one_ignores_it(
    data_root: Path, tmp_path: Path
) -> None:
    train(_config(data_root, tmp_path / "first"))
    model_file = export_weights(
        tmp_path / "first", tmp_path / "first.safetensors", upsampler_weights=shipped_weights_path()
    )
    exported, shipped = load_weights(model_file), load_weights(shipped_weights_path())
    assert _state_equal(exported.upsampler.state_dict(), shipped.upsampler.state_dict())
    assert "upsampler: from 0.3-cpu" in exported.metadata.notes

    # No steps: the checkpoint holds what the run started from.
    fine_tune = with_overrides(
        _config(data_root, tmp_path / "fine_tune"), initial_weights=str(model_file), max_steps=0
    )
    train(fine_tune)
    started = load_module_state(tmp_path / "fine_tune", "generator")
    assert _state_equal(started, exported.generator.state_dict())
    train(with_overrides(_config(data_root, tmp_path / "fresh"), max_steps=0))
    assert not _state_equal(load_module_state(tmp_path / "fresh", "generator"), started)

    resumed = train(
        with_overrides(fine_tune, initial_weights=str(shipped_weights_path()), max_steps=1)
    )
    assert (resumed.first_step, resumed.last_step) == (0, 1)
    stepped = load_module_state(tmp_path / "fine_tune", "generator")
    shipped_state = shipped.generator.state_dict()
    # One step from the exported start moves a little, never onto the shipped weights.
    distance_from_start = max((stepped[k] - started[k]).abs().max().item() for k in started)
    distance_from_shipped = max((stepped[k] - shipped_state[k]).abs().max().item() for k in started)
    assert distance_from_start < distance_from_shipped

    other = dataclasses.replace(
        _config(data_root, tmp_path / "other"),
        generator=GeneratorConfig(confidence_channels=16),
    )
    with pytest.raises(ValueError, match="another architecture"):
        train(with_overrides(other, initial_weights=str(model_file), max_steps=0))


def test_a_batch_depends_only_on_seed_and_step(data_root: Path) -> None:
    photos = TrainingPhotos.load(data_root, validation_count=2)
    pool = ObjectMaskPool.load(data_root / "masks")
    config = DataConfig(root=str(data_root), crop=64, validation_photos=2)

    def planner(seed: int) -> BatchPlanner:
        return BatchPlanner(
            photos, HoleSampler(_config(data_root, Path()).holes, pool), config, 4, seed
        )

    first, again, other_seed = planner(1).plan(5), planner(1).plan(5), planner(2).plan(5)
    assert np.array_equal(first.holes, again.holes) and np.array_equal(first.boxes, again.boxes)
    assert not np.array_equal(first.holes, other_seed.holes)
    assert not np.array_equal(first.holes, planner(1).plan(6).holes)
    assert set(first.photos.tolist()).isdisjoint(photos.validation_indices.tolist())


def test_upsampler_stage_trains_and_checkpoints(data_root: Path, tmp_path: Path) -> None:
    config = with_overrides(
        _config(data_root, tmp_path / "upsampler"), stage="upsampler", max_steps=1
    )
    summary = train(config)
    assert summary.last_step == 1
    assert all(math.isfinite(v) for v in summary.last_losses.values())
    assert set(load_module_state(tmp_path / "upsampler", "upsampler")) >= {"softmax_scale"}


def test_the_softmax_temperature_trains_at_its_own_rate_and_old_runs_resume(
    data_root: Path, tmp_path: Path
) -> None:
    config = with_overrides(
        _config(data_root, tmp_path / "upsampler"), stage="upsampler", max_steps=1
    )

    def temperature() -> float:
        return float(load_module_state(tmp_path / "upsampler", "upsampler")["softmax_scale"])

    train(config)  # one optimizer group, as runs made before the option were saved
    shared_rate = temperature()
    # Adam moves a parameter by about its rate per step, whatever its gradient's size.
    assert abs(shared_rate - config.upsampler.initial_softmax_scale) <= 1.5e-4
    # The second step from the same checkpoint twice: at the shared rate and at its own.
    # Adam's carried moments set the step's direction factor, which both runs share, so
    # the two moves differ by about the ratio of their rates.
    shutil.copytree(tmp_path / "upsampler", tmp_path / "own_rate")
    train(with_overrides(config, max_steps=2))
    shared_move = abs(temperature() - shared_rate)
    own_rate = dataclasses.replace(config.optim, softmax_scale_learning_rate=0.5)
    own_config = with_overrides(config, max_steps=2, directory=str(tmp_path / "own_rate"))
    resumed = train(dataclasses.replace(own_config, optim=own_rate))
    assert (resumed.first_step, resumed.last_step) == (1, 2)
    own_state = load_module_state(tmp_path / "own_rate", "upsampler")
    own_move = abs(float(own_state["softmax_scale"]) - shared_rate)
    assert 100 * shared_move < own_move <= 0.5 + 1e-3


def test_salient_object_stays_out_of_the_hole_after_crop_scale_and_flip(data_root: Path) -> None:
    image = np.zeros((120, 150, 3), dtype=np.uint8)
    salient = np.zeros((120, 150), dtype=bool)
    salient[:, :50] = True  # the subject fills the left third
    photos = TrainingPhotos(("a", "b", "c"), (image,) * 3, (None, salient, salient), 1)
    holes = dataclasses.replace(_config(data_root, Path()).holes, salient_subtraction_share=1.0)
    data = DataConfig(crop=64, scale_range=(0.5, 1.0), saliency_batch_share=1.0)
    planner = BatchPlanner(
        photos, HoleSampler(holes, ObjectMaskPool.load(data_root / "masks")), data, 4, 0
    )
    resident = [torch.from_numpy(salient[None].astype(np.uint8) * 255)] * 3
    flips = set()
    for step in range(4):
        plan = planner.plan(step)
        subject, hole = assemble_batch(resident, plan, crop=64)
        flips |= set(plan.boxes[:, 3].tolist())
        inside_subject = subject[:, :1] > 0.5  # well inside the resampled subject
        assert not (inside_subject & (hole > 0.5)).any()
    assert flips == {0, 1}


def test_packing_stops_at_the_budget(tmp_path: Path) -> None:
    summary = pack_training_data(SHARED_DATA, tmp_path, limit=30, mask_limit=5, budget_mib=0.3)
    assert summary.bytes <= 0.3 * 2**20
    assert 0 < summary.photos < 30 and summary.photos + summary.photos_left_out == 30


def test_reconstruction_only_run_leaves_the_discriminator_untouched(
    data_root: Path, tmp_path: Path
) -> None:
    base = _config(data_root, tmp_path / "l1_only")
    losses = dataclasses.replace(
        base.loss, adversarial_weight=0.0, confidence_adversarial_weight=0.0
    )
    config = dataclasses.replace(base, loss=losses)
    summary = train(config)
    assert summary.last_step == 2 and summary.last_losses["discriminator"] == 0
    assert "structure" not in summary.last_losses  # its weight is 0 by default
    assert all(math.isfinite(v) for v in summary.last_losses.values())
    generator, discriminator = Generator(), PatchDiscriminator(config.discriminator)
    modules = {"generator": generator, "discriminator": discriminator}
    optimizers = {name: torch.optim.Adam(m.parameters()) for name, m in modules.items()}
    load_checkpoint(tmp_path / "l1_only", modules, optimizers, torch.device("cpu"))
    # The generator's Adam has stepped; the discriminator's never has.
    assert optimizers["generator"].state and not optimizers["discriminator"].state


def test_a_held_back_discriminator_trains_but_leaves_the_generator_s_steps_as_l1_only(
    data_root: Path, tmp_path: Path
) -> None:
    base = _config(data_root, tmp_path / "unused")
    runs = {}
    for name, losses in (
        ("held", dataclasses.replace(base.loss, adversarial_hold_steps=2)),
        (
            "l1",
            dataclasses.replace(
                base.loss, adversarial_weight=0.0, confidence_adversarial_weight=0.0
            ),
        ),
    ):
        run = dataclasses.replace(base.run, directory=str(tmp_path / name))
        summary = train(dataclasses.replace(base, run=run, loss=losses))
        generator, discriminator = Generator(), PatchDiscriminator(base.discriminator)
        modules = {"generator": generator, "discriminator": discriminator}
        optimizers = {n: torch.optim.Adam(m.parameters()) for n, m in modules.items()}
        load_checkpoint(tmp_path / name, modules, optimizers, torch.device("cpu"))
        runs[name] = (summary, generator, optimizers)
    held, l1 = runs["held"], runs["l1"]
    assert (
        held[0].last_losses["adversarial_share"] == 0 and held[0].last_losses["discriminator"] > 0
    )
    assert held[2]["discriminator"].state and not l1[2]["discriminator"].state
    # D learned, yet the generator took exactly the reconstruction-only steps.
    for a, b in zip(held[1].state_dict().values(), l1[1].state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_after_the_hold_the_adversarial_weights_ramp_in(data_root: Path, tmp_path: Path) -> None:
    base = _config(data_root, tmp_path / "ramp")
    losses = dataclasses.replace(base.loss, adversarial_hold_steps=1, adversarial_ramp_steps=2)
    summary = train(dataclasses.replace(base, loss=losses))
    assert summary.last_step == 2 and summary.last_losses["adversarial_share"] == 0.5


def test_a_structure_weight_adds_the_structure_term_to_the_generator_s_losses(
    data_root: Path, tmp_path: Path
) -> None:
    base = _config(data_root, tmp_path / "structure")
    losses = dataclasses.replace(base.loss, structure_l2_weight=2.0)
    summary = train(dataclasses.replace(base, loss=losses))
    assert summary.last_losses["structure"] > 0 and math.isfinite(summary.last_losses["structure"])


def test_a_resumed_run_uses_the_learning_rate_of_its_config(tmp_path: Path) -> None:
    module = torch.nn.Linear(2, 1)
    before = torch.optim.Adam(module.parameters(), lr=1e-4, betas=(0.5, 0.999))
    module(torch.ones(1, 2)).sum().backward()
    before.step()
    save_checkpoint(tmp_path, TrainingConfig(), {"m": module}, {"m": before}, ResumePoint(1, 1.0))
    after = torch.optim.Adam(module.parameters(), lr=3e-4, betas=(0.9, 0.999))
    load_checkpoint(tmp_path, {"m": module}, {"m": after}, torch.device("cpu"))
    assert after.param_groups[0]["lr"] == 3e-4 and after.param_groups[0]["betas"] == (0.9, 0.999)
    assert after.state  # the moments came back


def test_bf16_precision_autocasts_on_the_cpu_and_keeps_float32_weights(
    data_root: Path, tmp_path: Path
) -> None:
    conv = torch.nn.Conv2d(3, 4, 3)
    image = torch.rand(1, 3, 8, 8)
    cpu = torch.device("cpu")
    for precision, expected in (("bf16", torch.bfloat16), ("auto", torch.float32)):
        with Runtime(device=cpu, precision=precision).autocast():
            assert conv(image).dtype == expected, precision
    with pytest.raises(ValueError, match="run.precision"):
        TrainingConfig(run=RunConfig(precision="fp16"))

    summary = train(with_overrides(_config(data_root, tmp_path / "bf16"), precision="bf16"))
    assert all(math.isfinite(v) for v in summary.last_losses.values())
    weights = load_module_state(tmp_path / "bf16", "generator")
    assert {value.dtype for value in weights.values() if value.is_floating_point()} == {
        torch.float32
    }


def test_torchrun_trains_two_ranks_that_stay_in_step(data_root: Path, tmp_path: Path) -> None:
    """The multi-GPU launch, on the CPU (gloo): DDP must keep both ranks' weights equal, and
    only rank 0 logs and checkpoints."""
    config = with_overrides(_config(data_root, tmp_path / "ddp"), threads=1)
    (tmp_path / "ddp.toml").write_text(config_to_toml(config))
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    train_command = ["--nproc-per-node", "2", "-m", "iic_cli.main", "train"]
    completed = subprocess.run(
        [*launch, *train_command, "--config", str(tmp_path / "ddp.toml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    records = [
        json.loads(line) for line in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()
    ]
    assert [r["event"] for r in records if "event" in r] == ["start", "stop"]
    assert records[0]["world_size"] == 2
    assert records[-1] == {**records[-1], "step": 2, "replicas_agree": True}
    assert [r["step"] for r in records if "total" in r] == [1, 2]


@pytest.mark.parametrize("stage", ["generator", "upsampler"])
def test_the_cuda_layout_trains_both_stages(
    stage: str, data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a CUDA run changes, on the CPU: channels_last modules and batches under bf16
    autocast. Reshapes that assume a contiguous layout would fail here first."""
    monkeypatch.setattr(Runtime, "channels_last", property(lambda self: True))
    config = with_overrides(
        _config(data_root, tmp_path / stage), stage=stage, max_steps=1, precision="bf16"
    )
    summary = train(config)
    assert summary.last_step == 1 and summary.validation_psnr is not None
    assert all(math.isfinite(v) for v in [*summary.last_losses.values(), summary.validation_psnr])


@pytest.mark.parametrize("stage_name", ["generator", "upsampler"])
def test_an_untrained_stage_completes_with_its_first_guess(
    stage_name: str, data_root: Path, tmp_path: Path
) -> None:
    """The start of the log compares validation with the stage's first guess (what its
    networks refine): with zero-initialised outputs and one feedback pass, training starts
    exactly there."""
    base = with_overrides(_config(data_root, tmp_path / stage_name), stage=stage_name)
    config = dataclasses.replace(base, loss=dataclasses.replace(base.loss, feedback_iterations=1))
    stage = build_stage(config, Runtime(device=torch.device("cpu")))
    photos = TrainingPhotos.load(data_root, validation_count=2)
    resident = resident_photos(photos, torch.device("cpu"))
    planner = BatchPlanner(
        photos,
        HoleSampler(config.holes, ObjectMaskPool.load(data_root / "masks")),
        dataclasses.replace(config.data, crop=stage.crop),
        2,
        seed=3,
    )
    images, holes = assemble_batch(resident, planner.plan(0), stage.crop)
    guess = stage.first_guess(images, holes)
    assert torch.equal(guess * (1 - holes), images * (1 - holes))
    assert not torch.equal(guess, images * (1 - holes))  # the hole was filled
    assert torch.allclose(stage.complete(images, holes), guess, atol=1e-6)

    summary = train(with_overrides(config, max_steps=1))
    start = json.loads((tmp_path / stage_name / "log.jsonl").read_text().splitlines()[0])
    assert math.isfinite(start["validation_psnr_first_guess"])
    assert start["validation_psnr_first_guess"] != start["validation_psnr_telea"]
    assert summary.validation_psnr is not None
