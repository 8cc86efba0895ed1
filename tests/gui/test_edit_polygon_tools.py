"""Select, move, vertex editing, polygon and rectangle drawing, driven by real mouse and key events."""

from __future__ import annotations

import numpy as np
import pytest
from canvas_helpers import ring_mask
from edit_helpers import (
    PaintedRegion,
    click,
    drag,
    key,
    move,
    pixels,
    press,
    release,
    sample,
    scene_point,
    snapshot,
    window,
)
from PIL import Image as PilImage
from PySide6.QtCore import Qt

from annotator.core.geometry import Polygons
from annotator.core.model import Dataset, Image, Review
from annotator.gui.document import MemoryDocument
from annotator.gui.tools.base import ToolKind
from annotator.io.project import open_project

ALT = Qt.KeyboardModifier.AltModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def ring(dataset, instance_id, index=0) -> np.ndarray:
    return dataset.instances[instance_id].geometry.rings[index]


def undo_redo_round_trip(window, dataset, before) -> None:
    """Undo gives back exactly `before`; redo exactly what the edit made."""
    after = snapshot(dataset)
    window.editing.actions["undo"].trigger()
    assert snapshot(dataset) == before
    window.editing.actions["redo"].trigger()
    assert snapshot(dataset) == after


def test_click_selects_and_a_drag_moves_as_one_undo_step(window, sample):
    canvas, before = window.canvas, snapshot(sample)
    click(canvas, 50, 50)
    assert canvas.session.selected_id == 2
    drag(canvas, [(50, 50), (55, 52), (62, 58), (70, 65)])
    (x0, y0), (x1, y1) = scene_point(canvas, 50, 50), scene_point(canvas, 70, 65)
    square = np.array([[40, 40], [60, 40], [60, 60], [40, 60]], float)
    assert np.allclose(ring(sample, 2), square + (x1 - x0, y1 - y0))
    assert sample.instances[2].review is Review.EDITED  # a prediction a person moved
    assert window.editor.history.stack.count() == 1
    undo_redo_round_trip(window, sample, before)


def test_moving_a_mask_moves_whole_pixels(window, sample):
    canvas, before = window.canvas, snapshot(sample)
    drag(canvas, [(135, 100), (140, 104), (145.2, 110.1)])
    assert canvas.session.selected_id == 3
    (x0, y0), (x1, y1) = scene_point(canvas, 135, 100), scene_point(canvas, 145.2, 110.1)
    shift = (round(y1 - y0), round(x1 - x0))
    assert np.array_equal(pixels(sample, 3), np.roll(ring_mask(160, 100, 30, 12).to_array(), shift, (0, 1)))
    undo_redo_round_trip(window, sample, before)


def test_drag_a_vertex_of_the_selected_polygon(window, sample):
    canvas = window.canvas
    click(canvas, 20, 80)
    assert canvas.session.selected_id == 1
    before = snapshot(sample)
    drag(canvas, [(10, 10), (8, 7), (5, 3)])
    assert tuple(ring(sample, 1)[0]) == pytest.approx(scene_point(canvas, 5, 3))
    assert ring(sample, 1)[1:].tolist() == [[110, 10], [110, 110], [10, 110]]
    undo_redo_round_trip(window, sample, before)


def test_press_on_an_edge_inserts_a_vertex_and_drags_it(window, sample):
    canvas = window.canvas
    click(canvas, 20, 80)
    before = snapshot(sample)
    drag(canvas, [(60, 10), (60, 5), (61, 2)])
    assert len(ring(sample, 1)) == 5
    assert tuple(ring(sample, 1)[1]) == pytest.approx(scene_point(canvas, 61, 2))
    undo_redo_round_trip(window, sample, before)
    click(canvas, 30, 110)  # a click on an edge inserts a vertex where it is
    assert len(ring(sample, 1)) == 6 and tuple(ring(sample, 1)[4]) == pytest.approx((30, 110), abs=0.34)


def test_alt_click_or_backspace_deletes_a_vertex(window, sample):
    canvas = window.canvas
    click(canvas, 20, 80)
    drag(canvas, [(60, 10), (60, 6)])  # now five vertices
    before = snapshot(sample)
    click(canvas, 110, 110, ALT)
    assert ring(sample, 1)[:, 0].max() < 110.5 and len(ring(sample, 1)) == 4
    undo_redo_round_trip(window, sample, before)
    click(canvas, 10, 110)  # touch a vertex, then Backspace
    key(canvas, Qt.Key.Key_Backspace)
    assert len(ring(sample, 1)) == 3 and [10, 110] not in ring(sample, 1).tolist()


