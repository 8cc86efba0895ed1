"""Training samples: an image and its instances as torchvision's Mask R-CNN wants them.

Images are decoded with `io.images.load_rgb` (EXIF orientation, any mode to RGB) and masks rasterised
from `core.geometry` exactly as pycocotools does on export. An image larger than the network will ever
see (`max_side`) is shrunk first, with its masks, so a 12-megapixel photo costs its decoding and no
more. Augmentation is cheap and seeded per (epoch, image), so a resumed run repeats it exactly: flips,
a random crop, copy-paste from another training image and a colour jitter (`train_augment`), and a
scale jitter applied by the model's own resize (`jitter_factor`).

Loading is done in the training process: measured on 2 cores, decoding a 384x288 PNG and its masks
takes about 3 ms against 0.3-1 s per training step (docs/decisions/0010-training-recipe.md), so a
loader process would only take a core from the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from annotator.core.geometry import to_mask_array
from annotator.core.training_set import TrainingItem
from annotator.inference import train_augment
from annotator.inference.train_augment import Piece
from annotator.inference.train_config import Recipe
from annotator.io.images import load_rgb


@dataclass(frozen=True)
class Sample:
    """A float (3, H, W) image in [0, 1] and its target: boxes (N, 4), labels (N,), masks (N, H, W)."""

    image: torch.Tensor
    target: dict[str, torch.Tensor]
    image_id: int


@dataclass(frozen=True)
class Augmentation:
    """What `TrainingImages.sample` does to a training image (`train_augment`); the defaults do nothing.

    `crop`: the sides of a random window as a fraction of the image's, drawn from (low, high);
    `copy_paste`: the chance of pasting instances from another training image; `color`: the strength of
    the brightness, contrast and saturation jitter; `rot90`: a random number of quarter turns."""

    hflip: bool = False
    vflip: bool = False
    rot90: bool = False
    crop: tuple[float, float] = (1.0, 1.0)
    copy_paste: float = 0.0
    color: float = 0.0


class TrainingImages(torch.utils.data.Dataset):
    """The items of a training set as samples; `sample(index, epoch)` augments, `[index]` does not."""

    def __init__(
        self,
        items: Sequence[TrainingItem],
        root: Path,
        label_of: dict[int, int],
        *,
        max_side: int,
        augment: Augmentation = Augmentation(),
        seed: int = 0,
    ) -> None:
        self.items = tuple(items)
        self.root = Path(root)
        self.label_of = label_of
        self.max_side = max_side
        self.augment = augment
        self.seed = seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        piece = self._shrunk(self._piece(index))
        return self._sample(index, piece)

    def sample(self, index: int, epoch: int) -> Sample:
        rng = np.random.default_rng((self.seed, epoch, index))
        aug = self.augment
        piece = self._piece(index)
        if aug.crop != (1.0, 1.0):
            piece = train_augment.random_crop(piece, rng, aug.crop)
        piece = self._shrunk(piece)
        if aug.copy_paste > 0 and len(self) > 1 and rng.random() < aug.copy_paste:
            other = (index + 1 + int(rng.integers(len(self) - 1))) % len(self)
            source = self._shrunk(self._piece(other))
            piece = train_augment.copy_paste(piece, source, rng)
        piece = train_augment.flip(
            piece,
            horizontal=aug.hflip and bool(rng.integers(0, 2)),
            vertical=aug.vflip and bool(rng.integers(0, 2)),
        )
        if aug.rot90:
            piece = train_augment.rotate90(piece, int(rng.integers(0, 4)))
        if aug.color > 0:
            piece = Piece(train_augment.photometric(piece.image, rng, aug.color), piece.masks, piece.labels)
        return self._sample(index, piece)

    def path_of(self, index: int) -> Path:
        return self.root / self.items[index].image.file_name

    def _piece(self, index: int) -> Piece:
        """The image at its labelled size, with its masks and labels."""
        item = self.items[index]
        image = load_rgb(self.path_of(index))
        height, width = item.image.height, item.image.width
        if image.shape[:2] != (height, width):  # the file changed since it was labelled
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        masks = [to_mask_array(inst.geometry, height, width) for inst in item.instances]
        labels = [self.label_of[inst.category_id] for inst in item.instances]
        return Piece(image, masks, labels)

    def _shrunk(self, piece: Piece) -> Piece:
        """No larger than the network will ever see (`max_side`)."""
        height, width = piece.image.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        if scale >= 1.0:
            return piece
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(np.ascontiguousarray(piece.image), size, interpolation=cv2.INTER_AREA)
        masks = [
            cv2.resize(np.ascontiguousarray(m), size, interpolation=cv2.INTER_NEAREST) for m in piece.masks
        ]
        return Piece(image, masks, piece.labels)

    def _sample(self, index: int, piece: Piece) -> Sample:
        target = _target(piece.masks, piece.labels, piece.image.shape[:2])
        return Sample(_image_tensor(piece.image), target, self.items[index].image.id)


def augmentation(recipe: Recipe) -> Augmentation:
    """The recipe's per-image augmentation."""
    return Augmentation(hflip=recipe.hflip, vflip=recipe.vflip, rot90=recipe.rot90, crop=recipe.crop,
                        copy_paste=recipe.copy_paste, color=recipe.color_jitter)  # fmt: skip


def jitter_factor(rng: np.random.Generator, jitter: tuple[float, float]) -> float:
    """The input scale for one batch, drawn uniformly from `jitter` (low, high)."""
    low, high = jitter
    return float(rng.uniform(low, high)) if high > low else float(low)


def _image_tensor(image: np.ndarray) -> torch.Tensor:
    if not image.flags.writeable or not image.flags.c_contiguous:
        image = np.array(image)  # torch takes neither a read-only array nor a flipped view
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(255)


def _target(masks: list[np.ndarray], labels: list[int], shape: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Boxes from the masks as they now are; instances a shrink emptied are dropped."""
    boxes, kept_masks, kept_labels = [], [], []
    for mask, label in zip(masks, labels, strict=True):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            continue
        boxes.append([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
        kept_masks.append(np.array(mask))
        kept_labels.append(label)
    height, width = shape
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(kept_labels, dtype=torch.int64),
        "masks": torch.from_numpy(np.stack(kept_masks))
        if kept_masks
        else torch.zeros((0, height, width), dtype=torch.uint8),
    }
