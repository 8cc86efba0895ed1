"""A predictions file put on a dataset's images, for the label audit: a COCO results list (image ids of
the dataset) or a COCO dataset whose annotations carry scores (images matched by file name).

Entries are checked the way `annotator eval` checks them (`core.evaluation.predictions_from`); a mask
must have its image's size. Results without a mask keep their box as a rectangle. A dataset exported by
annotator without scores still carries them in its own `annotator` object, and they are used.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core.evaluation import EvaluationError, ground_truth, predictions_from
from annotator.core.geometry import Geometry, GeometryError, Mask, Polygons
from annotator.core.model import ID_MAX, Dataset, Instance, Review, Source
from annotator.io.coco import finite_float
from annotator.io.coco_write import OWN_KEY
from annotator.io.errors import DatasetError
from annotator.io.jsonfile import read_json


def load_predictions(
    path: str | Path, dataset: Dataset, *, model_name: str | None = None
) -> dict[int, tuple[Instance, ...]]:
    """The file's detections as unreviewed model instances by the dataset's image id (ids from -1
    down, so they never collide with the dataset's own)."""
    path = Path(path)
    return predictions_on(read_json(path), path, dataset, model_name=model_name)


def predictions_on(
    data: Any,
    path: Path,
    dataset: Dataset,
    *,
    model_name: str | None = None,
    unknown_images: Counter | None = None,
) -> dict[int, tuple[Instance, ...]]:
    """`load_predictions` on a file's parsed content. A detection on an image the dataset lacks is an
    error, or with `unknown_images` left out and counted there by image id."""
    data = _with_own_scores(data)
    images = [
        {"id": i.id, "file_name": i.file_name, "width": i.width, "height": i.height}
        for i in dataset.images.values()
    ]
    try:
        entries = predictions_from(data, ground_truth({"images": images, "annotations": []}))
    except EvaluationError as exc:
        raise DatasetError(path, str(exc)) from None
    name = model_name or path.stem
    out: dict[int, list[Instance]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry["image_id"], int) or isinstance(entry["image_id"], bool):
            raise DatasetError(
                path, f"image_id must be an integer, got {entry['image_id']!r}", item=f"prediction {index}"
            )
        image = dataset.images.get(entry["image_id"])
        if image is None:
            if unknown_images is None:
                raise DatasetError(
                    path, f"image_id {entry['image_id']!r} is not in the dataset", item=f"prediction {index}"
                )
            unknown_images[entry["image_id"]] += 1
            continue
        try:
            geometry = _geometry(entry, image.height, image.width)
            score, category_id = _score(entry["score"]), _category_id(entry["category_id"])
        except (GeometryError, TypeError, ValueError, OverflowError) as exc:  # int(inf): OverflowError
            raise DatasetError(path, str(exc), item=f"prediction {index}") from None
        out.setdefault(image.id, []).append(
            Instance(
                id=-1 - index,
                image_id=image.id,
                category_id=category_id,
                geometry=geometry,
                source=Source.from_model(name, score),
                review=Review.UNREVIEWED,
            )
        )
    return {image_id: tuple(found) for image_id, found in out.items()}


def _with_own_scores(data: Any) -> Any:
    """A dataset written by annotator without `include_scores` keeps each score in its own object."""
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        return data
    annotations = []
    for ann in data["annotations"]:
        own = ann.get(OWN_KEY) if isinstance(ann, dict) else None
        if isinstance(own, dict) and "score" not in ann and isinstance(own.get("score"), int | float):
            ann = {**ann, "score": own["score"]}
        annotations.append(ann)
    return {**data, "annotations": annotations}


def _score(value: Any) -> float:
    score = finite_float(value)
    if score is None:
        raise ValueError(f"score must be a finite number, got {value!r:.40}")
    return score


def _category_id(value: Any) -> int:
    """An id as `annotator eval` takes it: a JSON integer the project can store (not 1.5 cut to 1)."""
    if isinstance(value, bool) or not isinstance(value, int) or not -ID_MAX - 1 <= value <= ID_MAX:
        raise ValueError(f"category_id must be an integer id, got {value!r:.40}")
    return value


def _geometry(entry: dict[str, Any], height: int, width: int) -> Geometry:
    segmentation = entry.get("segmentation")
    if isinstance(segmentation, list) and segmentation:
        flat = segmentation if isinstance(segmentation[0], list) else [segmentation]
        if not all(isinstance(ring, list) and None not in map(finite_float, ring) for ring in flat):
            raise GeometryError(
                f"segmentation polygons must be lists of finite numbers, got {str(flat)[:60]}"
            )
        return Polygons.from_flat(flat)
    if isinstance(segmentation, dict):
        mask = Mask.from_coco_rle(segmentation)
        mask.to_rle(height, width)  # raises when the size is not the image's
        return mask
    bbox = entry.get("bbox")
    if isinstance(bbox, list) and len(bbox) == 4:
        box = [finite_float(v) for v in bbox]
        if None in box:
            raise GeometryError(f"bbox must be [x, y, w, h], four finite numbers, got {str(bbox)[:60]}")
        x, y, w, h = box
        if w > 0 and h > 0:
            return Polygons((np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]),))
    raise GeometryError("neither a usable segmentation nor a box")
