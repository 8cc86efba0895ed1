"""The Suspicious labels dock on real COCO photos (isat_coco_tiny) with perturbed predictions: it lists what
`core.audit` finds, worst first; a click selects the label; "Take the model's version" is one undo step
that the project keeps; a dismissed flag stays dismissed after reopening; a predictions file works too."""

from __future__ import annotations

import html
import re
import threading

import orjson
import pytest
from PySide6.QtCore import Qt
from review_helpers import (
    add_own_predictions,
    click_row,
    open_tiny,
    perturbed_results,
    reopen,
    run_and_wait,
    shows_box,
)
from window_helpers import shown_main_window

from annotator.core import operations
from annotator.core.audit import Evidence, FlagKind, audit, own_predictions
from annotator.gui.review.navigate import MAX_ZOOM, SMALL_SHARE
from annotator.gui.review.suspicious import KEY_ROLE
from annotator.io.dismissed import dismissed_in_file
from annotator.io.image_pixels import ImagePixels
from annotator.io.predictions import load_predictions


@pytest.fixture
def window(qtbot, tmp_path):
    win = shown_main_window(qtbot, tmp_path, width=1400, height=900)
    yield win
    win.assisted.wait()
    win.loader.wait()


@pytest.fixture
def project(window, tmp_path, testdata):
    """The tiny COCO set as a project holding its ground truth (the labels) and perturbed predictions."""
    path = open_tiny(window, tmp_path, testdata)
    add_own_predictions(window.document.dataset, perturbed_results(path))
    return path


CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def _keys(dock) -> list[str]:
    return [dock.tree.topLevelItem(r).data(0, KEY_ROLE) for r in range(dock.tree.topLevelItemCount())]


def _row_of(dock, kind: FlagKind):
    for row in range(dock.tree.topLevelItemCount()):
        item = dock.tree.topLevelItem(row)
        if dock.flags[item.data(0, KEY_ROLE)].kind is kind:
            return item
    raise AssertionError(f"no {kind} row")


def test_queue_is_the_audit_worst_first_and_a_click_selects_the_label(window, project, qtbot):
    dock, dataset = window.assisted.suspicious, window.document.dataset
    run_and_wait(qtbot, dock.job, dock.run)
    expected = audit(dataset, own_predictions(dataset), pixels=ImagePixels(window.document.root))
    assert len(expected.flags) >= 10 and {f.kind for f in expected.flags} == set(FlagKind)
    assert _keys(dock) == [f.key for f in expected.flags]
    # OpenCV's gradients on a worker thread may differ from the main thread's in the last bits
    assert [dock.flags[k].suspicion for k in _keys(dock)] == pytest.approx(
        sorted((f.suspicion for f in expected.flags), reverse=True), abs=1e-9
    )
    assert {e for f in expected.flags for e in f.evidence} == set(Evidence)  # the pictures were looked at
    assert f"{expected.images} images audited" in dock.state_label.text()

    swap = _row_of(dock, FlagKind.CLASS_SWAP)
    flag = dock.flags[swap.data(0, KEY_ROLE)]
    click_row(dock.tree, swap)
    assert window.session.image_id == flag.image_id
    assert window.session.selection == (flag.instance_id,)
    label = dataset.instances[flag.instance_id]
    assert label.category_id != flag.prediction.category_id
    assert shows_box(window.canvas, label.geometry.bbox(*_size(dataset, flag.image_id)))
    assert dock.outline.item is not None  # the model's version drawn beside the label

    for row in range(dock.tree.topLevelItemCount()):  # every row brings its object into view
        item = dock.tree.topLevelItem(row)
        flag = dock.flags[item.data(0, KEY_ROLE)]
        click_row(dock.tree, item)
        shown = dataset.instances[flag.instance_id] if flag.instance_id is not None else flag.prediction
        box = shown.geometry.bbox(*_size(dataset, flag.image_id))
        assert shows_box(window.canvas, box), flag
        view = window.canvas.viewport().size()
        small = SMALL_SHARE * min(view.width(), view.height())
        if max(box[2:]) * MAX_ZOOM < small:  # tiny even at the largest zoom: shown at it
            assert window.canvas.scale_factor == pytest.approx(MAX_ZOOM)
        else:  # zoomed in when small at fit
            assert max(box[2:]) * window.canvas.scale_factor >= small - 1

    missing = _row_of(dock, FlagKind.MISSING)
    dock.tree.setCurrentItem(missing)
    prediction = dock.flags[missing.data(0, KEY_ROLE)].prediction
    assert window.session.selection == (prediction.id,)  # the project's own prediction, selected


