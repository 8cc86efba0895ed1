"""Match predictions to ground truth on one image by mask IoU, exactly as COCOeval's `evaluateImg` does.

This labels each prediction TP, FP or ignored and each ground-truth instance matched or FN, so the canvas
can colour them and show the IoU of every match. Rules copied from pycocotools (area range "all"):
per category; predictions by descending score (stable), only the first `max_detections`; greedy, each
prediction takes the unmatched ground truth of highest IoU >= threshold, preferring non-crowd; a crowd
region may absorb many predictions, which are then ignored; crowd IoU is intersection over prediction area.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pycocotools import mask as mask_utils

from annotator.core.model import Instance


@dataclass(frozen=True)
class ImageMatches:
    """Outcome on one image at one IoU threshold. Ids are instance ids of the two sets."""

    iou_threshold: float
    true_positives: dict[int, tuple[int, float]] = field(default_factory=dict)  # pred -> (gt, iou)
    false_positives: tuple[int, ...] = ()
    false_negatives: tuple[int, ...] = ()
    ignored: tuple[int, ...] = ()  # predictions matched to crowd ground truth
    not_evaluated: tuple[int, ...] = ()  # predictions past max_detections for their class

    @property
    def precision(self) -> float:
        judged = len(self.true_positives) + len(self.false_positives)
        return len(self.true_positives) / judged if judged else 1.0

    @property
    def recall(self) -> float:
        relevant = len(self.true_positives) + len(self.false_negatives)
        return len(self.true_positives) / relevant if relevant else 1.0


def match_image(
    ground_truth: Sequence[Instance],
    predictions: Sequence[Instance],
    *,
    height: int,
    width: int,
    iou_threshold: float = 0.5,
    max_detections: int = 100,
) -> ImageMatches:
    """TP/FP/FN for one image; predictions need a score (`Instance.source.score`)."""
    gt_by_class, pred_by_class = defaultdict(list), defaultdict(list)
    for gt in ground_truth:
        gt_by_class[gt.category_id].append(gt)
    for pred in predictions:
        pred_by_class[pred.category_id].append(pred)
    tp: dict[int, tuple[int, float]] = {}
    fp, fn, ignored, skipped = [], [], [], []
    for category in sorted(set(gt_by_class) | set(pred_by_class)):
        gts = sorted(gt_by_class[category], key=lambda g: bool(g.iscrowd))  # stable: non-crowd first
        preds = sorted(pred_by_class[category], key=lambda p: -(p.score or 0.0))
        skipped += [p.id for p in preds[max_detections:]]
        preds = preds[:max_detections]
        ious = _ious(preds, gts, height, width)
        gt_match = _greedy(ious, [bool(g.iscrowd) for g in gts], iou_threshold)
        matched_gt = set()
        for pred_index, pred in enumerate(preds):
            gt_index = gt_match[pred_index]
            if gt_index < 0:
                fp.append(pred.id)
            elif gts[gt_index].iscrowd:
                ignored.append(pred.id)
            else:
                tp[pred.id] = (gts[gt_index].id, float(ious[pred_index, gt_index]))
                matched_gt.add(gt_index)
        fn += [g.id for i, g in enumerate(gts) if not g.iscrowd and i not in matched_gt]
    return ImageMatches(iou_threshold, tp, tuple(fp), tuple(fn), tuple(ignored), tuple(skipped))


def _ious(preds: Sequence[Instance], gts: Sequence[Instance], height: int, width: int) -> np.ndarray:
    if not preds or not gts:
        return np.zeros((len(preds), len(gts)))
    pred_rles = [p.geometry.to_rle(height, width).as_coco() for p in preds]
    gt_rles = [g.geometry.to_rle(height, width).as_coco() for g in gts]
    return np.asarray(mask_utils.iou(pred_rles, gt_rles, [int(g.iscrowd) for g in gts])).reshape(
        len(preds), len(gts)
    )


def _greedy(ious: np.ndarray, crowd: list[bool], threshold: float) -> list[int]:
    """For each prediction (best score first) the index of the ground truth it matches, or -1."""
    taken = [False] * len(crowd)
    result = []
    for row in ious:
        best, best_iou = -1, min(threshold, 1 - 1e-10)
        for index, value in enumerate(row):
            if taken[index] and not crowd[index]:
                continue
            if best > -1 and not crowd[best] and crowd[index]:
                break  # a real match beats any crowd region listed after it
            if value < best_iou:
                continue
            best, best_iou = index, value
        if best >= 0:
            taken[best] = True
        result.append(best)
    return result
