"""Instance operations from the keyboard and menus, the undo history, and the shortcuts panel."""

from __future__ import annotations

import numpy as np
from edit_helpers import click, drag, key, pixels, sample, snapshot, window
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from annotator.core.geometry import Polygons
from annotator.core.model import Review
from annotator.gui.tools.class_picker import ClassPicker

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def test_delete_key_and_undo_redo_keys(window, sample):
    canvas, before = window.canvas, snapshot(sample)
    click(canvas, 50, 50)
    key(window, Qt.Key.Key_Delete)
    assert 2 not in sample.instances and canvas.session.selected_id is None
    after = snapshot(sample)
    key(window, Qt.Key.Key_Z, CTRL)
    assert snapshot(sample) == before
    key(window, Qt.Key.Key_Z, CTRL | SHIFT)
    assert snapshot(sample) == after


def test_ctrl_click_adds_to_the_selection_and_takes_away_as_shift_click_does(window, sample):
    canvas = window.canvas
    click(canvas, 20, 80)
    click(canvas, 135, 100, CTRL)
    assert window.editor.selected_ids == [1, 3]
    click(canvas, 20, 80, CTRL)
    assert window.editor.selected_ids == [3]


def chosen_rows(window) -> set[int]:
    return {row.data(0, Qt.ItemDataRole.UserRole) for row in window.instances_dock.tree.selectedItems()}


def test_the_instances_list_shows_and_makes_a_selection_of_several(window, sample, qtbot):
    canvas, tree = window.canvas, window.instances_dock.tree
    click(canvas, 20, 80)
    click(canvas, 135, 100, SHIFT)
    assert window.editor.selected_ids == [1, 3]
    qtbot.waitUntil(lambda: chosen_rows(window) == {1, 3})  # it showed only the first
    assert tree.currentItem().data(0, Qt.ItemDataRole.UserRole) == 1
    row_of_2 = next(
        tree.topLevelItem(i) for i in range(3) if tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == 2
    )
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, CTRL, tree.visualItemRect(row_of_2).center())
    assert set(window.editor.selected_ids) == {1, 2, 3} and window.editor.selected_ids[0] == 2
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(row_of_2).center())
    assert window.editor.selected_ids == [2] and chosen_rows(window) == {2}
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, CTRL, tree.visualItemRect(row_of_2).center())
    assert window.editor.selected_ids == []  # the last row taken away: nothing selected on the canvas


def test_number_keys_change_the_class_of_the_selection(window, sample):
    canvas = window.canvas
    click(canvas, 50, 50)
    key(window, Qt.Key.Key_3)
    assert sample.instances[2].category_id == 3 and sample.instances[2].review is Review.EDITED
    assert sample.instances[2].source.score == 0.9
    assert window.editing.actions["class_3"].text().endswith("donut")  # the menu names the class
    assert not window.editing.actions["class_4"].isVisible()  # three classes, three keys


def test_class_picker_searches_by_name(window, sample):
    picker = ClassPicker(sample, window.editor.ordered_categories(), 1, window)
    picker.search.setText("don")
    assert picker.chosen() == 3
    picker.search.setText("2")  # or by id
    assert picker.chosen() == 2
    picker.search.setText("nothing like it")
    assert picker.chosen() is None


def test_shift_click_selects_several_and_merge_then_split(window, sample):
    canvas = window.canvas
    click(canvas, 20, 80)
    click(canvas, 135, 100, SHIFT)
    assert window.editor.selected_ids == [1, 3]
    before = snapshot(sample)
    areas = (pixels(sample, 1), pixels(sample, 3))
    union = areas[0] | areas[1]
    key(window, Qt.Key.Key_M, CTRL)
    assert 3 not in sample.instances and np.array_equal(pixels(sample, 1), union)
    key(window, Qt.Key.Key_K, CTRL)  # split the merged instance into its two parts again
    assert len(sample.instances) == 3
    parts = sorted(int(pixels(sample, i).sum()) for i in sample.instances if i != 2)
    assert parts == sorted(int(p.sum()) for p in areas)
    key(window, Qt.Key.Key_Z, CTRL)
    key(window, Qt.Key.Key_Z, CTRL)
    assert snapshot(sample) == before


def test_copy_and_paste_within_and_between_images(window, sample, qtbot):
    canvas = window.canvas
    click(canvas, 50, 50)
    key(window, Qt.Key.Key_C, CTRL)
    key(window, Qt.Key.Key_V, CTRL)
    pasted = set(sample.instances) - {1, 2, 3}
    (copy_id,) = pasted
    assert sample.instances[copy_id].geometry == sample.instances[2].geometry
    assert canvas.session.selected_id == copy_id
    window.show_image(2)
    assert canvas.session.image_id == 2
    key(window, Qt.Key.Key_V, CTRL)
    (other_id,) = {i.id for i in sample.instances_of(2)}
    assert sample.instances[other_id].category_id == 2 and canvas.session.selected_id == other_id
    key(window, Qt.Key.Key_Z, CTRL)
    assert sample.instance_count(2) == 0
    key(window, Qt.Key.Key_Z, CTRL)  # undoing an edit of image 1 shows image 1
    assert canvas.session.image_id == 1 and copy_id not in sample.instances


