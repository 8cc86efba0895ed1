"""Ground truth beside the project: matched to its images by file name (then id); TP/FP/FN and every
COCOeval number equal a direct pycocotools run on the same files."""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotator.core import comparison
from annotator.core.geometry import Mask
from annotator.core.model import Dataset, Image, Instance, Review, Source
from annotator.io.coco import coco_from_dict
from annotator.io.coco_write import coco_dict, is_accepted
from annotator.io.jsonfile import read_json
from perturbed import perturbed_predictions


def _gt_file(testdata) -> Path:
    return testdata / "isat_coco_tiny" / "coco_tiny.json"


def _direct(gt_data: dict, results: list[dict]) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(gt_data)
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(results)), iouType="segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def _add_predictions(project: Dataset, results: list[dict]) -> dict[int, int]:
    """Predictions as model instances, ids in results order; returns COCOeval's dt id -> instance id."""
    first = max(project.instances, default=0) + 1000
    instances = [
        Instance(first + k, r["image_id"], r["category_id"], Mask.from_coco_rle(r["segmentation"]),
                 z=100 + k, source=Source.from_model("test", r["score"]))
        for k, r in enumerate(results)
    ]  # fmt: skip
    project.put_instances(instances, notify=False)
    return {k + 1: first + k for k in range(len(results))}


def _expected_matches(evaluator: COCOeval, dt_map: dict[int, int], gt_map=lambda g: g) -> dict:
    out = {i: {"tp": {}, "fp": set(), "fn": set(), "ignored": set()} for i in evaluator.params.imgIds}
    for e in evaluator.evalImgs:
        if e is None or e["aRng"] != evaluator.params.areaRng[0]:
            continue
        slot = out[e["image_id"]]
        for d, dt_id in enumerate(e["dtIds"]):
            if e["dtIgnore"][0][d]:
                slot["ignored"].add(dt_map[dt_id])
            elif e["dtMatches"][0][d] > 0:
                slot["tp"][dt_map[dt_id]] = gt_map(int(e["dtMatches"][0][d]))
            else:
                slot["fp"].add(dt_map[dt_id])
        for g, gt_id in enumerate(e["gtIds"]):
            if not e["gtIgnore"][g] and e["gtMatches"][0][g] == 0:
                slot["fn"].add(gt_map(gt_id))
    return out


def _assert_same(
    result: comparison.Comparison, evaluator: COCOeval, dt_map, image_map=lambda i: i, gt_map=lambda g: g
):
    expected = _expected_matches(evaluator, dt_map, gt_map)
    for coco_image, want in expected.items():
        got = result.matches[image_map(coco_image)]
        assert {p: g for p, (g, _) in got.true_positives.items()} == want["tp"]
        assert set(got.false_positives) == want["fp"]
        assert set(got.false_negatives) == want["fn"]
        assert set(got.ignored) == want["ignored"]
    assert result.evaluation.stats == pytest.approx(tuple(evaluator.stats), abs=1e-12)
    for k, cat_id in enumerate(evaluator.params.catIds):
        curve = evaluator.eval["precision"][:, :, k, 0, -1]
        np.testing.assert_array_equal(result.evaluation.pr_curves[cat_id], curve)


@pytest.mark.parametrize("seed", [0, 3])
def test_ground_truth_file_equals_cocoeval(testdata, seed):
    raw = read_json(_gt_file(testdata))
    gt_parsed = coco_from_dict(raw, source=_gt_file(testdata)).dataset
    project = coco_from_dict(raw, source=_gt_file(testdata)).dataset
    project.drop_instances(list(project.instances), notify=False)  # a project with predictions only
    with contextlib.redirect_stdout(io.StringIO()):
        results = perturbed_predictions(COCO(str(_gt_file(testdata))), seed)
    dt_map = _add_predictions(project, results)
    gt = comparison.align_ground_truth(project.images, raw, gt_parsed, name="coco_tiny.json")
    assert set(gt.instances) == set(project.images) and not gt.unmatched
    preds = comparison.predictions_of(project, gt.instances)
    result = comparison.compare(gt, project.images, preds)
    _assert_same(result, _direct(raw, results), dt_map)


