"""The label audit: each kind of suspicion where a reviewer would see it, "take the model's version" as one
reversible edit, dismissed flags remembered in a real project file, predictions files read onto images."""

from __future__ import annotations

import json
import sqlite3

import cv2
import numpy as np
import orjson
import pytest

from annotator.core.audit import (
    AuditOptions,
    Evidence,
    FlagKind,
    LabelFlag,
    _weighed,
    audit,
    fix_edit,
    own_predictions,
)
from annotator.core.geometry import Mask, Polygons, mask_iou, to_mask_array
from annotator.core.model import Category, Dataset, Image, ImageStatus, Instance, Review, Source
from annotator.io.coco import save_coco
from annotator.io.dismissed import dismiss, dismissed_in_file, dismissed_keys, undismiss
from annotator.io.errors import DatasetError
from annotator.io.predictions import load_predictions
from annotator.io.store import ProjectStore

H, W = 100, 200


def _rect(x: float, y: float, w: float, h: float) -> Polygons:
    return Polygons((np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]),))


def _labels() -> Dataset:
    dataset = Dataset()
    dataset.put_images(
        [Image(1, "street/a.png", W, H, ImageStatus.DONE), Image(2, "b.png", W, H)], notify=False
    )
    dataset.put_categories([Category(1, "car"), Category(2, "bike")], notify=False)
    dataset.put_instances(
        [
            Instance(1, 1, 1, _rect(10, 10, 30, 30)),  # the model agrees
            Instance(2, 1, 1, _rect(60, 10, 30, 30), z=1),  # the model calls it a bike
            Instance(3, 1, 1, _rect(110, 10, 20, 20), z=2),  # the model draws it larger
            Instance(4, 1, 2, _rect(150, 60, 20, 20), z=3),  # the model sees nothing there
        ],
        notify=False,
    )
    return dataset


def _predictions() -> dict[int, tuple[Instance, ...]]:
    def pred(pid, category, geometry, score):
        return Instance(
            pid, 1, category, geometry, source=Source.from_model("m", score), review=Review.UNREVIEWED
        )

    return {
        1: (
            pred(-1, 1, _rect(10, 10, 30, 30), 0.9),
            pred(-2, 1, _rect(11, 10, 30, 30), 0.7),  # a second detection of instance 1
            pred(-3, 2, _rect(60, 10, 30, 30), 0.8),
            pred(-4, 1, _rect(108, 8, 26, 26), 0.9),
            pred(-5, 2, _rect(20, 60, 25, 25), 0.95),  # nothing labelled there
            pred(-6, 1, _rect(100, 60, 20, 20), 0.3),  # too doubtful to use
        ),
        2: (pred(-7, 1, _rect(0, 0, 20, 20), 0.99),),  # image 2 is not labelled: not audited
    }


def test_each_kind_of_suspicion_worst_first() -> None:
    report = audit(_labels(), _predictions())
    kinds = [(f.kind, f.instance_id, None if f.prediction is None else f.prediction.id) for f in report.flags]
    assert kinds == [
        (FlagKind.MISSING, None, -5),
        (FlagKind.CLASS_SWAP, 2, -3),
        (FlagKind.SPURIOUS, 4, None),
        (FlagKind.OUTLINE, 3, -4),
    ]
    assert [f.suspicion for f in report.flags] == sorted((f.suspicion for f in report.flags), reverse=True)
    assert (report.images, report.labels, report.predictions) == (1, 4, 5)
    outline = report.flags[3]
    assert outline.iou == pytest.approx(400 / 676) and "IoU 0.59" in outline.message
    assert report.flags[0].key.startswith("street/a.png|possibly missing|")
    assert [f.key for f in audit(_labels(), _predictions()).flags] == [f.key for f in report.flags]
    assert report.flags[2].key == "street/a.png|possibly spurious|4"
    assert len(report.without([report.flags[0].key]).flags) == 3
    assert "labelled car, the model says bike" in report.flags[1].message  # names, as in the window
    assert "the model finds bike (score 0.95)" in report.flags[0].message
    assert report.weak_predictions() is None