def test_instances_with_several_parts_are_edited_part_by_part(window, sample):
    canvas = window.canvas
    click(canvas, 20, 80)
    window.editing.actions["tool_polygon"].trigger()
    points = [(130, 10), (190, 10), (190, 40)]
    click(canvas, *points[0], SHIFT)  # Shift on the first click: a part of the selected instance
    for p in points[1:]:
        click(canvas, *p)
    key(canvas, Qt.Key.Key_Return)
    assert len(sample.instances[1].geometry.rings) == 2
    window.editing.actions["tool_select"].trigger()
    first = ring(sample, 1, 0).copy()
    drag(canvas, [(190, 40), (185, 50)])
    assert np.array_equal(ring(sample, 1, 0), first)
    assert tuple(ring(sample, 1, 1)[2]) == pytest.approx(scene_point(canvas, 185, 50))


def test_a_vertex_drag_zoomed_in_repaints_near_the_vertex(window, sample):
    """Zoomed in on a large polygon, each step of a vertex drag repaints the vertex's two edges and its
    handle, not the polygon's box (the whole view: the preview was the whole ring, and every handle
    repainted); the preview is those two edges, and the release puts the vertex where it was left."""
    from PySide6.QtWidgets import QApplication

    canvas = window.canvas
    click(canvas, 20, 80)  # the large square, 100 pixels a side
    canvas.set_zoom(6.0)
    canvas.centerOn(60, 60)  # the square fills the view
    QApplication.processEvents()
    press(canvas, 110, 110)  # its corner
    QApplication.processEvents()
    painted = PaintedRegion()
    canvas.viewport().installEventFilter(painted)
    for step in range(1, 6):
        move(canvas, 110 - step, 110 - 2 * step)
        QApplication.processEvents()
    canvas.viewport().removeEventFilter(painted)
    view = canvas.viewport().rect()
    area = sum(rect.width() * rect.height() for rect in painted.region)
    assert 0 < area <= 0.35 * view.width() * view.height(), painted.region.boundingRect()
    edges = [edge.line for edge in window.editor.tool._edges]  # the preview: the corner's two edges
    corner = [scene_point(canvas, *p) for p in [(110, 10), (105, 100), (10, 110)]]
    assert np.allclose(edges, [corner[:2], corner[1:]])
    release(canvas, 105, 100)
    assert tuple(ring(sample, 1)[2]) == pytest.approx(scene_point(canvas, 105, 100))
    assert all(edge.line is None for edge in window.editor.tool._edges)


def test_draw_a_polygon_closing_on_the_first_point(window, sample, qtbot):
    canvas = window.canvas
    key(window, Qt.Key.Key_P)
    assert window.editor.tool.kind is ToolKind.POLYGON
    key(window, Qt.Key.Key_2)  # class 2 for new shapes (nothing selected)
    points = [(120, 20), (180, 20), (180, 60), (120, 60)]
    for p in points:
        click(canvas, *p)
        move(canvas, p[0] + 3, p[1] + 3)  # the rubber band follows the mouse
    assert not set(sample.instances) - {1, 2, 3}  # nothing until it is closed
    before = snapshot(sample)
    click(canvas, 121, 21)  # on the first point: closes
    (new_id,) = set(sample.instances) - {1, 2, 3}
    new = sample.instances[new_id]
    assert new.category_id == 2 and isinstance(new.geometry, Polygons) and not new.source.is_model
    assert np.allclose(new.geometry.rings[0], [scene_point(canvas, *p) for p in points])
    assert new.z == max(i.z for i in sample.instances.values()) and canvas.session.selected_id == new_id
    undo_redo_round_trip(window, sample, before)


