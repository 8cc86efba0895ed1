"""Comparison with real COCO ground truth (isat_coco_tiny) in the window: the canvas's TP / FP / FN equal
pycocotools' evaluateImg at IoU 0.5, and every number in the Evaluation dock equals COCOeval's."""

from __future__ import annotations

import contextlib
import copy
import io
import shutil

import numpy as np
import pytest
from canvas_helpers import viewport_pixel
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from window_helpers import shown_main_window

from annotator.core import evaluation
from annotator.core.edits import AddInstances
from annotator.core.geometry import Mask
from annotator.core.model import Instance, Review, Source
from annotator.gui.evaluation.panel import NUMBER_ROLE
from annotator.gui.evaluation.view import FN_COLOR, FP_COLOR, TP_COLOR
from annotator.gui.lists.images import AP_COLUMN
from perturbed import perturbed_predictions


@pytest.fixture
def window(qtbot, tmp_path):
    win = shown_main_window(qtbot, tmp_path, width=1400, height=900)
    yield win
    win.evaluation.controller.wait()
    win.loader.wait()


@pytest.fixture
def setup(window, testdata, tmp_path, qtbot):
    """A project of the five photos (a folder: its own image ids) holding perturbed predictions."""
    folder = tmp_path / "isat"
    shutil.copytree(testdata / "isat_coco_tiny", folder)
    gt_path = folder / "coco_tiny.json"
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
    results = perturbed_predictions(gt, seed=7)
    assert window.open_path(folder / "images")
    dataset = window.document.dataset
    by_name = {image.file_name: image.id for image in dataset.images.values()}
    to_project = {coco_id: by_name[image["file_name"]] for coco_id, image in gt.imgs.items()}
    first = dataset.new_instance_id()
    instances = tuple(
        Instance(first + k, to_project[r["image_id"]], r["category_id"], Mask.from_coco_rle(r["segmentation"]),
                 z=k, source=Source.from_model("test", r["score"]))
        for k, r in enumerate(results)
    )  # fmt: skip
    AddInstances(instances).apply(dataset)
    dt_map = {k + 1: first + k for k in range(len(results))}
    return gt, gt_path, results, dt_map, to_project


def _direct(gt: COCO, results: list[dict]) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(results)), iouType="segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def _expected(evaluator: COCOeval, dt_map, to_project) -> dict:
    out = {to_project[i]: {"tp": {}, "fp": set(), "fn": set()} for i in evaluator.params.imgIds}
    for e in evaluator.evalImgs:
        if e is None or e["aRng"] != evaluator.params.areaRng[0]:
            continue
        slot = out[to_project[e["image_id"]]]
        for d, dt_id in enumerate(e["dtIds"]):
            if not e["dtIgnore"][0][d]:
                matched = int(e["dtMatches"][0][d])
                (slot["tp"].__setitem__(dt_map[dt_id], matched) if matched else slot["fp"].add(dt_map[dt_id]))
        slot["fn"] |= {
            g for k, g in enumerate(e["gtIds"]) if not e["gtIgnore"][k] and not e["gtMatches"][0][k]
        }
    return out


def _wait_result(window, qtbot):
    controller = window.evaluation.controller
    qtbot.waitUntil(lambda: controller.result is not None and not controller.busy, timeout=30000)
    return controller.result


def test_ground_truth_file_colours_and_numbers_equal_cocoeval(window, setup, qtbot):
    gt, gt_path, results, dt_map, to_project = setup
    window.evaluation.load_file(gt_path)
    result = _wait_result(window, qtbot)
    evaluator = _direct(gt, results)
    expected = _expected(evaluator, dt_map, to_project)
    canvas = window.canvas

    # every image: the canvas's colours and notes say exactly what evaluateImg says
    for image_id, want in expected.items():
        window.show_image(image_id)
        qtbot.waitUntil(lambda image_id=image_id: canvas.session.image_id == image_id)
        overrides = canvas.session.overrides
        tp = {i for i, o in overrides.items() if o.color == TP_COLOR}
        fp = {i for i, o in overrides.items() if o.color == FP_COLOR}
        assert tp == set(want["tp"]) and fp == want["fp"]
        matches = result.matches[image_id]
        assert {p: g for p, (g, _) in matches.true_positives.items()} == want["tp"]
        for pred_id, (_, iou) in matches.true_positives.items():
            assert overrides[pred_id].note == f"TP IoU {iou:.2f}"
        assert window.evaluation.view.missed.count == len(want["fn"])
        assert set(matches.false_negatives) == want["fn"]
        text = window.evaluation.panel.image_label.text()
        assert f"TP {len(want['tp'])}</b>" in text and f"FN {len(want['fn'])}</b>" in text

    # the summary table holds COCOeval's 12 numbers
    table = window.evaluation.panel.summary_table
    shown = [table.item(row, 1).data(NUMBER_ROLE) for row in range(table.rowCount())]
    assert shown == pytest.approx(list(evaluator.stats), abs=1e-12)
    # in words (pycocotools' "AP @[IoU=0.50:0.95 | area=   all | maxDets=100]" in each tooltip)
    assert [table.item(r, 0).toolTip() for r in range(table.rowCount())] == list(evaluation.STAT_NAMES)
    assert [table.item(r, 0).text() for r in (0, 1, 3)] == [
        "AP (IoU 0.50–0.95)",
        "AP50 (IoU 0.50)",
        "AP, small objects",
    ]

    # per-class AP, AP50, AP75 from COCOeval's precision array; the PR curve is that array
    classes = window.evaluation.panel.class_table
    precision = evaluator.eval["precision"]
    want_classes = {}
    for k, cat_id in enumerate(evaluator.params.catIds):
        p = precision[:, :, k, 0, -1]
        if (p > -1).any():
            want_classes[cat_id] = tuple(float(np.mean(row[row > -1])) for row in (p, p[0], p[5]))
    got_classes = {
        classes.item(r, 0).data(Qt.ItemDataRole.UserRole): tuple(classes.item(r, c).data(NUMBER_ROLE) for c in (1, 2, 3))
        for r in range(classes.rowCount())
    }  # fmt: skip
    assert got_classes.keys() == want_classes.keys()
    for cat_id, values in want_classes.items():
        assert got_classes[cat_id] == pytest.approx(values, abs=1e-12)
    chosen = list(want_classes)[3]
    window.evaluation.panel.choose_class(chosen)
    curve = window.evaluation.panel.pr_curve.precision
    np.testing.assert_array_equal(curve, precision[:, :, evaluator.params.catIds.index(chosen), 0, -1])

    # the image list gained an AP column, sorted worst first, with COCOeval's per-image AP
    per_image = evaluation._per_image(evaluator)
    dock = window.images_dock
    assert not dock.view.isColumnHidden(AP_COLUMN)
    order = [dock.model.image_id(dock.proxy.mapToSource(dock.proxy.index(r, 0)).row()) for r in range(5)]
    want_ap = {to_project[i]: v[0] for i, v in per_image.items()}
    assert [want_ap[i] for i in order] == sorted(want_ap.values(), key=lambda v: 2.0 if v is None else v)
    for image_id in order:
        assert result.evaluation.per_image[image_id][0] == pytest.approx(want_ap[image_id], abs=1e-12)


