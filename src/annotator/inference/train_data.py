"""Training samples: an image and its instances as torchvision's Mask R-CNN wants them.

Images are decoded with `io.images.load_rgb` (EXIF orientation, any mode to RGB) and masks rasterised
from `core.geometry` exactly as pycocotools does on export. An image larger than the network will ever
see (`max_side`) is shrunk first, with its masks, so a 12-megapixel photo costs its decoding and no
more. Augmentation is cheap and seeded per (epoch, image), so a resumed run repeats it exactly: a
horizontal flip, and a scale jitter applied by the model's own resize (`scale_for`).

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
from annotator.io.images import load_rgb


@dataclass(frozen=True)
class Sample:
    """A float (3, H, W) image in [0, 1] and its target: boxes (N, 4), labels (N,), masks (N, H, W)."""

    image: torch.Tensor
    target: dict[str, torch.Tensor]
    image_id: int


class TrainingImages(torch.utils.data.Dataset):
    """The items of a training set as samples; `sample(index, epoch)` augments, `[index]` does not."""

    def __init__(
        self,
        items: Sequence[TrainingItem],
        root: Path,
        label_of: dict[int, int],
        *,
        max_side: int,
        hflip: bool = False,
        seed: int = 0,
    ) -> None:
        self.items = tuple(items)
        self.root = Path(root)
        self.label_of = label_of
        self.max_side = max_side
        self.hflip = hflip
        self.seed = seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        return self._load(index, flip=False)

    def sample(self, index: int, epoch: int) -> Sample:
        rng = np.random.default_rng((self.seed, epoch, index))
        return self._load(index, flip=self.hflip and bool(rng.integers(0, 2)))

    def path_of(self, index: int) -> Path:
        return self.root / self.items[index].image.file_name

    def _load(self, index: int, *, flip: bool) -> Sample:
        item = self.items[index]
        image = load_rgb(self.path_of(index))
        height, width = item.image.height, item.image.width
        if image.shape[:2] != (height, width):  # the file changed since it was labelled
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        masks = [to_mask_array(inst.geometry, height, width) for inst in item.instances]
        labels = [self.label_of[inst.category_id] for inst in item.instances]
        scale = min(1.0, self.max_side / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            masks = [cv2.resize(m, size, interpolation=cv2.INTER_NEAREST) for m in masks]
        if flip:
            image = image[:, ::-1]
            masks = [m[:, ::-1] for m in masks]
        return Sample(_image_tensor(image), _target(masks, labels, image.shape[:2]), item.image.id)


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
