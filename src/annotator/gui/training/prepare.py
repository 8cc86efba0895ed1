"""Before a round: the training set of a snapshot of the project, checked, and written where the training
process reads it (no Qt here; it runs in a worker thread).

The set is `core.training_set.select_training_set` (the instances `rules.is_trainable` keeps) on a
snapshot of the dataset taken when the person presses Train: later edits do not change a run in progress. It is written as a COCO
file beside the round's model (`round-N.data.json`: what that model learned from) holding only those
images and instances; the training process selects the same set from it again, with the same split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from annotator.core.model import Dataset, Image
from annotator.core.training_set import TrainingSet, select_training_set
from annotator.io.coco_write import save_coco
from annotator.io.errors import DatasetError
from annotator.io.paths import resolve_inside


@dataclass(frozen=True)
class Preflight:
    """A training set that can train, and what the person should know about it."""

    training_set: TrainingSet

    @property
    def images(self) -> int:
        return len(self.training_set.train) + len(self.training_set.validation)

    @property
    def notices(self) -> Sequence[str]:
        return self.training_set.notices

    def summary(self) -> str:
        """ "40 images with 312 instances in 3 classes (8 held out for validation)"."""
        ts = self.training_set
        instances = sum(len(item.instances) for item in (*ts.train, *ts.validation))
        classes = len(ts.categories)
        held = f"{len(ts.validation)} held out for validation" if ts.validation else "no validation split"
        return (
            f"{self.images} image{'s' * (self.images != 1)} with {instances} trainable instance"
            f"{'s' * (instances != 1)} in {classes} class{'es' * (classes != 1)} ({held})"
        )


def preflight(snapshot: Dataset, root: Path, *, val_split: float, seed: int = 0) -> Preflight:
    """The training set of `snapshot` with images under `root`; TrainingSetError (one line) when it
    cannot train: no trainable instance, or none of their images on disk."""
    chosen = select_training_set(
        snapshot, val_split=val_split, seed=seed, image_available=lambda image: _missing(root, image)
    )
    return Preflight(chosen)


def write_training_data(preflight: Preflight, path: Path) -> None:
    """The set as a COCO file (atomically): its classes, its images and their trainable instances."""
    ts = preflight.training_set
    items = (*ts.train, *ts.validation)
    subset = Dataset()
    subset.put_categories(ts.categories, notify=False)
    subset.put_images((item.image for item in items), notify=False)
    subset.put_instances((inst for item in items for inst in item.instances), notify=False)
    save_coco(subset, path)


def _missing(root: Path, image: Image) -> str | None:
    try:
        path = resolve_inside(root, image.file_name)
    except DatasetError as exc:
        return exc.reason
    return None if path.is_file() else f"not found under {root}"