def test_canvas_pixels_show_tp_fp_and_fn(window, setup, qtbot):
    gt, gt_path, results, dt_map, to_project = setup
    window.evaluation.load_file(gt_path)
    result = _wait_result(window, qtbot)
    canvas = window.canvas
    image_id = max(result.matches, key=lambda i: len(result.matches[i].false_negatives))
    window.show_image(image_id)
    qtbot.waitUntil(lambda: canvas.has_pixels and canvas.session.image_id == image_id, timeout=10000)
    window.labels_action.trigger()  # labels off: they may cover the pixels read below
    assert not canvas.session.style.show_labels
    canvas.set_zoom(1.0)
    window.evaluation.view.missed.setVisible(False)  # FN outlines may run over the pixels read below
    matches = result.matches[image_id]
    checked = 0
    for ids, color in ((list(matches.true_positives), TP_COLOR), (list(matches.false_positives), FP_COLOR)):
        for inst_id in ids:
            point = _pixel_only_in(canvas, inst_id)
            if point is None:
                continue
            canvas.centerOn(*point)
            canvas.overlay.refresh(wait=True)  # the exact tile for this zoom and view, not a stretched one
            got = viewport_pixel(canvas, *point)
            canvas.session.set_all_hidden(True)  # the photo alone, at the same place on the screen
            canvas.overlay.refresh(wait=True)
            photo = viewport_pixel(canvas, *point)
            canvas.session.set_all_hidden(False)
            alpha = canvas.session.style.opacity
            want = [alpha * c + (1 - alpha) * p for c, p in zip(color, photo, strict=True)]
            assert got == pytest.approx(want, abs=4)
            checked += 1
            break
    assert checked == 2
    window.evaluation.view.missed.setVisible(True)
    assert window.evaluation.view.missed.count == len(matches.false_negatives) > 0
    frame = canvas.viewport().grab().toImage()
    found = any(
        frame.pixelColor(x, y).getRgb()[:3] == FN_COLOR
        for x in range(0, frame.width(), 2)
        for y in range(0, frame.height(), 2)
    )
    assert found  # FN outlines are drawn in their colour


def _pixel_only_in(canvas, instance_id: int):
    layers = canvas.overlay.order
    target = canvas.layers[instance_id]
    fill = target.fill
    ys, xs = np.nonzero(fill.mask)
    for k in range(0, len(xs), max(1, len(xs) // 200)):
        x, y = fill.x0 + xs[k] + 0.5, fill.y0 + ys[k] + 0.5
        near = [other for other in layers if other is not target and other.covers(x, y)]
        edge = any(not target.covers(x + dx, y + dy) for dx in (-3, 0, 3) for dy in (-3, 0, 3))
        if not near and not edge:
            return (x - 0.5, y - 0.5)
    return None


def test_accepted_instances_as_ground_truth(window, setup, qtbot):
    canvas = window.canvas
    canvas.setFocus()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    QTest.keyClick(canvas, Qt.Key.Key_Tab)
    accepted = canvas.session.selected_id
    QTest.keyClick(canvas, Qt.Key.Key_Y)
    rejected = canvas.session.selected_id
    QTest.keyClick(canvas, Qt.Key.Key_X)
    dataset = window.document.dataset
    assert dataset.instances[accepted].review is Review.ACCEPTED
    assert dataset.instances[rejected].review is Review.REJECTED
    window.evaluation.compare_with_accepted()
    result = _wait_result(window, qtbot)
    matches = result.matches[canvas.session.image_id]
    assert matches.true_positives[accepted] == (accepted, pytest.approx(1.0))
    assert matches.true_positives.get(rejected, (None,))[0] != rejected  # rejected: not ground truth
    assert canvas.session.overrides[accepted].note == "TP IoU 1.00"
    window.evaluation.controller.stop()
    qtbot.waitUntil(lambda: canvas.session.overrides == {})
    assert window.images_dock.view.isColumnHidden(AP_COLUMN)