def test_raise_and_lower_in_z_order(window, sample):
    canvas = window.canvas
    click(canvas, 20, 80)
    key(window, Qt.Key.Key_BracketRight, CTRL)
    assert sample.instances_of(1)[-1].id == 1
    key(window, Qt.Key.Key_BracketLeft, CTRL)
    assert sample.instances_of(1)[0].id == 1


def test_history_dock_lists_every_step_and_undo_to_any_point(window, sample):
    canvas = window.canvas
    click(canvas, 20, 80)
    drag(canvas, [(10, 10), (5, 5)])
    key(window, Qt.Key.Key_R)
    drag(canvas, [(150, 10), (190, 45)])
    stack = window.editor.history.stack
    assert [stack.text(i) for i in range(stack.count())] == ["Move vertex", "Draw rectangle"]
    assert window.editing.undo_view.model().rowCount() == 3  # "Opened" and the two steps
    stack.setIndex(0)
    assert len(sample.instances) == 3 and sample.instances[1].geometry.rings[0][0].tolist() == [10, 10]


def test_shortcuts_panel_lists_every_frequent_action(window, sample, qtbot):
    key(window, Qt.Key.Key_F1)
    qtbot.waitUntil(window.editing.help_panel.isVisible)
    rows = dict(window.editing.help_panel.rows())
    for text, keys in [
        ("Select and edit", "V"), ("Polygon", "P"), ("Rectangle", "R"), ("Brush", "B"), ("Eraser", "E"),
        ("Delete instances", "Del"), ("Larger brush", "]"), ("Smaller brush", "["), ("Merge selected instances", "Ctrl+M"),
    ]:  # fmt: skip
        assert rows[text] == keys, text
    assert any(text.startswith("Undo") and keys.startswith("Ctrl+Z") for text, keys in rows.items())
    assert any(text.startswith("Redo") and "Ctrl+Shift+Z" in keys for text, keys in rows.items())
    assert rows["1 road"] == "1"


def test_simplify_needs_a_polygon(window, sample):
    canvas = window.canvas
    click(canvas, 135, 100)
    window.editor.simplify(1.0)
    assert window.statusBar().currentMessage().startswith("Nothing to simplify")
    assert not isinstance(sample.instances[3].geometry, Polygons)


def test_shortcuts_panel_shows_its_keys_column_without_scrolling(window, sample, qtbot):
    """F1 at the window's usual size: every key binding is readable in the dock as it opens."""
    key(window, Qt.Key.Key_F1)
    panel = window.editing.help_panel
    qtbot.waitUntil(panel.isVisible)
    qtbot.waitUntil(lambda: panel.tree.viewport().width() > 100)
    tree, header = panel.tree, panel.tree.header()
    assert not tree.horizontalScrollBar().isVisible()
    keys_left = header.sectionViewportPosition(1)
    keys_right = keys_left + header.sectionSize(1)
    assert keys_left > 0 and keys_right <= tree.viewport().width()
    metrics = tree.fontMetrics()
    widest = max(
        metrics.horizontalAdvance(line) for _text, keys in panel.rows() for line in keys.splitlines()
    )
    assert widest <= header.sectionSize(1)
    assert any(tree.topLevelItem(i).text(0) == "Mouse" for i in range(tree.topLevelItemCount()))


def test_shortcuts_panel_shows_each_mouse_gesture_whole_on_its_own_line(window, sample, qtbot):
    """A tool's gestures on one line were cut in the dock (a spanned row does not wrap): one a line."""
    key(window, Qt.Key.Key_F1)
    panel = window.editing.help_panel
    qtbot.waitUntil(panel.isVisible)
    qtbot.waitUntil(lambda: panel.tree.viewport().width() > 100)
    tree = panel.tree
    mouse = next(
        tree.topLevelItem(i)
        for i in range(tree.topLevelItemCount())
        if tree.topLevelItem(i).text(0) == "Mouse"
    )
    texts = [mouse.child(i).text(0) for i in range(mouse.childCount())]
    assert any("Ctrl+click" in text for text in texts)
    indent = tree.indentation() * 2  # the row's place under its group
    widest = max(tree.fontMetrics().horizontalAdvance(line) for text in texts for line in text.splitlines())
    assert indent + widest <= tree.viewport().width()
    assert all(mouse.child(i).toolTip(0) == mouse.child(i).text(0) for i in range(mouse.childCount()))