def test_a_model_whose_predictions_all_score_under_the_threshold_flags_nothing_and_says_why() -> None:
    """A weak model (a round trained for minutes) scores everything low: with none of its predictions
    used, every label would have looked unsupported. It is no witness: no model flag, and the report
    says what to change."""
    weak = {1: tuple(p.with_changes(source=Source.from_model("m", 0.2)) for p in _predictions()[1])}
    report = audit(_labels(), weak)
    assert [f for f in report.flags if Evidence.MODEL in f.evidence] == []
    assert (report.labels, report.predictions, report.below_min_score) == (4, 0, 6)
    assert "no prediction scores 0.50 or more (the best 0.20, 6 below)" in report.weak_predictions()
    lowered = audit(_labels(), weak, AuditOptions(min_score=0.1))
    assert lowered.weak_predictions() is None and lowered.flags


def test_take_the_models_version_is_one_reversible_edit() -> None:
    dataset = _labels()
    before = dict(dataset.instances)
    for flag in audit(dataset, _predictions()).flags:
        edit = fix_edit(dataset, flag)
        edit.apply(dataset)
        if flag.kind is FlagKind.MISSING:
            added = [i for i in dataset.instances.values() if i.id not in before]
            assert len(added) == 1 and added[0].category_id == 2 and added[0].review is Review.ACCEPTED
            assert np.array_equal(
                to_mask_array(added[0].geometry, H, W), to_mask_array(flag.prediction.geometry, H, W)
            )
        elif flag.kind is FlagKind.SPURIOUS:
            assert flag.instance_id not in dataset.instances
        elif flag.kind is FlagKind.CLASS_SWAP:
            assert dataset.instances[flag.instance_id].category_id == 2
        else:
            assert dataset.instances[flag.instance_id].geometry == flag.prediction.geometry
        edit.revert(dataset)
        assert dataset.instances == before


def test_own_predictions_are_accepted_in_place() -> None:
    dataset = _labels()
    mine = Instance(9, 1, 2, _rect(20, 60, 25, 25), z=9, source=Source.from_model("m", 0.9))
    dataset.put_instances([mine], notify=False)
    predictions = own_predictions(dataset)
    assert predictions == {1: (mine,)}
    flag = next(f for f in audit(dataset, predictions).flags if f.kind is FlagKind.MISSING)
    fix_edit(dataset, flag).apply(dataset)
    assert dataset.instances[9].review is Review.ACCEPTED and len(dataset.instances) == 5


def _picture(dataset: Dataset) -> np.ndarray:
    """Image 1 as it was photographed: each object a dark rectangle where `_labels` puts it, truly."""
    pixels = np.full((H, W, 3), 210, np.uint8)
    for x, y, w, h in ((10, 10, 30, 30), (60, 10, 30, 30), (110, 10, 20, 20), (150, 60, 20, 20)):
        pixels[y : y + h, x : x + w] = (40, 60, 80)
    return pixels


def test_a_loose_label_is_found_from_the_picture_and_moved_onto_the_edge() -> None:
    dataset = _labels()
    loose = Instance(3, 1, 1, _rect(107, 7, 26, 26), z=2)  # drawn 3 px outside the object all round
    dataset.put_instances([loose], notify=False)
    agreeing = {
        1: tuple(
            i.with_changes(id=-i.id, source=Source.from_model("m", 0.9)) for i in dataset.instances.values()
        )
    }
    assert audit(dataset, agreeing).flags == ()  # the model takes the person's word: nothing to say
    unread = audit(dataset, agreeing, pixels=lambda image: None)
    assert unread.flags == () and unread.unread == (1,)  # a picture that cannot be read: said, not flagged
    flags = audit(dataset, agreeing, pixels=lambda image: _picture(dataset) if image.id == 1 else None).flags
    assert [(f.kind, f.instance_id, f.evidence) for f in flags] == [(FlagKind.OUTLINE, 3, (Evidence.EDGES,))]
    assert "3 px outside" in flags[0].message
    edit = fix_edit(dataset, flags[0])
    assert edit.text == "Move the outline onto the edge"
    edit.apply(dataset)
    truth = np.zeros((H, W), np.uint8)
    truth[10:30, 110:130] = 1
    assert mask_iou(to_mask_array(dataset.instances[3].geometry, H, W), truth) > 0.95
    edit.revert(dataset)
    assert dataset.instances[3] == loose