def test_images_the_model_has_not_run_on_are_left_out_not_counted_as_all_missed(testdata):
    """A run cancelled after some images: the others hold no prediction, and counted they scored AP 0
    and pulled the dataset's AP down. Left out, the numbers are COCOeval's on the images the model saw."""
    raw = read_json(_gt_file(testdata))
    gt_parsed = coco_from_dict(raw, source=_gt_file(testdata)).dataset
    project = coco_from_dict(raw, source=_gt_file(testdata)).dataset
    project.drop_instances(list(project.instances), notify=False)
    with contextlib.redirect_stdout(io.StringIO()):
        results = perturbed_predictions(COCO(str(_gt_file(testdata))), 0)
    never = sorted(project.images)[-2:]  # the model never ran on these two
    results = [r for r in results if r["image_id"] not in never]
    dt_map = _add_predictions(project, results)
    gt = comparison.align_ground_truth(project.images, raw, gt_parsed, name="coco_tiny.json")
    ran_on = comparison.images_the_model_ran_on(project, gt.instances)
    assert set(gt.instances) - ran_on == set(never)
    result = comparison.compare(
        gt, project.images, comparison.predictions_of(project, gt.instances), ran_on=ran_on
    )
    assert result.unseen == tuple(never) and set(result.matches) == ran_on
    seen_only = dict(raw, images=[i for i in raw["images"] if i["id"] not in never],
                     annotations=[a for a in raw["annotations"] if a["image_id"] not in never])  # fmt: skip
    _assert_same(result, _direct(seen_only, results), dt_map)
    counted = comparison.compare(gt, project.images, comparison.predictions_of(project, gt.instances))
    assert counted.evaluation.stats[0] < result.evaluation.stats[0]  # what counting them did


def test_images_are_matched_by_file_name_before_id(testdata):
    """A project that numbered the same photos differently, plus one renamed photo matched by its id."""
    raw = read_json(_gt_file(testdata))
    gt_parsed = coco_from_dict(raw, source=_gt_file(testdata)).dataset
    originals = sorted(gt_parsed.images.values(), key=lambda i: i.id)
    project = Dataset()
    renumbered = [Image(n, i.file_name, i.width, i.height) for n, i in enumerate(originals[:-1], 1)]
    last = originals[-1]
    project.put_images([*renumbered, Image(last.id, "renamed.jpg", last.width, last.height)], notify=False)
    project.put_categories(gt_parsed.categories.values(), notify=False)
    gt = comparison.align_ground_truth(project.images, raw, gt_parsed, name="gt")
    by_name = {i.file_name: i.id for i in project.images.values()}
    for original in originals[:-1]:
        ids = {a["id"] for a in raw["annotations"] if a["image_id"] == original.id}
        assert {i.id for i in gt.instances[by_name[original.file_name]]} == ids
    assert len(gt.instances[last.id]) == sum(a["image_id"] == last.id for a in raw["annotations"])
    assert {i["id"] for i in gt.coco["images"]} == set(project.images)


def test_unmatched_ground_truth_images_are_reported(testdata):
    raw = read_json(_gt_file(testdata))
    gt_parsed = coco_from_dict(raw, source=_gt_file(testdata)).dataset
    project = Dataset()
    project.put_images([Image(1, "000000013923.jpg", 640, 427)], notify=False)
    gt = comparison.align_ground_truth(project.images, raw, gt_parsed, name="gt")
    assert set(gt.instances) == {1} and len(gt.unmatched) == 4
    assert {a["image_id"] for a in gt.coco["annotations"]} == {1}


def test_accepted_instances_as_ground_truth_equal_cocoeval(testdata):
    """Ground truth = accepted, edited and hand-drawn instances; predictions = every model instance."""
    raw = read_json(_gt_file(testdata))
    project = coco_from_dict(raw, source=_gt_file(testdata)).dataset  # hand-made instances
    with contextlib.redirect_stdout(io.StringIO()):
        results = perturbed_predictions(COCO(str(_gt_file(testdata))), 5)
    dt_map = _add_predictions(project, results)
    judged = sorted(dt_map.values())[:12]
    for index, inst_id in enumerate(judged):
        review = (Review.ACCEPTED, Review.REJECTED, Review.EDITED)[index % 3]
        project.put_instances([project.instances[inst_id].with_changes(review=review)], notify=False)
    gt = comparison.accepted_ground_truth(project, keep=is_accepted)
    result = comparison.compare(gt, project.images, comparison.predictions_of(project, project.images))
    gt_data = coco_dict(project, rle=True, accepted_only=True)
    every = [
        {"image_id": i.image_id, "category_id": i.category_id, "score": i.score,
         "segmentation": {"size": [project.images[i.image_id].height, project.images[i.image_id].width],
                          "counts": i.geometry.to_rle(project.images[i.image_id].height,
                                                      project.images[i.image_id].width).counts.decode()}}
        for i in sorted(project.instances.values(), key=lambda i: (i.image_id, i.id)) if i.source.is_model
    ]  # fmt: skip
    order = [i.id for i in sorted(project.instances.values(), key=lambda i: (i.image_id, i.id))
             if i.source.is_model]  # fmt: skip
    _assert_same(result, _direct(gt_data, every), {k + 1: v for k, v in enumerate(order)})
    accepted = [i for i in judged if project.instances[i].review is not Review.REJECTED]
    for inst_id in accepted:  # an accepted prediction is its own ground truth: a perfect match
        matches = result.matches[project.instances[inst_id].image_id]
        assert matches.true_positives.get(inst_id, (None, 0))[1] == pytest.approx(1.0) or inst_id in (
            matches.false_positives  # a higher-scoring duplicate took it first
        )
