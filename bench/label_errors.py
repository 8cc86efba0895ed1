"""Benchmark of the label audit (`annotator audit`): plant errors in a clean labelled set, audit it against
a model's predictions, and score the flags.

Planted: 5% of the instances dropped, 5% given another class, 5% dilated or eroded by 2-4 pixels
(disjoint sets). A flag finds an error when it points at it: a "possibly missing" flag whose predicted
mask covers a dropped instance (IoU >= 0.5), a "class swap" or "bad outline" flag on the changed
instance. Printed: recall of the planted errors within the top (2 x planted) flags, and precision of the
top 100. Goal (issue 16): recall >= 0.8 and precision >= 0.5 with predictions from a model trained on
the other half of the set.

    .venv/bin/python bench/label_errors.py CLEAN.json [PRED.json] [--seed 0] [--fraction 0.05] [--no-edges]

The images are read from beside CLEAN.json, for the audit's edge fit (`--no-edges`: the model alone).

Without PRED the predictions are the clean labels themselves (score 1): a self-check of the audit and
of this scoring, in which every dropped and swapped instance must be found.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils


class ErrorKind(StrEnum):
    DROPPED = "dropped"
    CLASS_SWAP = "class swap"
    OUTLINE = "outline"


@dataclass(frozen=True)
class PlantedError:
    kind: ErrorKind
    image_id: int
    instance_id: int
    original: object  # the clean Instance


@dataclass(frozen=True)
class Planted:
    dataset: object  # the Dataset with the errors in it
    errors: tuple[PlantedError, ...]


@dataclass(frozen=True)
class AuditScore:
    planted: int
    flags: int
    recall_at_2x: float  # planted errors found within the top 2 x planted flags
    precision_at_100: float  # share of the top 100 flags (or all, when fewer) that find an error
    found_by_kind: dict[ErrorKind, tuple[int, int]]  # kind -> (found in the top 2 x planted, planted)


def plant_errors(clean, *, seed: int = 0, fraction: float = 0.05) -> Planted:
    """A copy of `clean` with `fraction` of its non-crowd instances dropped, as many given another used
    class, as many dilated or eroded."""
    from annotator.core.geometry import Mask, to_mask_array
    from annotator.core.model import Dataset

    rng = np.random.default_rng(seed)
    candidates = sorted((i for i in clean.instances.values() if not i.iscrowd), key=lambda i: i.id)
    per_kind = max(1, round(fraction * len(candidates)))
    chosen = rng.permutation(len(candidates))[: 3 * per_kind]
    classes = sorted({i.category_id for i in candidates})
    changed, errors = {}, []
    for position, index in enumerate(chosen.tolist()):
        inst = candidates[index]
        kind = (ErrorKind.DROPPED, ErrorKind.CLASS_SWAP, ErrorKind.OUTLINE)[position // per_kind]
        if kind is ErrorKind.DROPPED:
            changed[inst.id] = None
        elif kind is ErrorKind.CLASS_SWAP:
            others = [c for c in classes if c != inst.category_id] or [inst.category_id + 1]
            changed[inst.id] = inst.with_changes(category_id=int(rng.choice(others)))
        else:
            image = clean.images[inst.image_id]
            mask = to_mask_array(inst.geometry, image.height, image.width)
            changed[inst.id] = inst.with_changes(geometry=Mask.from_array(_reshaped(mask, rng)))
        errors.append(PlantedError(kind, inst.image_id, inst.id, inst))
    dataset = Dataset()
    dataset.put_categories(clean.categories.values(), notify=False)
    dataset.put_images(clean.images.values(), notify=False)
    kept = (changed.get(i.id, i) for i in clean.instances.values())
    dataset.put_instances([i for i in kept if i is not None], notify=False)
    return Planted(dataset, tuple(errors))


def _reshaped(mask: np.ndarray, rng) -> np.ndarray:
    """Dilated or eroded by 2-4 pixels; small objects (which erosion would wipe out) are dilated."""
    pixels = int(rng.integers(2, 5))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    eroded = cv2.erode(mask, kernel)
    if rng.random() < 0.5 and eroded.sum() >= 0.3 * mask.sum() and eroded.any():
        return eroded
    return cv2.dilate(mask, kernel)


def score_flags(flags: Sequence, planted: Planted, images) -> AuditScore:
    """Recall within the top 2 x planted flags and precision of the top 100 (`flags` worst first)."""
    from annotator.core.audit import FlagKind

    wanted = {ErrorKind.DROPPED: FlagKind.MISSING, ErrorKind.CLASS_SWAP: FlagKind.CLASS_SWAP,
              ErrorKind.OUTLINE: FlagKind.OUTLINE}  # fmt: skip
    found: set[int] = set()

    def match(flag) -> int | None:
        for index, error in enumerate(planted.errors):
            if index in found or flag.image_id != error.image_id or flag.kind is not wanted[error.kind]:
                continue
            if error.kind is ErrorKind.DROPPED:
                if _iou(flag.prediction, error.original, images[error.image_id]) >= 0.5:
                    return index
            elif flag.instance_id == error.instance_id:
                return index
        return None

    depth = 2 * len(planted.errors)
    hits_by_flag = []
    for flag in flags[: max(depth, 100)]:
        index = match(flag)
        if index is not None:
            found.add(index)
        hits_by_flag.append(index)
    recall_hits = {i for i in hits_by_flag[:depth] if i is not None}
    top = hits_by_flag[:100]
    by_kind = {
        kind: (
            sum(1 for i in recall_hits if planted.errors[i].kind is kind),
            sum(1 for e in planted.errors if e.kind is kind),
        )
        for kind in ErrorKind
    }
    return AuditScore(
        planted=len(planted.errors),
        flags=len(flags),
        recall_at_2x=len(recall_hits) / max(len(planted.errors), 1),
        precision_at_100=sum(i is not None for i in top) / max(len(top), 1),
        found_by_kind=by_kind,
    )


def _iou(a, b, image) -> float:
    if a is None:
        return 0.0
    rles = [inst.geometry.to_rle(image.height, image.width).as_coco() for inst in (a, b)]
    return float(mask_utils.iou([rles[0]], [rles[1]], [0])[0][0])


def clean_as_predictions(clean) -> dict[int, tuple]:
    """The clean labels as scored model predictions, by image: what a perfect model would say."""
    from annotator.core.model import Review, Source

    out: dict[int, list] = {}
    for inst in clean.instances.values():
        prediction = inst.with_changes(
            id=-inst.id, source=Source.from_model("clean", 1.0), review=Review.UNREVIEWED
        )
        out.setdefault(inst.image_id, []).append(prediction)
    return {image_id: tuple(found) for image_id, found in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clean", type=Path, help="a clean labelled COCO file")
    parser.add_argument("pred", type=Path, nargs="?", help="predictions (default: the clean labels)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument(
        "--no-edges", action="store_true", help="the model alone: do not fit the labels to the image's edges"
    )
    args = parser.parse_args()

    from annotator.core.audit import audit
    from annotator.io.coco import load_coco
    from annotator.io.predictions import load_predictions

    clean = load_coco(args.clean).dataset
    planted = plant_errors(clean, seed=args.seed, fraction=args.fraction)
    predictions = clean_as_predictions(clean) if args.pred is None else load_predictions(args.pred, clean)
    from annotator.io.image_pixels import ImagePixels

    pixels = None if args.no_edges else ImagePixels(args.clean.parent)
    report = audit(planted.dataset, predictions, pixels=pixels)
    score = score_flags(report.flags, planted, clean.images)
    print(f"planted {score.planted} errors in {len(clean.instances)} instances; {score.flags} flags")
    for kind, (hit, total) in score.found_by_kind.items():
        print(f"  {kind.value:10s} found {hit} of {total} in the top {2 * score.planted}")
    print(f"recall in the top {2 * score.planted}: {score.recall_at_2x:.2f} (goal >= 0.8)")
    print(f"precision in the top 100: {score.precision_at_100:.2f} (goal >= 0.5)")


if __name__ == "__main__":
    main()