def test_a_kind_of_flag_raised_on_many_labels_counts_for_less() -> None:
    swaps = [_flag(FlagKind.CLASS_SWAP, i) for i in range(10)]
    outline = _flag(FlagKind.OUTLINE, 99)
    weighed = _weighed([*swaps, outline], labels=40, options=AuditOptions(expected_error_rate=0.05))
    assert weighed[-1].suspicion == 0.8  # one in 40 labels: as rare as errors are, kept as it was
    assert [f.suspicion for f in weighed[:-1]] == pytest.approx([0.8 * 2 / 10] * 10)  # 10 in 40: mostly noise


def _flag(kind: FlagKind, label: int) -> LabelFlag:
    return LabelFlag(f"a.png|{kind.value}|{label}", kind, 1, 0.8, label, None, None, "", (Evidence.MODEL,))


def test_a_crowd_label_absorbs_predictions_and_is_never_spurious() -> None:
    dataset = _labels()
    crowd = np.zeros((H, W), np.uint8)
    cv2.rectangle(crowd, (0, 50), (60, 99), 1, -1)
    dataset.put_instances([Instance(5, 1, 2, Mask.from_array(crowd), z=4, iscrowd=True)], notify=False)
    flags = audit(dataset, _predictions(), AuditOptions()).flags
    assert FlagKind.MISSING not in {f.kind for f in flags} and 5 not in {f.instance_id for f in flags}


def test_dismissed_keys_live_in_the_project_file(tmp_path) -> None:
    path = tmp_path / "p.annotator"
    store = ProjectStore.create(path, _labels(), meta={})
    assert dismissed_keys(store) == frozenset() and dismissed_in_file(path) == frozenset()
    dismiss(store, ["a.png|possibly spurious|4", "b"])
    undismiss(store, ["b"])
    store.close()
    reopened = ProjectStore(path)
    assert dismissed_keys(reopened) == {"a.png|possibly spurious|4"}
    reopened.close()
    assert dismissed_in_file(path) == {"a.png|possibly spurious|4"}
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE meta SET value = '{broken' WHERE key = 'audit.dismissed'")
    assert dismissed_in_file(path) == frozenset()
    assert dismissed_in_file(tmp_path / "absent.annotator") == frozenset()


def _with_prediction(dataset: Dataset) -> Dataset:
    source = Source.from_model("m", 0.25)
    dataset.put_instances([Instance(8, 1, 2, _rect(0, 0, 9, 9), z=8, source=source)], notify=False)
    return dataset


