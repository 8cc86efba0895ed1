"""Which instances of an imported dataset were only boxes in their file: a COCO annotation with a bbox
and no segmentation, or a LabelMe rectangle. The importers keep such a box as a rectangle polygon (so it
can be seen and edited); `annotator segment-boxes` turns exactly these into masks.

Read from the file itself rather than guessed from the geometry: a person's rectangle polygon in a
segmentation dataset is a real outline and must stay one.
"""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from annotator.core.geometry import Polygons
from annotator.core.model import Dataset
from annotator.io.jsonfile import read_json


def box_only_instances(source: Path, data: Any, dataset: Dataset) -> set[int]:
    """Ids of the instances of `dataset` (read from `source`) that were boxes without a region."""
    if source.is_dir() or (isinstance(data, dict) and isinstance(data.get("shapes"), list)):
        return _labelme_rectangles(source, dataset)
    if not isinstance(data, dict):
        return set()
    found = set()
    for ann in data.get("annotations", []) or []:
        if not isinstance(ann, dict) or ann.get("segmentation") not in (None, [], {}):
            continue
        instance = dataset.instances.get(ann.get("id")) if isinstance(ann.get("id"), int) else None
        if instance is not None and isinstance(instance.geometry, Polygons):
            found.add(instance.id)
    return found


def _labelme_rectangles(source: Path, dataset: Dataset) -> set[int]:
    files = sorted(source.rglob("*.json")) if source.is_dir() else [source]
    root = source if source.is_dir() else source.parent
    by_name = {image.file_name: image.id for image in dataset.images.values()}
    found = set()
    for file in files:
        try:
            data = read_json(file)
        except Exception:  # noqa: BLE001 - the importer has already reported files it could not read
            continue
        if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
            continue
        image_id = _image_of(file, root, data, by_name)
        if image_id is None:
            continue
        rectangles = [_corners(s) for s in data["shapes"] if _is_rectangle(s)]
        rectangles = [r for r in rectangles if r is not None]
        for instance in dataset.instances_of(image_id):
            rings = instance.geometry.rings if isinstance(instance.geometry, Polygons) else ()
            if len(rings) == 1 and any(np.array_equal(rings[0], r) for r in rectangles):
                found.add(instance.id)
    return found


def _image_of(file: Path, root: Path, data: dict, by_name: dict[str, int]) -> int | None:
    """The dataset image this LabelMe file describes: its imagePath, else the image beside it with the
    same stem (the importer's own fallbacks)."""
    folder = PurePosixPath(file.parent.relative_to(root).as_posix())
    image_path = data.get("imagePath")
    if isinstance(image_path, str) and image_path.strip():
        named = posixpath.normpath((folder / image_path.replace("\\", "/")).as_posix())
        if named in by_name:
            return by_name[named]
    for name, image_id in by_name.items():
        path = PurePosixPath(name)
        if path.parent == folder and path.stem == file.stem:
            return image_id
    return None


def _is_rectangle(shape: Any) -> bool:
    return isinstance(shape, dict) and shape.get("shape_type") == "rectangle"


def _corners(shape: dict) -> np.ndarray | None:
    """The ring the LabelMe importer makes of a rectangle: from two corners, or the four given."""
    try:
        points = np.asarray(shape.get("points"), dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if points.shape == (4, 2):
        return points
    if points.shape != (2, 2):
        return None
    (x0, x1), (y0, y1) = sorted(points[:, 0]), sorted(points[:, 1])
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
