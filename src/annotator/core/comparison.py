"""Predictions against ground truth: per-image TP/FP/FN (for the canvas) and COCOeval's numbers (for the
panel), from one snapshot of the dataset, so it can run in a worker thread.

Ground truth is either a second COCO file, kept beside the project and never mixed into it (its images
matched to the project's by file name, then by id), or the project's own accepted instances. The
predictions are the project's model instances (rejected ones too: this measures the model). The matching
follows COCOeval's rules exactly (`core.matching`): only the ground truth's classes count, predictions
and ground truth are given in the order COCOeval sees them, so ties break the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from annotator.core.evaluation import EvalResult, evaluate, ground_truth
from annotator.core.geometry import area
from annotator.core.matching import ImageMatches, match_image
from annotator.core.model import Dataset, Image, Instance

IOU_THRESHOLD = 0.5  # matches drawn on the canvas are COCOeval's at IoU 0.50


@dataclass(frozen=True)
class GroundTruth:
    """Reference instances by project image id, and the COCO dict COCOeval gets (project image ids)."""

    name: str  # shown in the panel: the file's name, or "accepted instances"
    instances: Mapping[int, tuple[Instance, ...]]  # project image id -> ground truth, COCOeval's order
    coco: dict[str, Any] = field(repr=False)
    category_ids: frozenset[int] = frozenset()
    unmatched: tuple[str, ...] = ()  # ground-truth images not found in the project
    from_accepted: bool = False


@dataclass(frozen=True)
class Comparison:
    """One run: matches per image at IoU 0.50 and the dataset's mask evaluation."""

    ground_truth: GroundTruth
    matches: Mapping[int, ImageMatches]  # project image id ->
    evaluation: EvalResult | None
    predictions: int  # how many predictions were evaluated
    error: str | None = None  # COCOeval refused the input (the matches still stand)

    def gt_instances(self, image_id: int) -> tuple[Instance, ...]:
        return self.ground_truth.instances.get(image_id, ())


def align_ground_truth(
    project: Mapping[int, Image], raw: Mapping[str, Any], parsed: Dataset, *, name: str
) -> GroundTruth:
    """A ground-truth file (`raw` as read, `parsed` by the importer) on the project's images.

    An image is matched by file name, else by id; a project image takes at most one ground-truth image.
    """
    by_name = {image.file_name: image.id for image in project.values()}
    gt_images = sorted(parsed.images.values(), key=lambda i: i.id)
    id_map = {g.id: by_name[g.file_name] for g in gt_images if g.file_name in by_name}
    taken = set(id_map.values())
    unmatched = []
    for gt_image in gt_images:
        if gt_image.id in id_map:
            continue
        if gt_image.id in project and gt_image.id not in taken:
            id_map[gt_image.id] = gt_image.id
            taken.add(gt_image.id)
        else:
            unmatched.append(gt_image.file_name)
    coco = _remapped_coco(raw, id_map, project)
    position = {ann["id"]: index for index, ann in enumerate(coco["annotations"])}
    instances = {}
    for gt_id, project_id in id_map.items():
        found = [i.with_changes(image_id=project_id) for i in parsed.instances_of(gt_id)]
        found.sort(key=lambda i: (position.get(i.id, len(position)), i.id))
        instances[project_id] = tuple(found)
    categories = frozenset(int(c["id"]) for c in coco["categories"])
    return GroundTruth(name, instances, coco, categories, tuple(unmatched))


def _remapped_coco(raw: Mapping[str, Any], id_map: dict[int, int], project: Mapping[int, Image]) -> dict:
    """The file's own dict (its stored areas, as COCOeval would read them) on project image ids."""
    images = []
    for image in raw.get("images", []):
        target = id_map.get(image.get("id")) if isinstance(image, dict) else None
        if target is not None:
            images.append({**image, "id": target})
    annotations = []
    for ann in raw.get("annotations", []):
        if not isinstance(ann, dict) or ann.get("image_id") not in id_map:
            continue
        ann = {**ann, "image_id": id_map[ann["image_id"]]}
        ann.setdefault("iscrowd", 0)
        if "area" not in ann or "bbox" not in ann:
            _fill_area_and_bbox(ann, project[ann["image_id"]])
        annotations.append(ann)
    categories = [copy.deepcopy(c) for c in raw.get("categories", []) if isinstance(c, dict)]
    return {"images": images, "annotations": annotations, "categories": categories}