def test_take_the_models_version_is_one_undo_step_and_is_saved(window, project, qtbot):
    dock = window.assisted.suspicious
    run_and_wait(qtbot, dock.job, dock.run)
    dataset, stack = window.document.dataset, window.editor.history.stack
    row = _row_of(dock, FlagKind.CLASS_SWAP)
    flag = dock.flags[row.data(0, KEY_ROLE)]
    before = dataset.instances[flag.instance_id]
    dock.tree.setCurrentItem(row)
    steps = stack.count()
    dock.take_button.click()
    assert stack.count() == steps + 1
    assert dataset.instances[flag.instance_id].category_id == flag.prediction.category_id
    assert flag.key not in _keys(dock)
    assert "Edited since" in dock.state_label.text()
    stack.undo()
    assert dataset.instances[flag.instance_id] == before
    assert _keys(dock).index(flag.key) == [f.key for f in dock.report.flags].index(flag.key)  # back, in place
    assert dock.current_flag() == flag  # selected: the fix can be taken again
    assert window.session.selection == (flag.instance_id,) and dock.outline.item is not None  # and shown
    stack.redo()
    assert flag.key not in _keys(dock)  # fixed again
    dataset = reopen(window, project)
    assert dataset.instances[flag.instance_id].category_id == flag.prediction.category_id


def test_after_a_fix_and_its_undo_the_redo_key_redoes_and_focus_moves_nobody(window, project, qtbot):
    """Clicked, the fix button had the focus; disabled by the refill, it passed it down the chain, to a
    spin box whose line edit then took Ctrl+Shift+Z for itself (redo did nothing)."""
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    dock = window.assisted.suspicious
    run_and_wait(qtbot, dock.job, dock.run)
    window.activateWindow()
    dataset = window.document.dataset
    row = _row_of(dock, FlagKind.CLASS_SWAP)
    flag = dock.flags[row.data(0, KEY_ROLE)]
    dock.tree.setCurrentItem(row)
    dock.take_button.setFocus()
    qtbot.waitUntil(dock.take_button.hasFocus)
    dock.take_button.click()
    window.editing.actions["undo"].trigger()
    print(
        "FOCUS after undo",
        QApplication.focusWidget(),
        QApplication.focusWidget() and QApplication.focusWidget().parent(),
    )
    assert flag.key in _keys(dock)
    window.editing.actions["redo"].trigger()  # the row goes: nothing current, both buttons off
    assert flag.key not in _keys(dock) and not dock.take_button.isEnabled()
    assert dock.tree.hasFocus()  # handed to the queue, not down the chain (here a spin box, or the canvas)
    window.editing.actions["undo"].trigger()
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z, CTRL_SHIFT)  # redo, from where the focus is
    assert dataset.instances[flag.instance_id].category_id == flag.prediction.category_id


def test_focus_coming_back_to_the_queue_moves_nobody_to_another_image(window, project, qtbot):
    """The list, given the focus back with no current row (a menu closed over it), made its first row
    current: the window jumped to that flag's image and selected its label."""
    dock = window.assisted.suspicious
    run_and_wait(qtbot, dock.job, dock.run)
    first = dock.flags[dock.tree.topLevelItem(0).data(0, KEY_ROLE)]
    other = next(i for i in window.document.dataset.images if i != first.image_id)
    window.show_image(other)
    assert dock.tree.currentItem() is None  # as the audit filled it
    dock.tree.setFocus()
    qtbot.waitUntil(dock.tree.hasFocus)
    assert window.session.image_id == other


