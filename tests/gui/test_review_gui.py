"""Reviewing predictions as a user does: the score slider, Tab / Y / X / Ctrl+Enter on the canvas,
undo, progress, and File ▸ Export COCO with "only accepted"."""

from __future__ import annotations

import json

import pytest
from canvas_helpers import IMAGE_RGB, image_levels, square, viewport_pixel
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from window_helpers import shown_main_window

from annotator.core.model import Category, Dataset, Image, ImageStatus, Instance, Review, Source
from annotator.gui.document import MemoryDocument
from annotator.io.coco_write import is_accepted

CTRL = Qt.KeyboardModifier.ControlModifier
SCORES = {1: 0.95, 2: 0.8, 3: 0.55, 4: 0.3}  # predictions 1-4, in a row; 5 is drawn by hand


def _dataset() -> Dataset:
    ds = Dataset()
    ds.put_categories([Category(1, "cell", color=(255, 0, 0))], notify=False)
    ds.put_images(
        [Image(1, "a.png", 200, 150, ImageStatus.PRELABELED), Image(2, "b.png", 200, 150)], notify=False
    )
    preds = [
        Instance(i, 1, 1, square(10 + 40 * (i - 1), 20, 40 + 40 * (i - 1), 50), z=i,
                 source=Source.from_model("maskrcnn", s))
        for i, s in SCORES.items()
    ]  # fmt: skip
    other = Instance(6, 2, 1, square(10, 10, 50, 50), source=Source.from_model("maskrcnn", 0.9))
    ds.put_instances([*preds, Instance(5, 1, 1, square(20, 100, 60, 140), z=9), other], notify=False)
    return ds


@pytest.fixture
def window(qtbot, tmp_path):
    win = shown_main_window(qtbot, tmp_path)
    win.activateWindow()
    qtbot.waitUntil(lambda: win.isActiveWindow())
    yield win
    win.loader.wait()


@pytest.fixture
def dataset(window, tmp_path):
    ds = _dataset()
    window.set_document(MemoryDocument(ds, tmp_path, tmp_path))
    window.canvas.set_pixels(1, image_levels())
    window.canvas.setFocus()
    return ds


def _centre(i: int) -> tuple[int, int]:
    return (25 + 40 * (i - 1), 35)


def _shown(canvas, i: int) -> bool:
    return viewport_pixel(canvas, *_centre(i)) != IMAGE_RGB


def test_slider_hides_unreviewed_predictions_under_the_score_live(window, dataset, qtbot):
    canvas, slider = window.canvas, window.review.slider
    assert all(_shown(canvas, i) for i in SCORES)
    slider.setFocus()
    QTest.keyClick(slider, Qt.Key.Key_End)  # 1.00: every prediction hidden, the hand-drawn one stays
    assert not any(_shown(canvas, i) for i in SCORES)
    assert viewport_pixel(canvas, 40, 120) != IMAGE_RGB
    slider.setValue(60)
    assert window.review.score_label.text() == "0.60"
    assert [_shown(canvas, i) for i in SCORES] == [True, True, False, False]
    qtbot.waitUntil(lambda: "2 under the score hidden" in window.review.progress_label.text())
    window.canvas.setFocus()
    QTest.keyClick(canvas, Qt.Key.Key_Tab)
    QTest.keyClick(canvas, Qt.Key.Key_Tab)
    assert canvas.session.selected_id == 2  # only the two shown predictions take part
    QTest.keyClick(canvas, Qt.Key.Key_Tab)  # past the last one shown here: on to the next image's
    assert (canvas.session.image_id, canvas.session.selected_id) == (2, 6)
    QTest.keyClick(canvas, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)  # and back
    assert (canvas.session.image_id, canvas.session.selected_id) == (1, 2)
    window.canvas.set_pixels(1, image_levels())  # (this test's images have no files)
    QTest.keyClick(canvas, Qt.Key.Key_Return, CTRL)  # accept all shown on this image
    assert [dataset.instances[i].review for i in SCORES] == [Review.ACCEPTED] * 2 + [Review.UNREVIEWED] * 2
    slider.setValue(0)  # a judged prediction stays whatever the slider says; the others come back
    slider.setValue(99)
    assert [_shown(canvas, i) for i in SCORES] == [True, True, False, False]
    slider.setValue(0)
    assert all(_shown(canvas, i) for i in SCORES)