def _fill_area_and_bbox(ann: dict, image: Image) -> None:
    """COCOeval needs both; files written by other tools sometimes leave them out."""
    segmentation = ann.get("segmentation")
    try:
        if isinstance(segmentation, list):
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, image.height, image.width))
        else:
            rle = mask_utils.frPyObjects(segmentation, image.height, image.width)
        ann.setdefault("area", float(mask_utils.area(rle)))
        ann.setdefault("bbox", [float(v) for v in mask_utils.toBbox(rle)])
    except (TypeError, ValueError, IndexError, KeyError):
        ann.setdefault("area", 0.0)
        ann.setdefault("bbox", [0.0, 0.0, 0.0, 0.0])


def accepted_ground_truth(dataset: Dataset, *, keep: Callable[[Instance], bool]) -> GroundTruth:
    """The project's accepted, edited and hand-drawn instances (`keep`) as ground truth, every image."""
    instances, annotations = {}, []
    for image in sorted(dataset.images.values(), key=lambda i: i.id):
        chosen = tuple(sorted((i for i in dataset.instances_of(image.id) if keep(i)), key=lambda i: i.id))
        instances[image.id] = chosen
        annotations += [_annotation(inst, image) for inst in chosen]
    # every class some ground truth uses counts, even one the project never declared
    names = {c.id: c.name for c in dataset.categories.values()}
    for chosen in instances.values():
        for inst in chosen:
            names.setdefault(inst.category_id, f"class {inst.category_id}")
    coco = {
        "images": [
            {"id": i.id, "file_name": i.file_name, "width": i.width, "height": i.height}
            for i in sorted(dataset.images.values(), key=lambda i: i.id)
        ],
        "annotations": annotations,
        "categories": [{"id": cid, "name": name} for cid, name in sorted(names.items())],
    }
    categories = frozenset(names)
    return GroundTruth("accepted instances", instances, coco, categories, from_accepted=True)


def _annotation(inst: Instance, image: Image) -> dict[str, Any]:
    rle = inst.geometry.to_rle(image.height, image.width)
    return {
        "id": inst.id,
        "image_id": image.id,
        "category_id": inst.category_id,
        "segmentation": {"size": [rle.height, rle.width], "counts": rle.counts.decode("ascii")},
        "area": float(area(inst.geometry, image.height, image.width)),
        "bbox": list(inst.geometry.bbox(image.height, image.width)),
        "iscrowd": int(inst.iscrowd),
    }


def predictions_of(dataset: Dataset, image_ids: Iterable[int]) -> dict[int, tuple[Instance, ...]]:
    """The model's instances on these images, by id: the order COCOeval reads them in."""
    out = {}
    for image_id in image_ids:
        found = (i for i in dataset.instances_of(image_id) if i.source.is_model)
        out[image_id] = tuple(sorted(found, key=lambda i: i.id))
    return out


def results_list(images: Mapping[int, Image], predictions: Mapping[int, Sequence[Instance]]) -> list[dict]:
    """COCO results (what loadRes takes): RLE masks with the model's scores."""
    results = []
    for image_id in sorted(predictions):
        image = images[image_id]
        for inst in predictions[image_id]:
            rle = inst.geometry.to_rle(image.height, image.width)
            results.append(
                {
                    "image_id": image_id,
                    "category_id": inst.category_id,
                    "segmentation": {"size": [rle.height, rle.width], "counts": rle.counts.decode("ascii")},
                    "score": _score(inst),
                }
            )
    return results


def _score(inst: Instance) -> float:
    return 0.0 if inst.score is None else float(inst.score)


def compare(
    gt: GroundTruth,
    images: Mapping[int, Image],
    predictions: Mapping[int, Sequence[Instance]],
    *,
    cancelled: Callable[[], bool] = lambda: False,
) -> Comparison | None:
    """Match every image and run COCOeval (segm); None if `cancelled` says so between images."""
    evaluated = {image_id: predictions.get(image_id, ()) for image_id in gt.instances}
    matches = {}
    for image_id, preds in evaluated.items():
        if cancelled():
            return None
        image = images[image_id]
        matches[image_id] = match_image(
            gt.instances[image_id],
            [p for p in preds if p.category_id in gt.category_ids],
            height=image.height,
            width=image.width,
            iou_threshold=IOU_THRESHOLD,
        )
    results = results_list(images, evaluated)
    try:
        evaluation = evaluate(ground_truth(gt.coco), results, iou_type="segm")
        error = None
    except (ValueError, KeyError, TypeError, IndexError, AssertionError) as exc:
        evaluation, error = None, f"COCOeval: {exc}"
    return Comparison(gt, matches, evaluation, len(results), error)


def average_precision(curve: np.ndarray) -> float | None:
    """AP of one precision-recall row (COCOeval's mean over recall thresholds), None if undefined."""
    defined = curve[curve > -1]
    return float(np.mean(defined)) if defined.size else None