def test_predictions_files_are_put_on_the_datasets_images(tmp_path) -> None:
    dataset = _labels()
    mask = np.zeros((H, W), np.uint8, order="F")
    mask[10:40, 10:40] = 1
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(mask)
    rle["counts"] = rle["counts"].decode()
    results = tmp_path / "results.json"
    results.write_bytes(orjson.dumps([
        {"image_id": 1, "category_id": 1, "segmentation": rle, "score": 0.9},
        {"image_id": 1, "category_id": 2, "segmentation": [[0, 0, 5, 0, 5, 5]], "score": 0.6},
        {"image_id": 2, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.7},
    ]))  # fmt: skip
    loaded = load_predictions(results, dataset)
    assert sorted((i.image_id, i.category_id, i.score) for group in loaded.values() for i in group) == [
        (1, 1, 0.9), (1, 2, 0.6), (2, 2, 0.7)
    ]  # fmt: skip
    assert all(
        i.source.is_model and i.review is Review.UNREVIEWED and i.id < 0 for g in loaded.values() for i in g
    )
    as_dataset = tmp_path / "pred.json"
    as_dataset.write_bytes(orjson.dumps({
        "images": [{"id": 7, "file_name": "street/a.png", "width": W, "height": H}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "segmentation": rle, "score": 0.4}],
        "categories": [{"id": 1, "name": "car"}],
    }))  # fmt: skip
    assert [i.image_id for i in load_predictions(as_dataset, dataset)[1]] == [1]
    exported = tmp_path / "exported.json"  # our own export keeps a model's score in its own object
    save_coco(_with_prediction(dataset), exported)
    assert [i.score for i in load_predictions(exported, dataset)[1]] == [1.0, 1.0, 1.0, 1.0, 0.25]
    for content, words in [
        (
            [{"image_id": 1, "category_id": 1, "segmentation": {"size": [5, 5], "counts": "0"}}],
            "prediction 0",
        ),
        ([{"image_id": 42, "category_id": 1, "bbox": [0, 0, 1, 1]}], "image_id 42"),
        ({"nothing": 1}, "results list"),
    ]:
        bad = tmp_path / "bad.json"
        bad.write_bytes(orjson.dumps(content))
        with pytest.raises(DatasetError, match=words):
            load_predictions(bad, dataset)


def test_coco_matches_are_cocoevals_own(testdata) -> None:
    """The audit's matching is COCOeval's: at IoU 0.50 with classes apart it equals what the full
    evaluation reports (its `evalImgs`), on real COCO ground truth."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    from annotator.core.evaluation import coco_matches, evaluate
    from perturbed import perturbed_predictions

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(testdata / "isat_coco_tiny" / "coco_tiny.json"))
    results = perturbed_predictions(gt, 3)
    full = evaluate(gt, results).matches
    alone = coco_matches(gt, results, iou_threshold=0.5)
    for image_id, want in full.items():
        got = alone[image_id]
        assert dict(got.true_positives) == dict(want.true_positives)
        assert set(got.false_negatives) == set(want.false_negatives)
        assert set(got.false_positives) & want.evaluated == set(want.false_positives)
    pooled = coco_matches(gt, results, iou_threshold=0.5, use_categories=False)
    assert sum(len(m.true_positives) for m in pooled.values()) > sum(
        len(m.true_positives) for m in full.values()
    )


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"category_id": "xxx"}, "category_id must be an integer id, got 'xxx'"),
        ({"category_id": 1.5}, "category_id must be an integer id, got 1.5"),  # was cut to 1
        ({"category_id": True}, "category_id must be an integer id, got True"),
        ({"category_id": 2**64}, "category_id must be an integer id, got 1.84"),  # read as a float
        ({"score": "high"}, "score must be a finite number, got 'high'"),
        ({"bbox": ["a", 1, 2, 3]}, "bbox must be [x, y, w, h], four finite numbers, got ['a', 1, 2, 3]"),
        ({"segmentation": [["a", 1, 2, 3, 4, 5]]}, "segmentation polygons must be lists of finite numbers"),
    ],
)
def test_a_bad_value_in_a_predictions_file_is_named_in_our_words(tmp_path, change, said) -> None:
    """Python's own words ("invalid literal for int() with base 10") never reach the person: the file,
    the prediction and what is wrong with it."""
    good = {"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.7}
    path = tmp_path / "results.json"
    path.write_text(json.dumps([good, {**good, **change}]))  # json: orjson stops at 64 bits
    with pytest.raises(DatasetError) as caught:
        load_predictions(path, _labels())
    assert str(caught.value).startswith(f"{path}: prediction 1: {said}"), str(caught.value)
