"""Predictions against ground truth: per-image TP/FP/FN (for the canvas) and COCOeval's numbers (for the
panel), from one snapshot of the dataset, so it can run in a worker thread.

Ground truth is either a second COCO file, kept beside the project and never mixed into it (its images
matched to the project's by file name, then by id), or the project's own accepted instances. The
predictions are the project's model instances (rejected ones too: this measures the model). The matches
are COCOeval's own (its `evalImgs` at IoU 0.50), so what the canvas colours is what the AP counts: only
the ground truth's classes count, and ties break as COCOeval breaks them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from annotator.core.evaluation import CocoMatches, EvalResult, evaluate, ground_truth
from annotator.core.geometry import area
from annotator.core.model import Category, Dataset, Image, ImageStatus, Instance

IOU_THRESHOLD = 0.5  # matches drawn on the canvas are COCOeval's at IoU 0.50


@dataclass(frozen=True)
class ImageMatches:
    """Outcome on one image at IoU 0.50, in instance ids of the project (predictions) and of the
    ground truth."""

    true_positives: dict[int, tuple[int, float]] = field(default_factory=dict)  # pred -> (gt, iou)
    false_positives: tuple[int, ...] = ()
    false_negatives: tuple[int, ...] = ()
    ignored: tuple[int, ...] = ()  # predictions matched to crowd ground truth
    not_evaluated: tuple[int, ...] = ()  # predictions past COCOeval's 100 for their class

    @property
    def precision(self) -> float:
        judged = len(self.true_positives) + len(self.false_positives)
        return len(self.true_positives) / judged if judged else 1.0

    @property
    def recall(self) -> float:
        relevant = len(self.true_positives) + len(self.false_negatives)
        return len(self.true_positives) / relevant if relevant else 1.0


@dataclass(frozen=True)
class GroundTruth:
    """Reference instances by project image id, and the COCO dict COCOeval gets (project image ids)."""

    name: str  # shown in the panel: the file's name, or "accepted instances"
    instances: Mapping[int, tuple[Instance, ...]]  # project image id -> ground truth, COCOeval's order
    coco: dict[str, Any] = field(repr=False)
    category_ids: frozenset[int] = frozenset()
    unmatched: tuple[str, ...] = ()  # ground-truth images not found in the project
    category_names: Mapping[int, str] = field(default_factory=dict)  # the ground truth's own class names

    def class_names(self, categories: Iterable[Category]) -> dict[int, str]:
        """Class id -> name as the comparison shows it: the ground truth's own name for its classes
        (which the project may lack), the project's for the others."""
        return {c.id: c.name for c in categories} | dict(self.category_names)


@dataclass(frozen=True)
class Comparison:
    """One run: matches per image at IoU 0.50 and the dataset's mask evaluation."""

    ground_truth: GroundTruth
    matches: Mapping[int, ImageMatches]  # project image id ->
    evaluation: EvalResult | None
    predictions: int  # how many predictions were evaluated
    error: str | None = None  # COCOeval refused the input (the matches still stand)
    unseen: tuple[int, ...] = ()  # ground-truth images left out: the model has not run on them

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
    names = {c.id: c.name for c in parsed.categories.values()}
    return GroundTruth(name, instances, coco, categories, tuple(unmatched), names)


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
    return GroundTruth("accepted instances", instances, coco, frozenset(names), (), names)


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


def images_the_model_ran_on(dataset: Dataset, image_ids: Iterable[int]) -> frozenset[int]:
    """Those of `image_ids` the model has run on: holding any of its instances (rejected ones too), or
    pre-labelled with nothing found. An image it never saw would count as all missed."""
    return frozenset(
        i
        for i in image_ids
        if i in dataset.images
        and (
            dataset.images[i].status is ImageStatus.PRELABELED
            or any(inst.source.is_model for inst in dataset.instances_of(i))
        )
    )


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
    ran_on: Collection[int] | None = None,
) -> Comparison | None:
    """Run COCOeval (segm) and read its matches for every image (of those in `ran_on`: the others are
    left out, named in `unseen`); None if `cancelled` says so first."""
    seen = [i for i in gt.instances if ran_on is None or i in ran_on]
    unseen = tuple(i for i in gt.instances if ran_on is not None and i not in ran_on)
    evaluated = {image_id: predictions.get(image_id, ()) for image_id in seen}
    if not evaluated:  # nothing to measure: not an AP of 0 over images nobody ran the model on
        return Comparison(gt, {}, None, 0, None, unseen)
    results = results_list(images, evaluated)
    if cancelled():
        return None
    try:
        image_ids = None if ran_on is None else list(evaluated)
        evaluation = evaluate(ground_truth(gt.coco), results, iou_type="segm", image_ids=image_ids)
        error = None
    except (ValueError, KeyError, TypeError, IndexError, AssertionError) as exc:
        evaluation, error = None, f"COCOeval: {exc}"
    # loadRes numbers the predictions 1, 2, ... in the order of `results`
    by_result_id = {k: inst for k, inst in enumerate(_in_results_order(evaluated), start=1)}
    coco_matches = {} if evaluation is None else evaluation.matches
    matches = {
        image_id: _image_matches(
            coco_matches.get(image_id),
            gt.instances[image_id],
            evaluated[image_id],
            by_result_id,
            images[image_id],
            gt.category_ids,
        )  # fmt: skip
        for image_id in evaluated
    }
    return Comparison(gt, matches, evaluation, len(results), error, unseen)


def _in_results_order(predictions: Mapping[int, Sequence[Instance]]) -> list[Instance]:
    return [inst for image_id in sorted(predictions) for inst in predictions[image_id]]


def _image_matches(
    found: CocoMatches | None,
    truth: Sequence[Instance],
    predictions: Sequence[Instance],
    by_result_id: Mapping[int, Instance],
    image: Image,
    category_ids: frozenset[int],
) -> ImageMatches:
    """COCOeval's matches on one image in instance ids, with the IoU of each true positive."""
    truth_by_id = {g.id: g for g in truth}
    if found is None:  # nothing of the ground truth's classes here, or COCOeval refused the input
        return ImageMatches(not_evaluated=tuple(p.id for p in predictions))
    tp = {}
    for result_id, gt_id in found.true_positives.items():
        pred, target = by_result_id[result_id], truth_by_id.get(gt_id)
        if target is not None:
            tp[pred.id] = (gt_id, _iou(pred, target, image))
    seen = {by_result_id[r].id for r in found.evaluated}
    return ImageMatches(
        tp,
        tuple(by_result_id[r].id for r in found.false_positives),
        tuple(g for g in found.false_negatives if g in truth_by_id),
        tuple(by_result_id[r].id for r in found.ignored),
        tuple(p.id for p in predictions if p.id not in seen and p.category_id in category_ids),
    )


def _iou(prediction: Instance, target: Instance, image: Image) -> float:
    a = prediction.geometry.to_rle(image.height, image.width).as_coco()
    b = target.geometry.to_rle(image.height, image.width).as_coco()
    return float(mask_utils.iou([a], [b], [0])[0][0])


def average_precision(curve: np.ndarray) -> float | None:
    """AP of one precision-recall row (COCOeval's mean over recall thresholds), None if undefined."""
    defined = curve[curve > -1]
    return float(np.mean(defined)) if defined.size else None
