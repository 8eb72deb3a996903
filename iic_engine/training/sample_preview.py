"""What the training batches look like: photos with their synthesised holes tinted, for
`iic-inpaint show-samples` (a person checks the hole mix before spending GPU time)."""

from __future__ import annotations

import numpy as np
import torch

from iic_engine.evaluation.contact_sheet import contact_sheet, tint_hole
from iic_engine.training.config import TrainingConfig
from iic_engine.training.data import (
    MASKS_FOLDER,
    BatchPlanner,
    TrainingPhotos,
    assemble_batch,
    resident_photos,
)
from iic_engine.training.hole_synthesis import HoleSampler, ObjectMaskPool

COLUMNS = 8


def preview_samples(
    config: TrainingConfig, count: int, photo_limit: int | None = None
) -> np.ndarray:
    """The first `count` training samples of the run's seed (the crops and holes its first
    steps train on) as one (H,W,3) uint8 sheet, eight to a row."""
    data = config.data
    photos = TrainingPhotos.load(data.root, data.validation_photos, limit=photo_limit)
    sampler = HoleSampler(config.holes, ObjectMaskPool.load(f"{data.root}/{MASKS_FOLDER}"))
    planner = BatchPlanner(photos, sampler, data, batch_size=COLUMNS, seed=config.run.seed)
    resident = resident_photos(photos, torch.device("cpu"))
    tiles = []
    for step in range((count + COLUMNS - 1) // COLUMNS):
        images, holes = assemble_batch(resident, planner.plan(step), data.crop)
        for image, hole in zip(images, holes, strict=True):
            pixels = ((image.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
            tiles.append(tint_hole(pixels, hole[0].numpy() > 0.5))
    tiles = tiles[:count]
    rows = [tiles[i : i + COLUMNS] for i in range(0, len(tiles), COLUMNS)]
    return contact_sheet(rows, tile_height=data.crop)