def test_a_fix_undone_and_replaced_by_another_edit_stays_in_the_queue(window, project, qtbot):
    """The flag came back only with Run audit; now its fix undone brings it back at once, and an edit
    made after the undo (which drops the fix from the history) leaves it there."""
    dock = window.assisted.suspicious
    run_and_wait(qtbot, dock.job, dock.run)
    dataset, stack = window.document.dataset, window.editor.history.stack
    flag = dock.flags[_row_of(dock, FlagKind.SPURIOUS).data(0, KEY_ROLE)]
    other = dock.flags[_row_of(dock, FlagKind.CLASS_SWAP).data(0, KEY_ROLE)]
    dock.tree.setCurrentItem(_row_of(dock, FlagKind.SPURIOUS))
    dock.take_button.click()
    assert flag.instance_id not in dataset.instances and flag.key not in _keys(dock)
    stack.undo()
    assert flag.instance_id in dataset.instances and flag.key in _keys(dock)
    window.editor.push(
        operations.change_class([dataset.instances[other.instance_id]], other.prediction.category_id)
    )
    assert stack.canRedo() is False and flag.key in _keys(dock)
    dock.tree.setCurrentItem(
        next(
            dock.tree.topLevelItem(r)
            for r in range(dock.tree.topLevelItemCount())
            if dock.tree.topLevelItem(r).data(0, KEY_ROLE) == flag.key
        )
    )
    dock.take_button.click()  # the label is as the audit saw it again: the fix is taken a second time
    assert flag.instance_id not in dataset.instances and flag.key not in _keys(dock)


def test_a_loose_outline_is_moved_onto_the_photos_edge_in_one_undo_step(window, project, qtbot):
    dock = window.assisted.suspicious
    run_and_wait(qtbot, dock.job, dock.run)
    dataset, stack = window.document.dataset, window.editor.history.stack
    row = next(
        dock.tree.topLevelItem(r)
        for r in range(dock.tree.topLevelItemCount())
        if dock.flags[dock.tree.topLevelItem(r).data(0, KEY_ROLE)].evidence[:1] == (Evidence.EDGES,)
    )
    flag = dock.flags[row.data(0, KEY_ROLE)]
    assert row.text(1).startswith("bad outline (edges") and "off the image's edge" in row.text(2)
    before = dataset.instances[flag.instance_id]
    dock.tree.setCurrentItem(row)
    assert dock.outline.item is not None  # the outline on the edge, drawn beside the label
    assert dock.take_button.text() == "Move the outline onto the edge"
    dock.take_button.click()
    assert dataset.instances[flag.instance_id].geometry == flag.prediction.geometry != before.geometry
    assert "Move the outline onto the edge" in window.statusBar().currentMessage()
    stack.undo()
    assert dataset.instances[flag.instance_id] == before


def test_a_label_changed_since_the_audit_is_not_overwritten(window, project, qtbot):
    dock = window.assisted.suspicious
    run_and_wait(qtbot, dock.job, dock.run)
    dataset = window.document.dataset
    row = _row_of(dock, FlagKind.OUTLINE)
    flag = dock.flags[row.data(0, KEY_ROLE)]
    dock.tree.setCurrentItem(row)
    window.editor.push(operations.delete([dataset.instances[flag.instance_id]]))
    dock.take_button.click()
    assert flag.instance_id not in dataset.instances  # still deleted: nothing taken
    assert "changed since the audit" in window.statusBar().currentMessage()


def test_dismissed_flags_stay_dismissed_after_reopening(window, project, qtbot):
    dock = window.assisted.suspicious
    run_and_wait(qtbot, dock.job, dock.run)
    first, second = _keys(dock)[:2]
    dock.tree.setCurrentItem(dock.tree.topLevelItem(0))
    dock.dismiss_button.click()
    assert _keys(dock)[0] == second  # gone; the next one is current and shown
    assert dock.tree.currentItem().data(0, KEY_ROLE) == second
    following = dock.flags[second]
    assert window.session.image_id == following.image_id
    shown = following.instance_id if following.instance_id is not None else following.prediction.id
    assert window.session.selection == (shown,)
    assert "1 dismissed" in dock.state_label.text()
    reopen(window, project)
    run_and_wait(qtbot, dock.job, dock.run)
    assert first not in _keys(dock) and second in _keys(dock)
    assert first in dismissed_in_file(window.document.path)  # what `annotator audit` leaves out too


def test_a_predictions_file_is_audited_and_its_missing_objects_can_be_added(
    window, tmp_path, testdata, qtbot
):
    path = open_tiny(window, tmp_path, testdata)  # labels only: the predictions come from a file
    results = tmp_path / "results.json"
    results.write_bytes(orjson.dumps(perturbed_results(path, seed=3)))
    dock, dataset = window.assisted.suspicious, window.document.dataset
    run_and_wait(qtbot, dock.job, lambda: dock.use_file(results))
    expected = audit(dataset, load_predictions(results, dataset), pixels=ImagePixels(window.document.root))
    assert _keys(dock) == [f.key for f in expected.flags]
    assert "results.json" in dock.source_label.text()
    row = _row_of(dock, FlagKind.MISSING)
    flag = dock.flags[row.data(0, KEY_ROLE)]
    dock.tree.setCurrentItem(row)
    assert window.session.image_id == flag.image_id and window.session.selection == ()
    assert dock.outline.item is not None and dock.outline.item.scene() is window.canvas.scene()
    count = len(dataset.instances)
    dock.take_button.click()
    assert len(dataset.instances) == count + 1
    added = max(dataset.instances.values(), key=lambda i: i.id)
    assert added.category_id == flag.prediction.category_id and added.image_id == flag.image_id