def test_polygon_enter_closes_escape_cancels_backspace_takes_back(window, sample):
    canvas = window.canvas
    window.editing.actions["tool_polygon"].trigger()
    for p in [(120, 20), (180, 20), (150, 60)]:
        click(canvas, *p)
    key(canvas, Qt.Key.Key_Escape)
    assert len(sample.instances) == 3 and not window.editor.tool.busy
    for p in [(120, 20), (180, 20), (150, 60), (130, 70)]:
        click(canvas, *p)
    key(canvas, Qt.Key.Key_Backspace)
    key(canvas, Qt.Key.Key_Enter)
    (new_id,) = set(sample.instances) - {1, 2, 3}
    assert len(sample.instances[new_id].geometry.rings[0]) == 3
    # the new shape stays selected; Esc lets go of it in this tool too, so a class key that follows
    # does not rename it (seen in a real window: Esc did nothing, then C renamed the table a chair)
    assert canvas.session.selected_id == new_id
    key(canvas, Qt.Key.Key_Escape)
    assert canvas.session.selected_id is None and window.editor.tool.kind is ToolKind.POLYGON
    category = sample.instances[new_id].category_id
    key(canvas, Qt.Key.Key_1 if category != 1 else Qt.Key.Key_2)
    assert sample.instances[new_id].category_id == category


def test_a_half_drawn_polygon_is_kept_when_the_next_image_is_shown(window, sample):
    """D (next image) in the middle of a polygon keeps it as an instance of the image it was drawn on,
    one undo step, instead of dropping every point clicked; two points, a line, are dropped."""
    canvas = window.canvas
    key(window, Qt.Key.Key_P)
    key(window, Qt.Key.Key_2)
    points = [(120, 20), (180, 20), (180, 60), (150, 70)]
    for p in points:
        click(canvas, *p)
    drawn = [scene_point(canvas, *p) for p in points]
    before = snapshot(sample)
    key(canvas, Qt.Key.Key_D)
    assert canvas.session.image_id == 2 and not window.editor.tool.busy
    (new_id,) = set(sample.instances) - {1, 2, 3}
    new = sample.instances[new_id]
    assert new.image_id == 1 and new.category_id == 2
    assert np.allclose(new.geometry.rings[0], drawn)
    assert "kept" in window.statusBar().currentMessage()
    window.editing.actions["undo"].trigger()
    assert snapshot(sample) == before
    click(canvas, 20, 20)
    click(canvas, 60, 20)
    key(canvas, Qt.Key.Key_A)
    assert canvas.session.image_id == 1 and snapshot(sample) == before


def test_a_half_drawn_polygon_is_saved_when_another_project_is_opened(window, tmp_path, qtbot):
    folder = tmp_path / "pics"
    folder.mkdir()
    PilImage.fromarray(np.full((150, 200, 3), 90, np.uint8)).save(folder / "a.png")
    with qtbot.waitSignal(window.loader.loaded, timeout=10000):
        assert window.open_path(folder)
    canvas = window.canvas
    canvas.set_zoom(3.0)
    canvas.centerOn(100, 75)
    window.editor.create_class("car")
    key(window, Qt.Key.Key_P)
    points = [(120, 20), (180, 20), (150, 60)]
    for p in points:
        click(canvas, *p)
    drawn = [scene_point(canvas, *p) for p in points]
    other = Dataset()
    other.put_images([Image(1, "b.png", 120, 90)])
    assert window.set_document(MemoryDocument(other, tmp_path, tmp_path))
    with open_project(folder) as project:  # what the project file holds now
        (kept,) = project.dataset.instances.values()
        assert np.allclose(kept.geometry.rings[0], drawn)
        assert project.dataset.categories[kept.category_id].name == "car"


def test_draw_a_rectangle(window, sample):
    canvas = window.canvas
    key(window, Qt.Key.Key_R)
    before = snapshot(sample)
    drag(canvas, [(150, 10), (160, 30), (190, 45)])
    (new_id,) = set(sample.instances) - {1, 2, 3}
    (x0, y0), (x1, y1) = scene_point(canvas, 150, 10), scene_point(canvas, 190, 45)
    assert sample.instances[new_id].geometry.rings[0].tolist() == [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    undo_redo_round_trip(window, sample, before)
    drag(canvas, [(20, 20), (20.2, 20.2)])  # a slip of the hand draws nothing
    assert len(sample.instances) == 4


def test_a_simplify_with_a_tolerance(window, sample):
    canvas = window.canvas
    click(canvas, 20, 80)
    for x in range(20, 110, 10):  # many vertices along the top edge, nearly straight
        drag(canvas, [(x, 10), (x, 10.4)])
    count = sample.instances[1].geometry.vertex_count
    before = snapshot(sample)
    window.editor.simplify(1.0)
    assert sample.instances[1].geometry.vertex_count < count
    undo_redo_round_trip(window, sample, before)
