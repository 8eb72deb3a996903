"""Training photos, crops and batches (§3.1, §4.1).

The photos are decoded once and kept resident (on the GPU when training there), so the only
per-step work off the accelerator is drawing holes, which `BatchPlanner` does, optionally in
DataLoader workers. A step's batch depends only on (seed, step, rank): a resumed run sees
exactly the batches it would have seen without the interruption.

A data root holds `train/` (JPEG photos), `train_saliency/` (salient-object masks with the
photo's basename, pixel-aligned) and `masks/` (object silhouettes). `pack_training_data`
writes a smaller root of the same layout for carrying to a GPU machine.
"""

from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from iic_engine.training.config import DataConfig
from iic_engine.training.hole_synthesis import HoleSampler

PHOTOS_FOLDER = "train"
SALIENCY_FOLDER = "train_saliency"
MASKS_FOLDER = "masks"
PACK_SUMMARY = "pack.json"
# Validation holes come from their own seed so they never change with the training seed.
VALIDATION_SEED = 400


def nearest_resize(mask: np.ndarray, size: int) -> np.ndarray:
    """(h,w) → (size,size) by nearest neighbour, output pixel i taking input ⌊i·h/size⌋
    (OpenCV's INTER_NEAREST, which the GPU machine's image lacks)."""
    rows = np.arange(size) * mask.shape[0] // size
    cols = np.arange(size) * mask.shape[1] // size
    return mask[rows[:, None], cols]


def _name_hash(name: str) -> int:
    return zlib.crc32(name.encode())


def photo_names(root: str | Path) -> list[str]:
    """Basenames (without extension) of the photos under root/train, by name hash.

    Ordering by hash makes the validation slice (the first N) independent of which other
    photos a packed subset kept.
    """
    names = [p.stem for p in Path(root, PHOTOS_FOLDER).glob("*.jpg")]
    if not names:
        raise FileNotFoundError(f"No training photos (*.jpg) in {Path(root, PHOTOS_FOLDER)}")
    return sorted(names, key=lambda n: (_name_hash(n), n))


@dataclass(frozen=True)
class TrainingPhotos:
    """Decoded photos: images uint8 (H,W,3); salient bool (H,W) or None, aligned with images."""

    names: tuple[str, ...]
    images: tuple[np.ndarray, ...]
    salient: tuple[np.ndarray | None, ...]
    validation_count: int

    @classmethod
    def load(
        cls, root: str | Path, validation_count: int, limit: int | None = None
    ) -> TrainingPhotos:
        names = photo_names(root)[:limit]
        if len(names) <= validation_count:
            raise ValueError(
                f"{len(names)} photos in {root} leave none for training after "
                f"{validation_count} validation photos"
            )
        images, salient = [], []
        for name in names:
            images.append(
                np.asarray(Image.open(Path(root, PHOTOS_FOLDER, f"{name}.jpg")).convert("RGB"))
            )
            salient_path = Path(root, SALIENCY_FOLDER, f"{name}.png")
            salient.append(
                np.asarray(Image.open(salient_path).convert("L")) > 127
                if salient_path.exists()
                else None
            )
        return cls(tuple(names), tuple(images), tuple(salient), validation_count)

    @property
    def validation_indices(self) -> np.ndarray:
        return np.arange(self.validation_count)

    @property
    def training_indices(self) -> np.ndarray:
        return np.arange(self.validation_count, len(self.names))


@dataclass(frozen=True)
class BatchPlan:
    """What a batch is made of; photos: (B,) indices; boxes: (B,4) top, left, side, flip;
    holes: (B,1,crop,crop) uint8, 1 = hole."""

    photos: np.ndarray
    boxes: np.ndarray
    holes: np.ndarray


class BatchPlanner(Dataset[BatchPlan]):
    """Draws crops and holes for a step; a torch map-style dataset indexed by step."""

    def __init__(
        self,
        photos: TrainingPhotos,
        sampler: HoleSampler,
        config: DataConfig,
        batch_size: int,
        seed: int,
        rank: int = 0,
    ) -> None:
        self.shapes = [image.shape[:2] for image in photos.images]
        self.salient = photos.salient
        self.sampler = sampler
        self.config = config
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        training = photos.training_indices
        has_salient = np.array([photos.salient[i] is not None for i in training], dtype=bool)
        self.salient_candidates = training[has_salient]
        self.other_candidates = training[~has_salient]

    def _choose_photo(self, rng: np.random.Generator) -> int:
        use_salient = len(self.salient_candidates) > 0 and (
            len(self.other_candidates) == 0 or rng.random() < self.config.saliency_batch_share
        )
        candidates = self.salient_candidates if use_salient else self.other_candidates
        return int(candidates[rng.integers(len(candidates))])

    def _random_box(self, rng: np.random.Generator, photo: int) -> tuple[int, int, int, int]:
        height, width = self.shapes[photo]
        scale = rng.uniform(*self.config.scale_range)
        side = min(round(self.config.crop / scale), height, width)
        top = int(rng.integers(height - side + 1))
        left = int(rng.integers(width - side + 1))
        return top, left, side, int(rng.random() < 0.5)

    def _hole(
        self, rng: np.random.Generator, photo: int, box: tuple[int, int, int, int]
    ) -> np.ndarray:
        salient = self.salient[photo]
        if salient is not None:
            top, left, side, flip = box
            salient = nearest_resize(
                salient[top : top + side, left : left + side], self.config.crop
            )
            if flip:
                salient = salient[:, ::-1]
        return self.sampler.sample(rng, self.config.crop, salient)

    def plan(self, step: int) -> BatchPlan:
        rng = np.random.default_rng((self.seed, step, self.rank))
        photos, boxes, holes = [], [], []
        for _ in range(self.batch_size):
            photo = self._choose_photo(rng)
            box = self._random_box(rng, photo)
            photos.append(photo)
            boxes.append(box)
            holes.append(self._hole(rng, photo, box))
        return BatchPlan(
            photos=np.array(photos, dtype=np.int64),
            boxes=np.array(boxes, dtype=np.int64),
            holes=np.stack(holes)[:, None].astype(np.uint8),
        )

    def validation_plan(self, photos: TrainingPhotos) -> BatchPlan:
        """Centre squares of the validation photos with holes fixed by VALIDATION_SEED."""
        indices = photos.validation_indices
        boxes, holes = [], []
        for i in indices:
            rng = np.random.default_rng((VALIDATION_SEED, int(i)))
            height, width = self.shapes[i]
            side = min(height, width)
            box = ((height - side) // 2, (width - side) // 2, side, 0)
            boxes.append(box)
            holes.append(self._hole(rng, int(i), box))
        return BatchPlan(
            photos=indices.astype(np.int64),
            boxes=np.array(boxes, dtype=np.int64),
            holes=np.stack(holes)[:, None].astype(np.uint8),
        )

    def __getitem__(self, step: int) -> BatchPlan:
        return self.plan(step)

    def __len__(self) -> int:
        return 2**62


def resident_photos(photos: TrainingPhotos, device: torch.device) -> list[torch.Tensor]:
    """Each photo as a (3,H,W) uint8 tensor on `device`, decoded once for the whole run."""
    return [
        torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))).to(device)
        for im in photos.images
    ]


