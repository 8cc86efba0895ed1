"""Fuzzing what `annotator eval` gives pycocotools, and what the window stores of an imported file.

Properties:
- eval: for any mutation of a valid ground truth and predictions, the checked input either raises
  DatasetError naming the file, or COCOeval runs on it and returns; never a crash (pycocotools segfaults
  on a far vertex or a huge image when given raw input) and never another exception.
- store: whatever the importer accepts (what `info` and `convert` accept), a project stores and reads
  back exactly; the window never meets a file `info` accepted but SQLite cannot hold.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from annotator.core.evaluation import EvaluationError, evaluate, ground_truth, predictions_from
from annotator.io.coco import coco_from_dict
from annotator.io.errors import DatasetError
from annotator.io.eval_input import check_prediction_ids, checked_predictions, evaluation_dict
from annotator.io.store import ProjectStore

EXAMPLES = int(os.environ.get("ANNOTATOR_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GT_PATH, PRED_PATH = Path("gt.json"), Path("pred.json")

GT = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30},
               {"id": 2, "file_name": "b.jpg", "width": 20, "height": 20}],
    "categories": [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 20, 1, 20, 20], [25, 2, 35, 2, 30, 9]],
         "area": 200.0, "bbox": [1, 1, 34, 19], "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 2, "segmentation": {"size": [20, 20], "counts": [50, 30, 320]},
         "area": 30, "bbox": [2, 10, 2, 10], "iscrowd": 1},
    ],
}  # fmt: skip
PRED = [
    {"image_id": 1, "category_id": 1, "segmentation": [[2, 2, 19, 2, 19, 19]], "score": 0.9},
    {"image_id": 2, "category_id": 2, "bbox": [2, 10, 3, 9], "score": 0.4,
     "segmentation": {"size": [20, 20], "counts": [50, 30, 320]}},
]  # fmt: skip

hostile_values = st.sampled_from(
    [None, True, -1, 0, 10**9, 2**63, 2**70, 1e10, -1e10, 1e400, float("nan"), "12", "", "\ud800", [], {},
     [[1, 1, 1e10, 2, 3, 1e10]], [[0, 0, 1e9, 0, 0, 1e9], [5, 5, 6, 5, 5, 6]], {"size": ["30", "40"], "counts": 5},
     {"size": [30, 40], "counts": "0"}, [1, 2, 3, 4]]
)  # fmt: skip


@st.composite
def mutated(draw):
    gt, pred = copy.deepcopy(GT), copy.deepcopy(PRED)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["images", "annotations", "pred"]))
        items = pred if where == "pred" else gt[where]
        item = items[draw(st.integers(0, len(items) - 1))]
        key = draw(st.sampled_from(["id", "image_id", "category_id", "width", "height", "segmentation", "area",
                                    "bbox", "iscrowd", "score"]))  # fmt: skip
        if draw(st.booleans()):
            item[key] = draw(hostile_values)
        else:
            item.pop(key, None)
    return gt, pred


def _evaluate(gt_raw, pred_raw):
    try:
        parsed = coco_from_dict(gt_raw, source=GT_PATH, strict=True).dataset
        gt_dict = evaluation_dict(gt_raw, parsed, source=GT_PATH, strict=True)
    except DatasetError as error:
        assert str(error).startswith("gt.json")
        return None
    gt = ground_truth(gt_dict)
    try:
        check_prediction_ids(pred_raw, PRED_PATH)
        predictions = checked_predictions(predictions_from(pred_raw, gt), gt_dict, source=PRED_PATH)
    except DatasetError as error:
        assert str(error).startswith("pred.json")
        return None
    except EvaluationError:
        return None
    try:
        return [evaluate(gt, predictions, iou_type=t) for t in ("segm", "bbox")]
    except EvaluationError:
        return None


@FUZZ
@given(mutated())
# the issue's cases: a far vertex (segfault), width 1e9 or 0 with a two-part polygon (segfault, hang)
@example(
    ({**GT, "annotations": [{**GT["annotations"][0], "segmentation": [[1, 1, 1e10, 2, 3, 1e10]]}]}, PRED)
)
@example(({**GT, "images": [{**GT["images"][0], "width": 10**9}, GT["images"][1]]}, PRED))
@example(({**GT, "images": [{**GT["images"][0], "width": 0}, GT["images"][1]]}, PRED))
@example(
    ({**GT, "annotations": [{**GT["annotations"][1], "segmentation": {"size": [20, 20], "counts": 7}}]}, PRED)
)
@example(({**GT, "annotations": [{**GT["annotations"][0], "area": "200"}]}, PRED))
@example(({**GT, "annotations": [{**GT["annotations"][0], "iscrowd": None}]}, PRED))
def test_eval_input_is_refused_clearly_or_evaluated(case):
    gt, pred = case
    results = _evaluate(gt, pred)
    if results is not None:
        assert all(len(r.stats) == 12 for r in results)


def test_the_issue_cases_are_errors_naming_the_item():
    for key, value in [("area", "200"), ("iscrowd", None)]:
        gt = copy.deepcopy(GT)
        gt["annotations"][0][key] = value
        try:
            _ = evaluation_dict(gt, coco_from_dict(gt, source=GT_PATH, strict=True).dataset, source=GT_PATH,
                                strict=True)  # fmt: skip
        except DatasetError as error:
            assert error.item == "annotation 1" and key in error.reason
        else:
            raise AssertionError(f"{key}={value!r} was accepted")


STORABLE = st.sampled_from(
    [2**63, 2**64, -(2**63) - 1, "\ud800", "a\udcffb", 10**30, 1e400, float("nan")]
) | st.recursive(st.text(max_size=4), lambda c: st.lists(c, min_size=1, max_size=1), max_leaves=300)


@FUZZ
@given(
    where=st.sampled_from(["image id", "annotation id", "category id", "category name", "file name",
                           "colour", "extra", "category extra", "z", "score"]),
    value=STORABLE,
)  # fmt: skip
@example(where="extra", value=[[[[[[]]]]]] * 1)
def test_what_the_importer_accepts_a_project_stores_and_reads_back(where, value):
    data = copy.deepcopy(GT)
    image, category, ann = data["images"][0], data["categories"][0], data["annotations"][0]
    target = {
        "image id": (image, "id"), "annotation id": (ann, "id"), "category id": (category, "id"),
        "category name": (category, "name"), "file name": (image, "file_name"),
        "extra": (ann, "attributes"), "category extra": (category, "keypoints"),
    }.get(where)  # fmt: skip
    if target is not None:
        target[0][target[1]] = value
    elif where == "colour":
        category["annotator"] = {"color": [value, 1, 2]}
    else:
        ann["annotator"] = {"source": "model", where: value}
    try:
        dataset = coco_from_dict(data, source=GT_PATH).dataset
    except DatasetError:
        return
    path = Path(tempfile.mkdtemp()) / "p.annotator"
    store = ProjectStore(path)
    store.write_all(dataset)
    store.close()
    back = ProjectStore(path, readonly=True)
    problems: list[str] = []
    read = back.read_all(problems)
    back.close()
    assert problems == []
    assert read.images == dataset.images and read.categories == dataset.categories
    assert read.instances.keys() == dataset.instances.keys()
    assert all(read.instances[k] == v for k, v in dataset.instances.items())
