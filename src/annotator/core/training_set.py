"""Which images and instances a training run uses, and why the others are left out (no torch here).

Only what `rules.is_trainable` accepts teaches the model. Images without a trainable instance are left
out (as torchvision's COCO reference training drops images without annotations); degenerate instances
(an empty mask, zero area, a geometry that does not fit its image) are reported and skipped; classes
without a trainable instance are left out of the model; a set too small to split is trained without a
validation split. Every such decision is a notice the CLI prints and the GUI shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from annotator.core.geometry import GeometryError, area
from annotator.core.model import Category, Dataset, Image, Instance
from annotator.core.rules import is_trainable
from annotator.core.wording import counted

MIN_VALIDATION_IMAGES = 2  # fewer gives an AP too noisy to pick the best checkpoint by
MIN_TRAINING_IMAGES = 2


class TrainingSetError(ValueError):
    """The data cannot train a model; the message says why in one line."""


@dataclass(frozen=True)
class TrainingItem:
    """One image and the instances it teaches (all trainable and non-degenerate)."""

    image: Image
    instances: tuple[Instance, ...]


@dataclass(frozen=True)
class TrainingSet:
    """The classes (sorted by id: label index i + 1 is `categories[i]`), the split, and the notices."""

    categories: tuple[Category, ...]
    train: tuple[TrainingItem, ...]
    validation: tuple[TrainingItem, ...]
    notices: tuple[str, ...]

    @property
    def label_to_category(self) -> tuple[int, ...]:
        """Label index -> category id; index 0 is the background."""
        return (0, *(c.id for c in self.categories))


def select_training_set(
    dataset: Dataset,
    *,
    val_split: float = 0.2,
    seed: int = 0,
    image_available: Callable[[Image], str | None] | None = None,
) -> TrainingSet:
    """The training set of `dataset`. `image_available(image)` returns None, or why the image cannot be
    read (it is then skipped with a notice). TrainingSetError when nothing can train."""
    if not 0.0 <= val_split < 1.0:
        raise TrainingSetError(f"--val-split must be in [0, 1), got {val_split}")
    notices: list[str] = []
    items, untrainable = _trainable_items(dataset, notices)
    if not items:
        raise TrainingSetError(
            "no trainable instances: only accepted, edited or hand-drawn instances train"
            + (f" ({untrainable} unreviewed, rejected or crowd instances do not)" if untrainable else "")
        )
    if image_available is not None:
        items = _available(items, image_available, notices)
    categories = _used_categories(dataset, items, notices)
    train, validation = _split(items, val_split, seed, notices)
    return TrainingSet(categories, tuple(train), tuple(validation), tuple(notices))


def _trainable_items(dataset: Dataset, notices: list[str]) -> tuple[list[TrainingItem], int]:
    items, untrainable, degenerate = [], 0, []
    for image in sorted(dataset.images.values(), key=lambda i: i.id):
        kept = []
        for instance in dataset.instances_of(image.id):
            if not is_trainable(instance) or instance.category_id not in dataset.categories:
                untrainable += 1
                continue
            problem = _degenerate(instance, image)
            if problem:
                degenerate.append(f"instance {instance.id} on {image.file_name} ({problem})")
                continue
            kept.append(instance)
        if kept:
            items.append(TrainingItem(image, tuple(kept)))
    if degenerate:
        more = f" and {len(degenerate) - 3} more" if len(degenerate) > 3 else ""
        notices.append(f"skipped {len(degenerate)} degenerate instances: {'; '.join(degenerate[:3])}{more}")
    return items, untrainable


def _degenerate(instance: Instance, image: Image) -> str | None:
    if image.width < 1 or image.height < 1:
        return f"the image size is {image.width}x{image.height}"
    try:
        pixels = area(instance.geometry, image.height, image.width)
    except (GeometryError, ValueError) as exc:
        return str(exc)
    return "empty mask, zero area" if pixels == 0 else None


def _available(
    items: list[TrainingItem], image_available: Callable[[Image], str | None], notices: list[str]
) -> list[TrainingItem]:
    kept, missing = [], []
    for item in items:
        problem = image_available(item.image)
        if problem is None:
            kept.append(item)
        else:
            missing.append(f"{item.image.file_name} ({problem})")
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        notices.append(
            f"skipped {counted(len(missing), 'image')} that cannot be read: {'; '.join(missing[:3])}{more}"
        )
    if not kept:
        raise TrainingSetError(f"none of the {len(items)} images with trainable instances can be read")
    return kept


def _used_categories(dataset: Dataset, items: list[TrainingItem], notices: list[str]) -> tuple[Category, ...]:
    counts = Counter(inst.category_id for item in items for inst in item.instances)
    unused = sorted((c for c in dataset.categories.values() if c.id not in counts), key=lambda c: c.id)
    if len(unused) <= 3:
        for category in unused:
            notices.append(f"class {category.name!r} (id {category.id}) has no trainable instance: left out")
    else:  # COCO's 80 classes on a small set: one line, not 65
        named = ", ".join(f"{c.name!r} (id {c.id})" for c in unused[:3])
        notices.append(
            f"{len(unused)} classes have no trainable instance: left out ({named} and {len(unused) - 3} more)"
        )
    return tuple(sorted((dataset.categories[cid] for cid in counts), key=lambda c: c.id))


def _split(
    items: Sequence[TrainingItem], val_split: float, seed: int, notices: list[str]
) -> tuple[list[TrainingItem], list[TrainingItem]]:
    """A seeded random split by image; no validation split when either side would be too small."""
    if val_split == 0.0:
        return list(items), []
    count = round(len(items) * val_split)
    if count < MIN_VALIDATION_IMAGES or len(items) - count < MIN_TRAINING_IMAGES:
        notices.append(
            f"only {len(items)} images with trainable instances: too few for a validation split, "
            "training on all of them without validation AP"
        )
        return list(items), []
    order = np.random.default_rng(seed).permutation(len(items))
    chosen = set(order[:count].tolist())
    train = [item for i, item in enumerate(items) if i not in chosen]
    validation = [item for i, item in enumerate(items) if i in chosen]
    return train, validation
