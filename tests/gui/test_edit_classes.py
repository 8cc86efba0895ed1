"""A person's own classes in the real window: created by typing, by the first shape, and in the Classes
dock (rename, colour, drag to reorder, merge, delete), each one undo step; keys 1-9 follow their order."""

from __future__ import annotations

import json
import time

import numpy as np
from canvas_helpers import image_levels
from dialog_helpers import answer_next_dialog, choose_item, click_button, press_escape, type_and_enter
from edit_helpers import click, drag, key, sample, snapshot, window
from PIL import Image as PilImage
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QApplication

from annotator.core.model import Dataset, Image
from annotator.gui.document import MemoryDocument

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def _names(dataset: Dataset) -> dict[int, str]:
    return {c.id: c.name for c in dataset.categories.values()}


def _state(dataset: Dataset) -> tuple:
    return (dict(dataset.categories), snapshot(dataset))


def _key(window, key_code, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key on the main window, active again after a dialog (offscreen, no window manager gives it
    back: window shortcuts need the active window)."""
    window.activateWindow()
    deadline = time.monotonic() + 5
    while QApplication.activeWindow() is not window and time.monotonic() < deadline:
        QApplication.processEvents()
    assert QApplication.activeWindow() is window
    key(window, key_code, modifier)


def _undo(window) -> None:
    _key(window, Qt.Key.Key_Z, CTRL)


def _redo(window) -> None:
    _key(window, Qt.Key.Key_Z, CTRL | SHIFT)


def test_typing_a_new_name_in_the_class_picker_creates_it_for_the_selection(window, sample):
    click(window.canvas, 50, 50)  # the car
    before = _state(sample)
    answer_next_dialog(type_and_enter("face"))
    key(window, Qt.Key.Key_C)
    assert _names(sample) == {1: "road", 2: "car", 3: "donut", 4: "face"}  # id max + 1
    assert sample.instances[2].category_id == 4 and window.editing.class_label.text() == "face"
    assert window.editor.history.stack.count() == 1  # the class and the class change: one step
    _undo(window)
    assert _state(sample) == before
    assert window.editing.class_label.text() == "car"  # the class gone, the selection's is current
    answer_next_dialog(type_and_enter("don"))  # an existing name autocompletes: no new class
    _key(window, Qt.Key.Key_C)
    assert sample.instances[2].category_id == 3 and len(sample.categories) == 3


def test_the_first_shape_without_classes_asks_for_its_class_and_never_invents_one(window, tmp_path):
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 200, 150)])
    window.set_document(MemoryDocument(dataset, tmp_path, tmp_path))
    window.canvas.set_pixels(1, image_levels())
    window.canvas.set_zoom(3.0)
    window.canvas.centerOn(100, 75)
    assert window.editing.class_label.text() == "type a class name"
    _key(window, Qt.Key.Key_R)
    answer_next_dialog(press_escape)  # cancelled: the shape is dropped
    drag(window.canvas, [(20, 20), (40, 30), (60, 50)])
    assert not dataset.instances and not dataset.categories
    asked = answer_next_dialog(type_and_enter("face"))
    drag(window.canvas, [(20, 20), (40, 30), (60, 50)])
    assert asked[0].windowTitle() == "New class"
    assert _names(dataset) == {1: "face"} and [i.category_id for i in dataset.instances.values()] == [1]
    assert window.editing.class_label.text() == "face"
    drag(window.canvas, [(100, 20), (120, 50)])  # the next shape gets it without asking
    assert len(dataset.instances) == 2 and len(dataset.categories) == 1
    _undo(window)
    _undo(window)  # the first shape and its class were one step
    assert not dataset.instances and not dataset.categories
    assert window.editing.class_label.text() == "type a class name"


def _coco_project(folder) -> tuple:
    """A COCO file with ids that have gaps (1 person, 3 car, 17 cat) and one instance, beside its image."""
    PilImage.fromarray(np.zeros((60, 80, 3), np.uint8)).save(folder / "a.png")
    square = [10, 10, 30, 10, 30, 30, 10, 30]
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 80, "height": 60}],
        "categories": [{"id": i, "name": n} for i, n in ((1, "person"), (3, "car"), (17, "cat"))],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 3, "segmentation": [square], "iscrowd": 0}],
    }
    path = folder / "labels.json"
    path.write_text(json.dumps(data))
    return path


def _dock_order(window) -> list[str]:
    return [row.text().split("  (")[0] for row in window.classes_dock.rows()]


def test_dragging_a_class_reorders_keys_and_lists_and_survives_reopening(window, qtbot, tmp_path):
    path = _coco_project(tmp_path)
    assert window.open_path(path)
    dock, dataset = window.classes_dock, window.document.dataset
    qtbot.waitUntil(lambda: _dock_order(window) == ["person", "car", "cat"])
    dock.list.model().moveRow(QModelIndex(), 2, QModelIndex(), 0)  # what a drag of "cat" to the top does
    assert window.editor.history.stack.undoText() == "Move class cat to place 1"
    qtbot.waitUntil(lambda: _dock_order(window) == ["cat", "person", "car"])
    assert window.editing.actions["class_2"].text() == "&2 person"
    window.session.select(5)
    _key(window, Qt.Key.Key_2)
    assert dataset.instances[5].category_id == 1
    assert window.set_document(None)
    assert window.open_path(path)  # the project beside the file, as it was left
    qtbot.waitUntil(lambda: _dock_order(window) == ["cat", "person", "car"])
    assert window.document.dataset.instances[5].category_id == 1
    window.session.select(5)
    _key(window, Qt.Key.Key_2)
    assert window.document.dataset.instances[5].category_id == 1  # 2 is still person, not car
    _key(window, Qt.Key.Key_1)
    assert window.document.dataset.instances[5].category_id == 17


def test_the_class_for_new_shapes_is_the_one_chosen_last_after_reopening(window, qtbot, tmp_path):
    """Reopened, the project gave new shapes its first class again, not the one in use."""
    path = _coco_project(tmp_path)
    assert window.open_path(path)
    qtbot.waitUntil(lambda: _dock_order(window) == ["person", "car", "cat"])
    window.session.select(None)
    _key(window, Qt.Key.Key_3)  # nothing selected: the class new shapes get
    chosen = window.editor.current_category
    assert window.document.dataset.categories[chosen].name == "cat"
    assert window.set_document(None)
    assert window.open_path(path)
    assert window.editor.current_category == chosen


def _select_row(qtbot, window, name: str) -> None:
    """Click a class in the dock (its rows follow the dataset a moment after a change)."""
    dock = window.classes_dock
    dock.hide_empty.setChecked(False)
    qtbot.waitUntil(lambda: any(r.text().startswith(f"{name}  (") for r in dock.rows()))
    dock.list.setCurrentItem(next(r for r in dock.rows() if r.text().startswith(f"{name}  (")))


def _exact_undo_redo(window, dataset, before, after) -> None:
    _undo(window)
    assert _state(dataset) == before
    _redo(window)
    assert _state(dataset) == after


def test_delete_a_class_in_use_with_its_instances_or_moving_them(window, sample, qtbot):
    dock, before = window.classes_dock, _state(sample)
    _select_row(qtbot, window, "car")
    answer_next_dialog(click_button("Delete the instance"))
    dock.buttons["delete"].click()
    assert 2 not in sample.categories and 2 not in sample.instances
    _exact_undo_redo(window, sample, before, _state(sample))
    _undo(window)
    _select_row(qtbot, window, "car")
    answer_next_dialog(click_button("Move them", then=choose_item("donut")))
    dock.buttons["delete"].click()
    assert 2 not in sample.categories and sample.instances[2].category_id == 3
    assert window.editor.history.stack.undoText() == "Delete class car, moving 1 instance to donut"
    _exact_undo_redo(window, sample, before, _state(sample))


def test_merge_rename_and_recolour_from_the_dock(window, sample, qtbot):
    dock, before = window.classes_dock, _state(sample)
    _select_row(qtbot, window, "donut")
    answer_next_dialog(choose_item("road"))
    dock.buttons["merge"].click()
    assert 3 not in sample.categories and sample.instances[3].category_id == 1
    _exact_undo_redo(window, sample, before, _state(sample))
    _undo(window)
    answer_next_dialog(lambda dialog: (dialog.setTextValue("lorry"), dialog.accept()))
    dock.list.itemDoubleClicked.emit(dock.row_of(2))  # double-click renames
    assert sample.categories[2].name == "lorry" and sample.instances[2].category_id == 2  # same id
    window.editing.class_manager.recolour(2, (1, 2, 3))
    assert sample.categories[2].color == (1, 2, 3)
    stack = window.editor.history.stack  # the merge was undone: rename and recolour, a step each
    assert [stack.text(i) for i in range(stack.count())] == [
        "Rename class car to lorry",
        "Change colour of class lorry",
    ]
    assert window.editing.actions["class_2"].text() == "&2 lorry"