def assemble_batch(
    photos: list[torch.Tensor], plan: BatchPlan, crop: int, subset: slice = slice(None)
) -> tuple[torch.Tensor, torch.Tensor]:
    """→ images (B,3,crop,crop) float in [-1,1], holes (B,1,crop,crop) float in {0,1}."""
    crops = []
    for photo, (top, left, side, flip) in zip(
        plan.photos[subset], plan.boxes[subset].tolist(), strict=True
    ):
        region = photos[photo][:, top : top + side, left : left + side].float()[None]
        if side != crop:
            region = F.interpolate(
                region, size=(crop, crop), mode="bilinear", antialias=True, align_corners=False
            )
        if flip:
            region = region.flip(-1)
        crops.append(region)
    device = photos[0].device
    images = (torch.cat(crops) / 127.5 - 1).clamp(-1, 1)
    holes = torch.from_numpy(plan.holes[subset]).to(device).float()
    return images, holes


@dataclass(frozen=True)
class PackSummary:
    photos: int
    photos_left_out: int
    saliency_masks: int
    object_masks: int
    bytes: int


def _write(path: Path, image: Image.Image, **save_args: Any) -> int:
    buffer = io.BytesIO()
    image.save(buffer, **save_args)
    path.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def _shrunk(image: Image.Image, factor: float, resample: Image.Resampling) -> Image.Image:
    if factor >= 1.0:
        return image
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, resample)


def pack_training_data(
    source: str | Path,
    out: str | Path,
    short_side: int = 288,
    jpeg_quality: int = 80,
    mask_long_side: int = 256,
    budget_mib: float = 34.0,
    limit: int | None = None,
    mask_limit: int | None = None,
) -> PackSummary:
    """Write a compact data root: photos shrunk (never enlarged) to `short_side` as JPEG,
    their salient-object masks alike, and the object masks at `mask_long_side`.

    Photos go in name-hash order (validation slice first) until `budget_mib` is spent. The
    default budget leaves room in the device tool's 64 MiB for the code and a checkpoint.
    `limit` and `mask_limit` take only the first photos and masks (tests, quick looks).
    """
    source, out = Path(source), Path(out)
    for folder in (PHOTOS_FOLDER, SALIENCY_FOLDER, MASKS_FOLDER):
        (out / folder).mkdir(parents=True, exist_ok=True)
    written = 0
    mask_paths = sorted(Path(source, MASKS_FOLDER).glob("*.png"))[:mask_limit]
    for path in mask_paths:
        mask = Image.open(path).convert("L")
        mask = _shrunk(mask, mask_long_side / max(mask.size), Image.Resampling.BILINEAR)
        mask = mask.point(lambda v: 255 if v > 127 else 0).convert("1")
        written += _write(out / MASKS_FOLDER / path.name, mask, format="PNG", optimize=True)
    names = photo_names(source)[:limit]
    packed = saliency = 0
    for name in names:
        photo = Image.open(source / PHOTOS_FOLDER / f"{name}.jpg").convert("RGB")
        factor = short_side / min(photo.size)
        photo_bytes = io.BytesIO()
        _shrunk(photo, factor, Image.Resampling.LANCZOS).save(
            photo_bytes, format="JPEG", quality=jpeg_quality
        )
        if written + photo_bytes.tell() > budget_mib * 2**20:
            break
        (out / PHOTOS_FOLDER / f"{name}.jpg").write_bytes(photo_bytes.getvalue())
        written += photo_bytes.tell()
        packed += 1
        salient_path = source / SALIENCY_FOLDER / f"{name}.png"
        if salient_path.exists():
            salient = _shrunk(
                Image.open(salient_path).convert("L"), factor, Image.Resampling.NEAREST
            )
            written += _write(
                out / SALIENCY_FOLDER / f"{name}.png",
                salient.convert("1"),
                format="PNG",
                optimize=True,
            )
            saliency += 1
    summary = PackSummary(
        photos=packed,
        photos_left_out=len(names) - packed,
        saliency_masks=saliency,
        object_masks=len(mask_paths),
        bytes=written,
    )
    (out / PACK_SUMMARY).write_text(json.dumps(summary.__dict__, indent=2) + "\n")
    return summary