def test_a_bad_predictions_file_says_what_is_wrong(window, tmp_path, testdata, qtbot):
    open_tiny(window, tmp_path, testdata)
    bad = tmp_path / "bad.json"
    bad.write_text('[{"image_id": 999999, "category_id": 1, "score": 0.9, "bbox": [0, 0, 5, 5]}]')
    dock = window.assisted.suspicious
    with qtbot.waitSignal(dock.job.failed, timeout=20000):
        dock.use_file(bad)
    assert "bad.json" in dock.state_label.text() and "999999" in dock.state_label.text()


def _size(dataset, image_id: int) -> tuple[int, int]:
    image = dataset.images[image_id]
    return image.height, image.width


def test_a_long_queue_lists_the_worst_rows_only(window, project, qtbot, monkeypatch):
    from annotator.gui.review import suspicious

    monkeypatch.setattr(suspicious, "MAX_ROWS", 3)
    dock = window.assisted.suspicious
    run_and_wait(qtbot, dock.job, dock.run)
    dataset = window.document.dataset
    flags = audit(dataset, own_predictions(dataset), pixels=ImagePixels(window.document.root)).flags
    assert _keys(dock) == [f.key for f in flags[:3]]
    assert f"the worst 3 of {len(flags)} listed" in dock.state_label.text()


@pytest.mark.parametrize(
    "bad",
    [
        {"images": [{"id": {"x": 1}, "file_name": "a.jpg"}], "annotations": []},  # TypeError: unhashable
        [{"image_id": 0, "category_id": float("inf"), "score": 0.9, "bbox": [0, 0, 5, 5]}],  # OverflowError
    ],
)
def test_a_predictions_file_of_the_wrong_types_names_the_file(window, tmp_path, testdata, qtbot, bad):
    """These ended in Python's bare words ("unhashable type: 'dict'") with no file named."""
    path = open_tiny(window, tmp_path, testdata)
    first = orjson.loads(path.read_bytes())["images"][0]
    if isinstance(bad, list):
        bad[0]["image_id"] = first["id"]
    else:
        bad["images"][0]["file_name"] = first["file_name"]
    file = tmp_path / "bad.json"
    file.write_text(orjson.dumps(bad, option=orjson.OPT_SERIALIZE_NUMPY).decode().replace("null", "Infinity"))
    dock = window.assisted.suspicious
    with qtbot.waitSignal(dock.job.failed, timeout=20000):
        dock.use_file(file)
    assert "bad.json" in dock.state_label.text()


def test_a_category_id_that_is_not_a_number_is_named_in_our_words(
    window, tmp_path, testdata, qtbot, monkeypatch
):
    """`"category_id": "xxx"` said "invalid literal for int() with base 10" (Python's words), in the
    Suspicious labels dock and when the results list is opened with its dataset: now the file, the
    prediction and what is wrong, and no project is left beside the results list."""
    from PySide6.QtWidgets import QMessageBox

    path = open_tiny(window, tmp_path, testdata)
    first = orjson.loads(path.read_bytes())["images"][0]
    file = tmp_path / "bad.json"
    file.write_bytes(
        orjson.dumps([{"image_id": first["id"], "category_id": "xxx", "score": 0.9, "bbox": [0, 0, 5, 5]}])
    )
    said = f"{file}: prediction 0: category_id must be an integer id, got 'xxx'"
    dock = window.assisted.suspicious
    with qtbot.waitSignal(dock.job.failed, timeout=20000):
        dock.use_file(file)
    assert html.escape(said) in dock.state_label.text() and "int()" not in dock.state_label.text()
    messages: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: messages.append(args[2]))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert not window.open_path(file, dataset=path)
    assert messages == [said]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_image_that_cannot_be_read_is_said_and_its_labels_still_audited(window, project, qtbot):
    dock, dataset = window.assisted.suspicious, window.document.dataset
    image = next(i for i in dataset.images.values() if dataset.instances_of(i.id))
    (window.document.root / image.file_name).unlink()  # gone from the disk since the project was made
    run_and_wait(qtbot, dock.job, dock.run)
    assert "1 image could not be read" in dock.state_label.text()
    assert any(dock.flags[k].image_id == image.id for k in _keys(dock))  # the model's flags still there


