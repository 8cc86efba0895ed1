"""Mask and box AP/AR with pycocotools' COCOeval: its own numbers, plus per-class and per-image views.

Everything is computed by COCOeval itself: the 12 summary numbers by `summarize`, per-class AP from the
precision array `accumulate` fills, per-image AP by `accumulate` restricted to one image (reusing the
matching `evaluate` already did, so it costs no second evaluation).
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

IOU_TYPES = ("segm", "bbox")
STAT_NAMES = (
    "AP @[IoU=0.50:0.95 | area=   all | maxDets=100]",
    "AP @[IoU=0.50      | area=   all | maxDets=100]",
    "AP @[IoU=0.75      | area=   all | maxDets=100]",
    "AP @[IoU=0.50:0.95 | area= small | maxDets=100]",
    "AP @[IoU=0.50:0.95 | area=medium | maxDets=100]",
    "AP @[IoU=0.50:0.95 | area= large | maxDets=100]",
    "AR @[IoU=0.50:0.95 | area=   all | maxDets=  1]",
    "AR @[IoU=0.50:0.95 | area=   all | maxDets= 10]",
    "AR @[IoU=0.50:0.95 | area=   all | maxDets=100]",
    "AR @[IoU=0.50:0.95 | area= small | maxDets=100]",
    "AR @[IoU=0.50:0.95 | area=medium | maxDets=100]",
    "AR @[IoU=0.50:0.95 | area= large | maxDets=100]",
)


IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # COCOeval's defaults, the rows of a pr_curves entry
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)  # and its columns


class EvaluationError(ValueError):
    """Ground truth or predictions that COCOeval cannot use; the message says which item and why."""


@dataclass(frozen=True)
class CocoMatches:
    """COCOeval's own matching on one image at IoU 0.50 (area "all", the last max-detections), in COCO
    annotation ids: ground truth ids as in the file, prediction ids as `loadRes` numbers them (1, 2, ...
    in the order given). Read from `evalImgs`, so there is no second matcher to keep in step."""

    true_positives: Mapping[int, int]  # prediction id -> ground-truth id
    false_positives: tuple[int, ...]
    false_negatives: tuple[int, ...]
    ignored: tuple[int, ...]  # predictions matched to crowd ground truth
    evaluated: frozenset[int]  # the prediction ids COCOeval looked at (the first 100 per class)


@dataclass(frozen=True)
class EvalResult:
    """One COCOeval run. AP values are in [0, 1]; None where COCOeval has nothing to measure (-1)."""

    iou_type: str
    stats: tuple[float, ...]  # the 12 numbers of COCOeval.summarize, -1 where undefined
    table: str  # COCOeval.summarize's own printout
    per_class: Mapping[int, float | None]  # category id -> AP@[.50:.95]
    per_image: Mapping[int, tuple[float | None, float | None]]  # image id -> (AP@[.50:.95], AP@.50)
    # category id -> COCOeval's interpolated precision at IoU_THRESHOLDS x RECALL_THRESHOLDS (area all,
    # 100 detections), -1 where undefined: the precision-recall curves AP is the mean of
    pr_curves: Mapping[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    matches: Mapping[int, CocoMatches] = field(default_factory=dict, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "iou_type": self.iou_type,
            "stats": dict(zip(STAT_NAMES, self.stats, strict=True)),
            "per_class_ap": {str(k): v for k, v in self.per_class.items()},
            "per_image_ap": {str(k): {"ap": v[0], "ap50": v[1]} for k, v in self.per_image.items()},
        }


def predictions_from(data: Any, gt: COCO | None = None) -> list[dict[str, Any]]:
    """The detection list in `data`: a COCO results list, or a COCO dataset's annotations (with scores).

    Annotations without a score count as 1.0. A dataset's image ids are mapped to `gt`'s by file name
    (so `annotator prelabel`'s output, numbered from 1, evaluates against any ground truth). Returns new
    dicts; the input is left as it is.
    """
    id_map: dict[Any, Any] | None = None
    if isinstance(data, list):
        annotations = data
    elif isinstance(data, dict) and isinstance(data.get("annotations"), list):
        annotations = data["annotations"]
        if gt is not None and isinstance(data.get("images"), list):
            id_map = _image_id_map(data["images"], gt)
    else:
        raise EvaluationError("predictions must be a COCO results list or a COCO dataset with annotations")
    result = []
    for index, ann in enumerate(annotations):
        if not isinstance(ann, dict) or "image_id" not in ann or "category_id" not in ann:
            raise EvaluationError(f"prediction {index}: needs image_id and category_id")
        if "segmentation" not in ann and "bbox" not in ann:
            raise EvaluationError(f"prediction {index}: has neither segmentation nor bbox")
        keep = ("image_id", "category_id", "segmentation", "bbox", "score")
        entry = {k: ann[k] for k in keep if k in ann}
        entry.setdefault("score", 1.0)
        if id_map is not None and _is_id(entry["image_id"]):  # a list or dict as id is no dict key
            entry["image_id"] = id_map.get(entry["image_id"], entry["image_id"])
        result.append(entry)
    return result


def _image_id_map(images: list[Any], gt: COCO) -> dict[Any, Any]:
    """Prediction image id -> ground-truth image id, matching file names (whole, else the base name)."""
    by_name = {img.get("file_name"): img["id"] for img in gt.dataset["images"]}
    base_names: dict[str, list[Any]] = {}
    for img in gt.dataset["images"]:
        base_names.setdefault(str(img.get("file_name", "")).rsplit("/", 1)[-1], []).append(img["id"])
    mapping = {}
    for index, image in enumerate(images):
        if not isinstance(image, dict) or "id" not in image:
            raise EvaluationError(f"predictions: image {index} has no id")
        if not _is_id(image["id"]):
            raise EvaluationError(f"predictions: image {index}: id must be an integer, got {image['id']!r}")
        name = str(image.get("file_name", ""))
        candidates = base_names.get(name.rsplit("/", 1)[-1], [])
        if name in by_name:
            target = by_name[name]
        elif len(candidates) == 1:
            target = candidates[0]
        else:
            raise EvaluationError(f"predictions: image {name!r} is not in the ground truth")
        if mapping.setdefault(image["id"], target) != target:  # the last one silently took its predictions
            raise EvaluationError(f"predictions: image {index}: id {image['id']} is also another image's")
    return mapping


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def ground_truth(data: Any) -> COCO:
    """A pycocotools COCO object for a ground-truth dict (what `COCO(path)` builds, without printing)."""
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations")
    ):
        raise EvaluationError("ground truth must be a COCO instances dataset (images and annotations lists)")
    data = dict(data)
    data.setdefault("categories", [])
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            coco.createIndex()
        except (KeyError, TypeError) as exc:
            raise EvaluationError(f"ground truth is malformed: missing or wrong {exc}") from None
    for ann in data["annotations"]:
        missing = [k for k in ("iscrowd", "area", "bbox") if k not in ann]
        if missing:
            raise EvaluationError(
                f"ground-truth annotation {ann.get('id')}: COCOeval needs {', '.join(missing)}"
            )
    return coco


def evaluate(
    gt: COCO,
    predictions: Sequence[dict[str, Any]],
    *,
    iou_type: str = "segm",
    image_ids: Sequence[int] | None = None,
) -> EvalResult:
    """COCOeval for `iou_type` ("segm" or "bbox"); `predictions` in COCO results form (see predictions_from);
    over `image_ids` of the ground truth only, when given (COCOeval's `params.imgIds`)."""
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}")
    results = _load_results(gt, predictions, iou_type)
    evaluator = COCOeval(gt, results, iouType=iou_type)
    if image_ids is not None:
        evaluator.params.imgIds = sorted(image_ids)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        evaluator.evaluate()
        evaluator.accumulate()
        out.seek(0)
        out.truncate()
        evaluator.summarize()
    table = out.getvalue()
    per_class = _per_class(evaluator)
    per_image = _per_image(evaluator)
    curves = _pr_curves(evaluator)
    stats = tuple(float(s) for s in evaluator.stats)
    return EvalResult(iou_type, stats, table, per_class, per_image, curves, _matches(evaluator))


def coco_matches(
    gt: COCO,
    predictions: Sequence[dict[str, Any]],
    *,
    iou_threshold: float = 0.5,
    use_categories: bool = True,
    iou_type: str = "segm",
) -> dict[int, CocoMatches]:
    """COCOeval's own matching alone (`evaluate`, no `accumulate`) at one IoU threshold, every detection
    looked at, classes apart or (`use_categories=False`) pooled: read from `evalImgs` as
    `EvalResult.matches` is. The label audit matches this way."""
    results = _load_results(gt, predictions, iou_type)
    evaluator = COCOeval(gt, results, iouType=iou_type)
    params = evaluator.params
    params.iouThrs = np.array([float(iou_threshold)])
    params.areaRng, params.areaRngLbl = [params.areaRng[0]], ["all"]
    params.maxDets = [max(len(predictions), 1)]
    params.useCats = int(use_categories)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
    return _matches(evaluator)


def _load_results(gt: COCO, predictions: Sequence[dict[str, Any]], iou_type: str) -> COCO:
    anns = copy.deepcopy(list(predictions))
    known = set(gt.getImgIds())
    for index, ann in enumerate(anns):
        if ann["image_id"] not in known:
            raise EvaluationError(
                f"prediction {index}: image_id {ann['image_id']} is not in the ground truth"
            )
        if iou_type == "segm" and "segmentation" not in ann:
            raise EvaluationError(f"prediction {index}: no segmentation for mask evaluation")
        if "segmentation" in ann:  # as loadRes does: with a mask, the box and area come from the mask
            ann["segmentation"] = _as_rle(ann["segmentation"], gt.imgs[ann["image_id"]], index)
    if not anns:
        empty = COCO()
        empty.dataset = {
            "images": list(gt.dataset["images"]),
            "categories": copy.deepcopy(gt.dataset.get("categories", [])),
            "annotations": [],
        }
        with contextlib.redirect_stdout(io.StringIO()):
            empty.createIndex()
        return empty
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return gt.loadRes(anns)
        except (KeyError, TypeError, ValueError, AssertionError) as exc:
            raise EvaluationError(f"predictions are malformed ({type(exc).__name__}: {exc})") from None


def _as_rle(segmentation: Any, image: Mapping[str, Any], index: int) -> dict[str, Any]:
    """loadRes only takes RLE masks: polygons and list-count RLE become compressed RLE first."""
    height, width = int(image["height"]), int(image["width"])
    try:
        if isinstance(segmentation, list):
            parts = mask_utils.frPyObjects(segmentation, height, width)
            return (
                mask_utils.merge(parts)
                if parts
                else mask_utils.encode(np.zeros((height, width), np.uint8, order="F"))
            )
        if isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
            return mask_utils.frPyObjects(segmentation, height, width)
        if isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
            return segmentation
    except (TypeError, ValueError, IndexError) as exc:
        raise EvaluationError(f"prediction {index}: bad segmentation ({exc})") from None
    raise EvaluationError(f"prediction {index}: segmentation is neither polygons nor RLE")


def _mean_defined(values: np.ndarray) -> float | None:
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else None


def _per_class(evaluator: COCOeval) -> dict[int, float | None]:
    precision = evaluator.eval["precision"]  # [iou threshold, recall, category, area range, max dets]
    return {
        int(cat_id): _mean_defined(precision[:, :, k, 0, -1])
        for k, cat_id in enumerate(evaluator.params.catIds)
    }


def _pr_curves(evaluator: COCOeval) -> dict[int, np.ndarray]:
    precision = evaluator.eval["precision"]
    return {
        int(cat_id): np.array(precision[:, :, k, 0, -1]) for k, cat_id in enumerate(evaluator.params.catIds)
    }


def _matches(evaluator: COCOeval, threshold_index: int = 0) -> dict[int, CocoMatches]:
    parts: dict[int, tuple[dict, list, list, list, set]] = {}
    all_areas = evaluator.params.areaRng[0]
    for entry in evaluator.evalImgs:
        if entry is None or entry["aRng"] != all_areas:
            continue
        tp, fp, fn, ignored, seen = parts.setdefault(int(entry["image_id"]), ({}, [], [], [], set()))
        for d, dt_id in enumerate(entry["dtIds"]):
            seen.add(int(dt_id))
            if entry["dtIgnore"][threshold_index][d]:
                ignored.append(int(dt_id))
            elif entry["dtMatches"][threshold_index][d] > 0:
                tp[int(dt_id)] = int(entry["dtMatches"][threshold_index][d])
            else:
                fp.append(int(dt_id))
        for g, gt_id in enumerate(entry["gtIds"]):
            if not entry["gtIgnore"][g] and entry["gtMatches"][threshold_index][g] == 0:
                fn.append(int(gt_id))
    return {
        image_id: CocoMatches(tp, tuple(fp), tuple(fn), tuple(ignored), frozenset(seen))
        for image_id, (tp, fp, fn, ignored, seen) in parts.items()
    }


def _per_image(evaluator: COCOeval) -> dict[int, tuple[float | None, float | None]]:
    """AP of each image alone: `accumulate` over that image's slice of the matching `evaluate` did.

    (`accumulate(p)` with `p.imgIds = [one]` is no good: it indexes `evalImgs` by the position in
    `p.imgIds`, so it would always read the first image. Hence a copy that holds only this image.)
    """
    evaluated = evaluator._paramsEval
    n_images, n_areas = len(evaluated.imgIds), len(evaluated.areaRng)
    n_cats = len(evaluated.catIds) if evaluated.useCats else 1
    iou_50 = int(np.argmin(np.abs(evaluated.iouThrs - 0.5)))
    result = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for i, image_id in enumerate(evaluated.imgIds):
            single = copy.copy(evaluator)
            single._paramsEval = copy.copy(evaluated)
            single._paramsEval.imgIds = [image_id]
            single.evalImgs = [
                evaluator.evalImgs[k * n_areas * n_images + a * n_images + i]
                for k in range(n_cats)
                for a in range(n_areas)
            ]
            single.accumulate(copy.copy(single._paramsEval))
            precision = single.eval["precision"]
            result[int(image_id)] = (
                _mean_defined(precision[:, :, :, 0, -1]),
                _mean_defined(precision[iou_50, :, :, 0, -1]),
            )
    return result