def test_review_keys_step_accept_reject_and_undo(window, dataset, qtbot):
    canvas = window.canvas
    QTest.keyClick(canvas, Qt.Key.Key_Tab)
    assert canvas.session.selected_id == 1  # best score first
    QTest.keyClick(canvas, Qt.Key.Key_Y)
    assert dataset.instances[1].review is Review.ACCEPTED
    assert dataset.images[1].status is ImageStatus.IN_REVIEW
    assert canvas.session.selected_id == 2  # the next unreviewed prediction is selected
    QTest.keyClick(canvas, Qt.Key.Key_X)
    assert dataset.instances[2].review is Review.REJECTED and canvas.session.selected_id == 3
    QTest.keyClick(canvas, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)  # back past the judged ones
    assert canvas.session.selected_id == 4
    qtbot.waitUntil(lambda: "this image 2/4" in window.review.progress_label.text())
    assert "all images 2/5" in window.review.progress_label.text()
    QTest.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert dataset.instances[2].review is Review.UNREVIEWED
    QTest.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert dataset.instances[1].review is Review.UNREVIEWED
    assert dataset.images[1].status is ImageStatus.PRELABELED
    window.review.slider.setValue(50)
    QTest.keyClick(canvas, Qt.Key.Key_Return, CTRL | Qt.KeyboardModifier.ShiftModifier)  # every image
    assert [dataset.instances[i].review for i in (1, 2, 3, 4, 6)] == [Review.ACCEPTED] * 3 + [
        Review.UNREVIEWED, Review.ACCEPTED,
    ]  # fmt: skip
    QTest.keyClick(canvas, Qt.Key.Key_Tab)
    QTest.keyClick(canvas, Qt.Key.Key_X)  # the last one on the image: done
    assert dataset.images[1].status is ImageStatus.DONE and dataset.images[2].status is ImageStatus.DONE
    qtbot.waitUntil(lambda: "all images 5/5" in window.review.progress_label.text())
    window.editing.help_panel.fill(window.menuBar())
    rows = dict(window.editing.help_panel.rows())
    assert rows["Accept prediction"] == "Y" and rows["Reject prediction"] == "X"
    assert rows["Next unreviewed prediction"] == "Tab"
    assert "Undo" in rows and "Redo" in rows  # not "Undo Reject 1 prediction", stale a step later


def test_export_only_accepted_gives_accepted_edited_and_manual(window, dataset, qtbot, tmp_path):
    canvas = window.canvas
    QTest.keyClick(canvas, Qt.Key.Key_Tab)
    QTest.keyClick(canvas, Qt.Key.Key_Y)  # 1 accepted
    QTest.keyClick(canvas, Qt.Key.Key_X)  # 2 rejected
    dataset.put_instances([dataset.instances[3].with_changes(review=Review.EDITED)])
    dialog = window.export()
    out = tmp_path / "out.json"
    dialog.path.setText(str(out))
    assert dialog.accepted_only.isChecked()
    with qtbot.waitSignal(window.exporter.finished, timeout=10000) as finished:
        dialog.accept()
    assert finished.args[1] == 3 and finished.args[2] == ""
    data = json.loads(out.read_text())
    assert sorted(a["id"] for a in data["annotations"]) == [1, 3, 5]
    assert "3 annotations" in window.statusBar().currentMessage()


@pytest.mark.parametrize("export_format", ["labelme", "yolo", "panoptic"])
def test_export_to_the_other_formats_writes_a_folder_of_accepted_instances(
    window, dataset, qtbot, tmp_path, export_format
):
    QTest.keyClick(window.canvas, Qt.Key.Key_Tab)
    QTest.keyClick(window.canvas, Qt.Key.Key_Y)  # one prediction accepted; the rest stay unreviewed
    accepted = sum(1 for i in dataset.instances.values() if is_accepted(i))
    dialog = window.export()
    dialog.format.setCurrentIndex(dialog.format.findData(export_format))
    assert not dialog.rle.isEnabled() and dialog.path.text().endswith(f"_{export_format}")
    out = tmp_path / export_format
    dialog.path.setText(str(out))
    with qtbot.waitSignal(window.exporter.finished, timeout=20000) as finished:
        dialog.accept()
    assert finished.args[2] == "" and finished.args[1] == accepted
    written = sorted(p.name for p in out.rglob("*") if p.is_file())
    expected = {"labelme": ".json", "yolo": ".txt", "panoptic": ".png"}[export_format]
    assert any(name.endswith(expected) for name in written), written