def test_a_running_audit_counts_the_images_it_has_read(window, project, qtbot, monkeypatch):
    """Reading thousands of photos takes minutes: the dock says how far it is, not just "Auditing…"."""
    dock = window.assisted.suspicious
    first_read, go_on = threading.Event(), threading.Event()
    read = ImagePixels.__call__

    def slow_after_the_first(self, image):
        if first_read.is_set():
            go_on.wait(10)
        first_read.set()
        return read(self, image)

    monkeypatch.setattr(ImagePixels, "__call__", slow_after_the_first)
    with qtbot.waitSignal(dock.job.finished, timeout=30000):
        dock.run()
        qtbot.waitUntil(
            lambda: bool(re.search(r"Auditing… 1 of \d+ images", dock.state_label.text())), timeout=10000
        )
        total = int(re.search(r"of (\d+) images", dock.state_label.text())[1])
        assert total == dock.images_read[1] >= 2
        go_on.set()
    assert f"{total} images audited" in dock.state_label.text()
    assert not dock.progress_timer.isActive()


def test_a_threshold_no_prediction_reaches_flags_nothing_and_the_dock_says_what_to_change(
    window, project, qtbot
):
    """The predictions of a weak model all score under the threshold: the queue holds no model flag
    (not every label as "possibly spurious") and the dock says why; lowering the threshold brings
    them back."""
    dock = window.assisted.suspicious
    dock.show()
    best = max(i.score for i in window.document.dataset.instances.values() if i.score is not None)
    dock.min_score.setValue(min(1.0, best + 0.01))
    run_and_wait(qtbot, dock.job, dock.min_score.editingFinished.emit)
    assert not [f for f in dock.flags.values() if Evidence.MODEL in f.evidence]
    assert f"No prediction scores {dock.min_score.value():.2f} or more" in dock.state_label.text()
    assert ".." not in dock.state_label.text()
    dock.min_score.setValue(0.5)
    run_and_wait(qtbot, dock.job, dock.min_score.editingFinished.emit)
    assert {f.kind for f in dock.flags.values()} == set(FlagKind)
    assert "No prediction" not in dock.state_label.text()


def test_the_queues_next_image_is_made_ready_while_the_person_looks_at_this_one(window, project, qtbot):
    """Worked down, a queue goes to images the list's order does not: the image of the row below is
    the one whose pixels and masks are made ready, not the list's following image."""
    dock = window.assisted.suspicious
    run_and_wait(qtbot, dock.job, dock.run)
    rows = [dock.tree.topLevelItem(r) for r in range(dock.tree.topLevelItemCount())]
    images = [dock.flags[item.data(0, KEY_ROLE)].image_id for item in rows]
    following = {i: window.images_dock.neighbour(i, 1) for i in images}  # what D would make ready
    here = next(r for r in range(len(rows) - 1) if images[r + 1] not in (images[r], following[images[r]]))
    click_row(dock.tree, rows[here])
    assert window.session.image_id == images[here]
    assert window.canvas.overlay.prefetcher.image_id == images[here + 1]
    qtbot.waitUntil(lambda: window.loader.has(images[here + 1]), timeout=10000)


def test_the_predictions_file_and_threshold_come_back_with_the_project(window, tmp_path, testdata, qtbot):
    """A reviewer auditing against a model's results file finds it chosen again after reopening, with
    the threshold they set; a file since removed falls back to the project's own predictions."""
    path = open_tiny(window, tmp_path, testdata)
    results = tmp_path / "results.json"
    results.write_bytes(orjson.dumps(perturbed_results(path, seed=3)))
    dock = window.assisted.suspicious
    run_and_wait(qtbot, dock.job, lambda: dock.use_file(results))
    dock.min_score.setValue(0.35)
    run_and_wait(qtbot, dock.job, dock.min_score.editingFinished.emit)
    reopen(window, path)
    dock = window.assisted.suspicious
    assert dock.predictions_path == results and "results.json" in dock.source_label.text()
    assert dock.min_score.value() == pytest.approx(0.35)
    results.unlink()
    reopen(window, path)
    assert dock.predictions_path is None and "unreviewed predictions" in dock.source_label.text()
