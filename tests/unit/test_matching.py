"""TP/FP/FN per image equal pycocotools' own `evaluateImg` matches, on real COCO ground truth."""

from __future__ import annotations

import contextlib
import io

import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotator.core.geometry import Mask
from annotator.core.matching import match_image
from annotator.core.model import Instance, Source
from perturbed import perturbed_predictions


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold_index", [0, 5])  # IoU 0.5 and 0.75
def test_matches_equal_cocoeval_evaluate_img(testdata, seed, threshold_index):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(testdata / "isat_coco_tiny" / "coco_tiny.json"))
        results = perturbed_predictions(gt, seed)
        dt = gt.loadRes(results)
        evaluator = COCOeval(gt, dt, iouType="segm")
        evaluator.evaluate()
    threshold = float(evaluator.params.iouThrs[threshold_index])
    expected = _expected_from_cocoeval(evaluator, threshold_index)

    for image_id, image in gt.imgs.items():
        gts = [_instance(a, image, crowd_ok=True) for a in gt.imgToAnns[image_id]]
        preds = [_instance(a, image) for a in dt.imgToAnns[image_id]]
        got = match_image(gts, preds, height=image["height"], width=image["width"], iou_threshold=threshold)
        want = expected[image_id]
        assert {p: g for p, (g, _) in got.true_positives.items()} == want["tp"]
        assert set(got.false_positives) == want["fp"]
        assert set(got.false_negatives) == want["fn"]
        assert set(got.ignored) == want["ignored"]
        assert all(iou >= threshold for _, iou in got.true_positives.values())


def _instance(ann: dict, image: dict, crowd_ok: bool = False) -> Instance:
    segmentation = ann["segmentation"]
    if isinstance(segmentation, list):
        rles = mask_utils.frPyObjects(segmentation, image["height"], image["width"])
        rle = mask_utils.merge(rles)
    elif isinstance(segmentation["counts"], list):
        rle = mask_utils.frPyObjects(segmentation, image["height"], image["width"])
    else:
        rle = segmentation
    source = Source.from_model("test", ann["score"]) if "score" in ann else Source()
    return Instance(ann["id"], ann["image_id"], ann["category_id"], Mask.from_coco_rle(rle),
                    source=source, iscrowd=bool(ann.get("iscrowd", 0)))  # fmt: skip


def _expected_from_cocoeval(evaluator: COCOeval, t: int) -> dict:
    out = {i: {"tp": {}, "fp": set(), "fn": set(), "ignored": set()} for i in evaluator.params.imgIds}
    all_range = evaluator.params.areaRng[0]
    for e in evaluator.evalImgs:
        if e is None or e["aRng"] != all_range:
            continue
        slot = out[e["image_id"]]
        for d, dt_id in enumerate(e["dtIds"]):
            if e["dtIgnore"][t][d]:
                slot["ignored"].add(dt_id)
            elif e["dtMatches"][t][d] > 0:
                slot["tp"][dt_id] = int(e["dtMatches"][t][d])
            else:
                slot["fp"].add(dt_id)
        for g, gt_id in enumerate(e["gtIds"]):
            if not e["gtIgnore"][g] and e["gtMatches"][t][g] == 0:
                slot["fn"].add(gt_id)
    return out