def test_tab_goes_on_to_the_next_image_with_predictions_and_shift_tab_back(window, qtbot, tmp_path):
    """Past the last unreviewed prediction of an image, Tab shows the next image in the list that has
    one (skipping images with none) and selects its best; Shift+Tab walks back the same way."""
    ds = Dataset()
    ds.put_categories([Category(1, "cell")], notify=False)
    ds.put_images([Image(i, f"{name}.png", 200, 150) for i, name in enumerate("abc", start=1)], notify=False)
    preds = {10: (1, 0.9), 11: (1, 0.6), 30: (3, 0.7), 31: (3, 0.8)}  # b.png has none
    ds.put_instances(
        [
            Instance(i, image, 1, square(10, 10, 50, 50), source=Source.from_model("m", s))
            for i, (image, s) in preds.items()
        ],
        notify=False,
    )
    window.set_document(MemoryDocument(ds, tmp_path, tmp_path))
    canvas = window.canvas
    canvas.setFocus()
    steps = []
    for _ in range(5):
        QTest.keyClick(canvas, Qt.Key.Key_Tab)
        steps.append((canvas.session.image_id, canvas.session.selected_id))
    assert steps == [(1, 10), (1, 11), (3, 31), (3, 30), (3, 31)]  # none after c.png: round it
    back = []
    for _ in range(2):
        QTest.keyClick(canvas, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
        back.append((canvas.session.image_id, canvas.session.selected_id))
    assert back == [(1, 11), (1, 10)]  # before c.png's first: a.png's last (b.png has none)


def test_ctrl_d_marks_an_image_labelled_by_hand_done_and_undo_takes_it_back(
    window, dataset, qtbot, monkeypatch
):
    """A shape drawn by hand on an empty image: Ctrl+D marks it done (the image list shows it), Ctrl+D
    again or Ctrl+Z takes it back. On an image with predictions left to judge (some hidden under the
    score, which no key reaches), Ctrl+D offers to reject them: cancelled, nothing changes; taken, one
    undo step."""
    from PySide6.QtWidgets import QMessageBox

    canvas = window.canvas
    window.review.slider.setValue(60)  # predictions 3 and 4 hidden
    asked, answer = [], [QMessageBox.StandardButton.Cancel]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or answer[0])
    QTest.keyClick(canvas, Qt.Key.Key_D, CTRL)
    assert dataset.images[1].status is ImageStatus.PRELABELED  # cancelled
    assert "4 predictions on this image are not judged yet, 2 of them hidden under the score" in asked[0]
    assert not window.review.actions["done"].isChecked()
    answer[0] = QMessageBox.StandardButton.Yes
    QTest.keyClick(canvas, Qt.Key.Key_D, CTRL)
    assert dataset.images[1].status is ImageStatus.DONE
    assert all(dataset.instances[i].review is Review.REJECTED for i in (1, 2, 3, 4))
    QTest.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert dataset.images[1].status is ImageStatus.PRELABELED
    assert all(dataset.instances[i].review is Review.UNREVIEWED for i in (1, 2, 3, 4))
    dataset.put_images([Image(3, "c.png", 200, 150)])
    dataset.put_instances([Instance(7, 3, 1, square(10, 10, 50, 50))])
    window.show_image(3)
    QTest.keyClick(canvas, Qt.Key.Key_D, CTRL)
    assert dataset.images[3].status is ImageStatus.DONE
    qtbot.waitUntil(lambda: window.review.actions["done"].isChecked())
    model = window.images_dock.model
    assert model.data(model.index(model.row_of(3), 1)) == "done"
    QTest.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert dataset.images[3].status is ImageStatus.NEW
    qtbot.waitUntil(lambda: not window.review.actions["done"].isChecked())
    QTest.keyClick(canvas, Qt.Key.Key_D, CTRL)
    QTest.keyClick(canvas, Qt.Key.Key_D, CTRL)
    assert dataset.images[3].status is ImageStatus.IN_REVIEW  # not done: it has a label


def instances_listed(window, image_id: int) -> int:
    model = window.images_dock.model
    return int(model.data(model.index(model.row_of(image_id), 2)))


def test_the_image_list_counts_no_rejected_prediction_as_statistics_does(window, dataset, qtbot):
    canvas = window.canvas
    assert instances_listed(window, 1) == 5
    QTest.keyClick(canvas, Qt.Key.Key_Tab)
    QTest.keyClick(canvas, Qt.Key.Key_X)  # the best prediction rejected: still drawn, dotted
    assert dataset.instances[1].review is Review.REJECTED
    assert instances_listed(window, 1) == 4
    assert window.instances_dock.tree.topLevelItemCount() == 5  # the panel lists it, as rejected
    qtbot.waitUntil(lambda: window.instances_dock.windowTitle() == "Instances (5, 1 rejected)")
    labels = [label.text for label, _rect in window.canvas.overlay.labels._placed]
    assert "cell 0.95 · rejected" in labels  # faint and dotted on the canvas, and its label says so
    QTest.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert instances_listed(window, 1) == 5


def test_a_narrow_instances_panel_shows_the_last_digits_of_each_id(window, dataset, qtbot):
    dock = window.instances_dock
    dock.setFloating(True)
    dock.resize(260, 400)
    tree = dock.tree
    qtbot.waitUntil(lambda: tree.width() <= 260)
    qtbot.waitUntil(lambda: tree.header().length() <= tree.viewport().width())  # nothing out of sight
    assert tree.textElideMode() == Qt.TextElideMode.ElideLeft  # a cut id keeps its last digits
    assert tree.topLevelItem(0).toolTip(3).startswith("instance ")
