"""COCOeval wrappers give pycocotools' own numbers on real COCO ground truth with perturbed predictions."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import orjson
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotator.core.evaluation import EvaluationError, evaluate, ground_truth, predictions_from
from conftest import testdata_dir as _testdata_dir

GT_PATH = _testdata_dir() / "isat_coco_tiny" / "coco_tiny.json"


def perturbed_predictions(gt: COCO, seed: int = 0) -> list[dict]:
    """Predictions made from the ground truth: shifted, eroded, dropped, extra, wrong class, scores."""
    rng = np.random.default_rng(seed)
    cat_ids = sorted(gt.getCatIds())
    results = []
    for ann in gt.loadAnns(sorted(gt.getAnnIds())):
        if ann["iscrowd"]:
            continue
        roll = rng.random()
        if roll < 0.15:
            continue  # dropped: a false negative
        mask = gt.annToMask(ann)
        if roll < 0.35:
            mask = np.roll(mask, (int(rng.integers(-6, 7)), int(rng.integers(-6, 7))), axis=(0, 1))
        elif roll < 0.5:
            mask = mask & np.roll(mask, 3, axis=0) & np.roll(mask, -3, axis=1)  # eroded
        category = ann["category_id"] if rng.random() > 0.1 else int(rng.choice(cat_ids))  # wrong class
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("ascii")
        results.append({"image_id": ann["image_id"], "category_id": category, "segmentation": rle,
                        "score": float(rng.uniform(0.3, 1.0))})  # fmt: skip
    for image in gt.dataset["images"]:  # extra: false positives
        h, w = image["height"], image["width"]
        mask = np.zeros((h, w), np.uint8, order="F")
        mask[h // 3 : h // 2, w // 3 : w // 2] = 1
        rle = mask_utils.encode(mask)
        rle["counts"] = rle["counts"].decode("ascii")
        results.append(
            {"image_id": image["id"], "category_id": cat_ids[0], "segmentation": rle, "score": 0.95}
        )
    return results


@pytest.fixture(scope="module")
def gt_data() -> dict:
    return orjson.loads(GT_PATH.read_bytes())


@pytest.fixture(scope="module")
def direct_gt() -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(GT_PATH))


def direct_eval(gt: COCO, predictions: list[dict], iou_type: str, img_ids=None) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(predictions)), iouType=iou_type)
        if img_ids is not None:
            evaluator.params.imgIds = img_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_numbers_are_exactly_cocoevals(gt_data, direct_gt, iou_type):
    predictions = perturbed_predictions(direct_gt)
    ours = evaluate(ground_truth(gt_data), predictions, iou_type=iou_type)
    direct = direct_eval(direct_gt, predictions, iou_type)
    assert ours.stats == tuple(direct.stats)
    assert 0.2 < ours.stats[0] < 0.95  # the perturbations cost something, not everything
    assert ours.table.count("Average Precision") == 6 and ours.table.count("Average Recall") == 6
    precision = direct.eval["precision"]
    for k, cat_id in enumerate(direct.params.catIds):
        values = precision[:, :, k, 0, -1]
        expected = float(values[values > -1].mean()) if (values > -1).any() else None
        assert ours.per_class[cat_id] == expected


def test_per_image_ap_equals_cocoeval_on_that_image_alone(gt_data, direct_gt):
    predictions = perturbed_predictions(direct_gt, seed=1)
    ours = evaluate(ground_truth(gt_data), predictions)
    assert set(ours.per_image) == set(direct_gt.getImgIds())
    for image_id, (ap, ap50) in ours.per_image.items():
        alone = direct_eval(direct_gt, predictions, "segm", img_ids=[image_id])
        assert ap == pytest.approx(alone.stats[0], abs=1e-12)
        assert ap50 == pytest.approx(alone.stats[1], abs=1e-12)
    assert len({v[0] for v in ours.per_image.values()}) > 1  # images really differ


def test_a_dataset_with_scores_counts_like_results_with_images_matched_by_name(gt_data, direct_gt):
    predictions = perturbed_predictions(direct_gt, seed=2)
    as_results = evaluate(ground_truth(gt_data), predictions)
    # numbered from 1 as `annotator prelabel` writes it: images are matched to the ground truth by file name
    renumber = {image["id"]: index + 1 for index, image in enumerate(gt_data["images"])}
    images = [dict(image, id=renumber[image["id"]]) for image in gt_data["images"]]
    annotations = [dict(p, id=i + 1, image_id=renumber[p["image_id"]]) for i, p in enumerate(predictions)]
    dataset = {"images": images, "categories": gt_data["categories"], "annotations": annotations}
    gt = ground_truth(gt_data)
    assert evaluate(gt, predictions_from(dataset, gt)).stats == as_results.stats
    # the ground truth as predictions (polygons, score 1.0): perfect except crowd regions
    perfect = evaluate(gt, predictions_from(gt_data, gt))
    assert perfect.stats[1] == pytest.approx(1.0)
    stranger = dict(dataset, images=[dict(images[0], file_name="elsewhere.jpg")])
    with pytest.raises(EvaluationError, match="elsewhere.jpg"):
        predictions_from(stranger, gt)


def test_no_predictions_scores_zero(gt_data):
    result = evaluate(ground_truth(gt_data), [])
    assert result.stats[0] == 0.0 and result.stats[8] == 0.0


def test_bad_input_is_a_clear_error(gt_data, direct_gt):
    good = perturbed_predictions(direct_gt)[:3]
    with pytest.raises(EvaluationError, match="image_id 999999 is not in the ground truth"):
        evaluate(ground_truth(gt_data), [dict(good[0], image_id=999999)])
    with pytest.raises(EvaluationError, match="needs image_id"):
        predictions_from([{"segmentation": []}])
    with pytest.raises(EvaluationError, match="results list or a COCO dataset"):
        predictions_from({"info": {}})
    with pytest.raises(EvaluationError, match="COCO instances dataset"):
        ground_truth([1, 2])
    broken = dict(
        gt_data, annotations=[{k: v for k, v in a.items() if k != "area"} for a in gt_data["annotations"]]
    )
    with pytest.raises(EvaluationError, match="needs area"):
        ground_truth(broken)
