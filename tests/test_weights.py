"""The model file: round trip, and clear refusals of files the engine cannot use."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

from iic_engine import Inpainter, WeightsError
from iic_engine.model_config import GeneratorConfig
from iic_engine.networks.generator import Generator
from iic_engine.networks.guided_upsampler import GuidedUpsampler
from iic_engine.weights import load_weights, save_weights, shipped_weights_path


def test_shipped_weights_load_and_round_trip(tmp_path: Path) -> None:
    model = load_weights()
    path = tmp_path / "copy.safetensors"
    save_weights(path, model.generator, model.upsampler, model_version="copy")
    again = load_weights(path)
    for name, tensor in model.generator.state_dict().items():
        assert torch.equal(tensor, again.generator.state_dict()[name])
    assert again.metadata.model_version == "copy"
    assert Inpainter(weights=path, device="cpu").model_version == "copy"


def test_weights_are_stored_in_half_precision_under_50_mib() -> None:
    path = shipped_weights_path()
    header_size = struct.unpack("<Q", path.read_bytes()[:8])[0]
    header = json.loads(path.read_bytes()[8 : 8 + header_size])
    dtypes = {entry["dtype"] for name, entry in header.items() if name != "__metadata__"}
    assert dtypes == {"F16"}
    assert path.stat().st_size < 50 * 2**20


def test_tampered_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(shipped_weights_path().read_bytes())
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum"):
        load_weights(path)


def test_other_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.safetensors"
    save_weights(path, Generator(GeneratorConfig()), GuidedUpsampler(), "x")
    # Rewrite the metadata to claim a narrower architecture than the tensors hold.
    raw = path.read_bytes()
    header_size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + header_size])
    config = json.loads(header["__metadata__"]["generator_config"])
    config["confidence_channels"] = 32
    header["__metadata__"]["generator_config"] = json.dumps(config)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + raw[8 + header_size :])
    with pytest.raises(WeightsError, match="another architecture"):
        load_weights(path)


def test_missing_and_foreign_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="does not exist"):
        load_weights(tmp_path / "nothing.safetensors")
    foreign = tmp_path / "foreign.safetensors"
    foreign.write_bytes(b"not a model at all")
    with pytest.raises(WeightsError):
        load_weights(foreign)
