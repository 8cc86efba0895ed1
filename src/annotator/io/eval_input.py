"""Ground truth and predictions for COCOeval, checked by the importer first.

pycocotools trusts what it is given: a polygon vertex at 1e10 or an image 10^9 pixels wide crashes it
(segfault), a width of 0 with a two-part polygon never returns, and wrong types end in a traceback. So
the ground truth goes through the COCO importer (strictly: an item it would skip is an error naming the
item), and what pycocotools sees is rebuilt from the result: every segmentation our own RLE (polygons
clipped to the image), the file's `area` and `bbox` kept when they are valid numbers. Predictions get
the same geometry checks against the image they name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from annotator.core.geometry import GeometryError
from annotator.core.model import Dataset, Image
from annotator.io.coco import coco_from_dict, finite_float, read_geometry
from annotator.io.errors import DatasetError
from annotator.io.jsonfile import read_json
from annotator.io.problems import Problems


def load_ground_truth(path: Path) -> dict[str, Any]:
    """The COCO dict COCOeval gets for the ground-truth file at `path` (DatasetError if unusable)."""
    raw = read_json(path)
    parsed = coco_from_dict(raw, source=path, strict=True).dataset
    return evaluation_dict(raw, parsed, source=path, strict=True)


def evaluation_dict(raw: Mapping[str, Any], parsed: Dataset, *, source: Path, strict: bool) -> dict[str, Any]:
    """`parsed` (the importer's reading of `raw`) as a dict pycocotools can take safely. `strict`: an
    `area`, `bbox` or `iscrowd` COCOeval cannot use is an error; otherwise it is computed again."""
    raw_annotations = {}
    for ann in raw.get("annotations", []):
        if isinstance(ann, dict) and isinstance(ann.get("id"), int):
            raw_annotations.setdefault(ann["id"], ann)
    annotations = []
    for inst in sorted(parsed.instances.values(), key=lambda i: i.id):
        image = parsed.images[inst.image_id]
        rle = inst.geometry.to_rle(image.height, image.width)
        given = raw_annotations.get(inst.id, {})
        item = f"annotation {inst.id}"
        annotations.append(
            {
                "id": inst.id,
                "image_id": inst.image_id,
                "category_id": inst.category_id,
                "segmentation": {"size": [rle.height, rle.width], "counts": rle.counts.decode("ascii")},
                "area": _area(given, rle, source, item, strict),
                "bbox": _bbox(given, inst.geometry, image, source, item, strict),
                "iscrowd": int(inst.iscrowd),
            }
        )
    return {
        "images": [
            {"id": i.id, "file_name": i.file_name, "width": i.width, "height": i.height}
            for i in sorted(parsed.images.values(), key=lambda i: i.id)
        ],
        "annotations": annotations,
        "categories": [
            {"id": c.id, "name": c.name, "supercategory": c.supercategory}
            for c in sorted(parsed.categories.values(), key=lambda c: c.id)
        ],
    }


def check_prediction_ids(data: Any, source: Path) -> None:
    """Before ids are looked up anywhere: every image and category id an integer, every file name text."""
    if isinstance(data, dict):
        images = data.get("images")
        if images is not None and not isinstance(images, list):
            raise DatasetError(source, f"images must be a list, got {type(images).__name__}")
        for index, image in enumerate(images or []):
            if not isinstance(image, dict) or not _is_int(image.get("id")):
                raise DatasetError(source, "needs an integer id", item=f"image at index {index}")
            if "file_name" in image and not isinstance(image["file_name"], str):
                raise DatasetError(source, "file_name must be text", item=f"image {image['id']}")
        data = data.get("annotations")
    for index, pred in enumerate(data if isinstance(data, list) else []):
        if isinstance(pred, dict):
            for key in ("image_id", "category_id"):
                if key in pred and not _is_int(pred[key]):
                    raise DatasetError(source, f"{key} must be an integer", item=f"prediction {index}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def checked_predictions(
    predictions: list[dict[str, Any]], gt: Mapping[str, Any], *, source: Path
) -> list[dict]:
    """Predictions (COCO results form, image ids already the ground truth's) with their geometry checked
    and made our RLE, a finite score and a finite box; the first bad one raises DatasetError."""
    images = {i["id"]: Image(i["id"], i["file_name"], i["width"], i["height"]) for i in gt["images"]}
    checked = []
    for index, pred in enumerate(predictions):
        item = f"prediction {index}"
        image_id = pred.get("image_id")
        image = images.get(image_id) if isinstance(image_id, int) else None
        if image is None:
            raise DatasetError(
                source, f"image_id {str(pred.get('image_id'))[:40]} is not in the ground truth", item=item
            )
        if not isinstance(pred.get("category_id"), int) or isinstance(pred["category_id"], bool):
            raise DatasetError(source, "category_id must be an integer", item=item)
        score = finite_float(pred.get("score", 1.0))
        if score is None:
            raise DatasetError(source, "score must be a finite number", item=item)
        entry = {"image_id": image.id, "category_id": pred["category_id"], "score": score}
        if "segmentation" in pred:
            geometry = read_geometry(pred, image, item, Problems(), source=source)
            rle = geometry.to_rle(image.height, image.width)
            entry["segmentation"] = {"size": [rle.height, rle.width], "counts": rle.counts.decode("ascii")}
        if "bbox" in pred:
            box = [finite_float(v) for v in pred["bbox"]] if isinstance(pred["bbox"], list) else []
            if len(box) != 4 or None in box or box[2] < 0 or box[3] < 0:
                raise DatasetError(source, "bbox must be [x, y, w, h], four finite numbers", item=item)
            entry["bbox"] = box
        checked.append(entry)
    return checked


def _area(given: Mapping[str, Any], rle, source: Path, item: str, strict: bool) -> float:
    if "area" in given:
        area = finite_float(given["area"])
        if area is not None and area >= 0:
            return area
        if strict:
            raise DatasetError(
                source, f"area must be a number >= 0, got {str(given['area'])[:40]!r}", item=item
            )
    from pycocotools import mask as mask_utils

    return float(mask_utils.area(rle.as_coco()))


def _bbox(
    given: Mapping[str, Any], geometry, image: Image, source: Path, item: str, strict: bool
) -> list[float]:
    if "bbox" in given:
        box = [finite_float(v) for v in given["bbox"]] if isinstance(given["bbox"], list) else []
        if len(box) == 4 and None not in box and box[2] >= 0 and box[3] >= 0:
            return box
        if strict:
            raise DatasetError(source, "bbox must be [x, y, w, h], four finite numbers", item=item)
    try:
        return [float(v) for v in geometry.bbox(image.height, image.width)]
    except GeometryError:
        return [0.0, 0.0, 0.0, 0.0]
