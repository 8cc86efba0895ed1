"""Brush and eraser with real mouse events: exact pixels, radius by keys and wheel, one stroke one step."""

from __future__ import annotations

import time

import numpy as np
import pytest
from edit_helpers import (
    PaintedRegion,
    click,
    drag,
    key,
    move,
    open_sample,
    pixels,
    press,
    release,
    sample,
    scene_point,
    snapshot,
    view_point,
    window,
)
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QRegion, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from annotator.core import region as region_module
from annotator.core.geometry import Mask
from annotator.core.mask_edit import stamp_disc, stamp_segment
from annotator.core.model import Review
from annotator.core.region import Region
from annotator.gui.canvas.outline import PARTS_FROM, Outline
from annotator.gui.tools import brush
from annotator.gui.tools.base import ToolKind
from outline_edges import edges


def expected_stroke(canvas, before, points, radius, *, erase):
    """The pixels a stroke through `points` must give, from the points the tool receives."""
    mask = before.copy()
    seen = [scene_point(canvas, *p) for p in points]
    stamp_disc(mask, seen[0], radius, erase=erase)
    for a, b in zip(seen, seen[1:], strict=False):
        stamp_segment(mask, a, b, radius, erase=erase)
    return mask


def undo_redo_round_trip(window, dataset, before) -> None:
    after = snapshot(dataset)
    window.editing.actions["undo"].trigger()
    assert snapshot(dataset) == before
    window.editing.actions["redo"].trigger()
    assert snapshot(dataset) == after


def test_brush_paints_the_selected_mask_exactly_in_one_undo_step(window, sample):
    canvas = window.canvas
    click(canvas, 135, 100)
    assert canvas.session.selected_id == 3
    key(window, Qt.Key.Key_B)
    assert window.editor.tool.kind is ToolKind.BRUSH
    before_pixels, before = pixels(sample, 3), snapshot(sample)
    points = [(150, 95), (155, 98), (160, 100), (166, 103)]  # across the hole
    drag(canvas, points)
    radius = window.editor.brush_radius
    assert np.array_equal(
        pixels(sample, 3), expected_stroke(canvas, before_pixels, points, radius, erase=False)
    )
    assert pixels(sample, 3)[100, 160] == 1 and window.editor.history.stack.count() == 1
    undo_redo_round_trip(window, sample, before)


def test_a_polygon_becomes_a_mask_on_its_first_stroke_and_keeps_its_holes(window, sample):
    canvas = window.canvas
    click(canvas, 20, 80)
    window.editing.actions["tool_eraser"].trigger()
    before_pixels, before, polygon = pixels(sample, 1), snapshot(sample), sample.instances[1].geometry
    drag(canvas, [(30, 30), (31, 31)])  # a hole in the middle of the square
    instance = sample.instances[1]
    assert isinstance(instance.geometry, Mask)
    expected = expected_stroke(
        canvas, before_pixels, [(30, 30), (31, 31)], window.editor.brush_radius, erase=True
    )
    assert np.array_equal(pixels(sample, 1), expected) and pixels(sample, 1)[30, 30] == 0
    assert pixels(sample, 1)[12, 12] == 1
    undo_redo_round_trip(window, sample, before)
    window.editing.actions["undo"].trigger()
    assert sample.instances[1].geometry == polygon  # the very polygon, not a mask of it


def test_brush_radius_by_keys_and_ctrl_wheel(window, sample):
    canvas = window.canvas
    window.editing.actions["tool_brush"].trigger()
    start = window.editor.brush_radius
    key(window, Qt.Key.Key_BracketRight)
    assert window.editor.brush_radius > start
    key(window, Qt.Key.Key_BracketLeft)
    key(window, Qt.Key.Key_BracketLeft)
    assert window.editor.brush_radius < start
    smaller, scale = window.editor.brush_radius, canvas.scale_factor
    wheel(canvas, 100, 75, 240, Qt.KeyboardModifier.ControlModifier)
    assert window.editor.brush_radius == pytest.approx(smaller * 1.21) and canvas.scale_factor == scale
    assert window.editing.radius_box.value() == round(window.editor.brush_radius)
    wheel(canvas, 100, 75, 120, Qt.KeyboardModifier.NoModifier)  # a plain wheel still zooms
    assert canvas.scale_factor > scale


def wheel(canvas, x, y, delta, modifiers) -> None:
    position = QPointF(view_point(canvas, x, y))
    event = QWheelEvent(
        position, QPointF(canvas.viewport().mapToGlobal(position.toPoint())), QPoint(), QPoint(0, delta),
        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(canvas.viewport(), event)


def test_brush_with_nothing_selected_draws_a_new_instance_of_the_current_class(window, sample):
    canvas = window.canvas
    window.editing.actions["tool_brush"].trigger()
    key(window, Qt.Key.Key_3)
    assert window.editor.current_category == 3
    move(canvas, 180, 20)
    assert window.editor.tools[ToolKind.BRUSH]._cursor_item.isVisible()
    drag(canvas, [(180, 20), (190, 30)])
    (new_id,) = set(sample.instances) - {1, 2, 3}
    new = sample.instances[new_id]
    assert new.category_id == 3 and isinstance(new.geometry, Mask) and canvas.session.selected_id == new_id
    assert pixels(sample, new_id)[25, 185] == 1


def test_the_brush_circle_goes_when_the_pointer_leaves_the_canvas(window, sample):
    canvas = window.canvas
    window.editing.actions["tool_brush"].trigger()
    circle = window.editor.tools[ToolKind.BRUSH]._cursor_item
    move(canvas, 171, 23)  # not where an earlier test left the pointer: a move there sends nothing
    assert circle.isVisible()
    QApplication.sendEvent(canvas, QEvent(QEvent.Type.Leave))
    assert not circle.isVisible()
    move(canvas, 150, 30)
    assert circle.isVisible()


def test_eraser_on_a_prediction_marks_it_edited_and_keeps_its_source(window, sample):
    canvas = window.canvas
    window.editing.actions["tool_eraser"].trigger()
    drag(canvas, [(50, 50), (52, 50)])  # nothing selected: the eraser takes the instance under it
    assert sample.instances[2].review is Review.EDITED and sample.instances[2].source.model == "maskrcnn"
    assert pixels(sample, 2)[50, 50] == 0


def test_escape_during_a_stroke_cancels_it(window, sample):
    canvas = window.canvas
    click(canvas, 135, 100)
    window.editing.actions["tool_brush"].trigger()
    before = snapshot(sample)
    press(canvas, 160, 100)
    move(canvas, 165, 100)
    key(canvas, Qt.Key.Key_Escape)
    release(canvas, 165, 100)
    assert snapshot(sample) == before and window.editor.history.stack.count() == 0


def test_fill_holes_and_remove_fragments(window, sample):
    canvas = window.canvas
    click(canvas, 135, 100)
    window.editing.actions["tool_brush"].trigger()
    window.editor.set_brush_radius(1.5)
    drag(canvas, [(190, 140), (190.5, 140)])  # a small fragment away from the ring
    assert pixels(sample, 3)[140, 190] == 1
    before = snapshot(sample)
    window.editor.remove_fragments(50)
    assert pixels(sample, 3)[140, 190] == 0
    undo_redo_round_trip(window, sample, before)
    window.editing.actions["fill_holes"].trigger()
    assert pixels(sample, 3)[100, 160] == 1


def test_erasing_an_instance_away_deletes_it_in_one_undoable_step(window, sample):
    canvas = window.canvas
    before = snapshot(sample)
    window.editing.actions["tool_eraser"].trigger()
    window.editor.set_brush_radius(60)
    x, y, w, h = sample.instances[2].geometry.bbox(150, 200)
    drag(canvas, [(x + w / 2, y + h / 2), (x + w / 2 + 1, y + h / 2)])
    assert 2 not in sample.instances  # not left behind as an empty mask
    window.editing.actions["undo"].trigger()
    assert snapshot(sample) == before


def test_a_stroke_that_leaves_its_working_window_paints_exactly(window, sample, monkeypatch):
    """The brush works in a window around the instance and the stroke, grown as the stroke leaves it:
    with a tiny margin the window grows at nearly every step, and the pixels are still exact."""
    monkeypatch.setattr(brush, "WINDOW_MARGIN", 2)
    canvas = window.canvas
    click(canvas, 135, 100)
    key(window, Qt.Key.Key_B)
    before_pixels, before = pixels(sample, 3), snapshot(sample)
    points = [(150, 95), (120, 60), (60, 20), (15, 10), (10, 140), (190, 140)]
    drag(canvas, points)
    radius = window.editor.brush_radius
    expected = expected_stroke(canvas, before_pixels, points, radius, erase=False)
    assert np.array_equal(pixels(sample, 3), expected)
    assert pixels(sample, 3)[140, 100] == 1 and window.editor.history.stack.count() == 1
    undo_redo_round_trip(window, sample, before)


def test_the_canvas_draws_a_stroke_from_the_brushs_pixels_without_decoding_them(window, sample, monkeypatch):
    """The brush holds the new mask when it puts it: the canvas's crops of it are cut from those pixels
    (the same as decoding its runs would give), and the geometry keeps no array afterwards."""
    canvas = window.canvas
    click(canvas, 135, 100)
    key(window, Qt.Key.Key_B)
    decoded = []
    real = region_module.mask_crops
    monkeypatch.setattr(region_module, "mask_crops", lambda mask: decoded.append(mask) or real(mask))
    drag(canvas, [(150, 95), (120, 60), (60, 20)])
    geometry = sample.instances[3].geometry
    assert not any(mask.rle is geometry.rle for mask in decoded)
    image = sample.image_of(sample.instances[3])
    shown = canvas.overlay.layers[3].region
    assert shown.geometry is geometry and shown.decoded
    fresh = real(Mask(geometry.rle))
    assert [(c.x0, c.y0, c.mask.tobytes()) for c in shown.crops] == [
        (c.x0, c.y0, c.mask.tobytes()) for c in fresh
    ]
    assert np.array_equal(region_module.Region(geometry, image.height, image.width).crop.mask, fresh[0].mask)
    assert not [key for key in geometry.derived if region_module.PIXELS_AT_HAND in key]


def test_a_stroke_retraces_the_outline_only_near_itself(window, sample, monkeypatch):
    """The outline drawn after a stroke is the old one with the part near the stroke traced again: the
    same edges as tracing the new mask whole, which the release no longer does."""
    canvas = window.canvas
    click(canvas, 135, 100)
    key(window, Qt.Key.Key_B)
    traced = []
    real = region_module.trace_rings
    monkeypatch.setattr(region_module, "trace_rings", lambda *a, **k: traced.append(a) or real(*a, **k))
    drag(canvas, [(150, 95), (160, 100), (195, 100)])  # across the hole and out of the ring
    geometry = sample.instances[3].geometry
    shown = canvas.overlay.layers[3].region
    assert shown.geometry is geometry and not traced
    image = sample.image_of(sample.instances[3])
    whole = region_module.Region(Mask(geometry.rle), image.height, image.width).outline
    assert edges(shown.outline) == edges(whole) and traced  # the fresh region traced it whole
    assert canvas.overlay.selected_item.outline.region is shown


def test_a_brush_press_repaints_its_dab_not_the_view(window, sample):
    """The working mask's preview stays in the scene between strokes: adding an image-sized item at
    each press (and removing it at release) repainted the whole view."""
    canvas = window.canvas
    click(canvas, 135, 100)
    window.editing.actions["tool_brush"].trigger()
    QApplication.processEvents()
    painted = PaintedRegion()
    canvas.viewport().installEventFilter(painted)
    press(canvas, 160, 100)
    QApplication.processEvents()
    canvas.viewport().removeEventFilter(painted)
    dab = 2 * window.editor.brush_radius * canvas.scale_factor
    box = painted.region.boundingRect()
    assert not box.isEmpty() and box.width() <= dab + 12 and box.height() <= dab + 12
    assert box.contains(view_point(canvas, 160, 100))
    release(canvas, 160, 100)
    preview = window.editor.tool.preview
    assert not preview.display.any()  # nothing of the stroke is left to show
    window.step_image(1)  # another size: the next stroke's preview is that image's
    click(canvas, 10, 10)
    press(canvas, 30, 30)
    assert preview.display.shape == (90, 120) and preview.display.any()
    release(canvas, 30, 30)
    assert not preview.display.any()


def _settle(canvas) -> None:
    """Until no tile is being built or about to be (a pan's build starts when its timer fires)."""
    deadline, quiet = time.monotonic() + 30, 0
    while quiet < 5 and time.monotonic() < deadline:
        QTest.qWait(20)
        busy = canvas.overlay.building or canvas._view_timer.isActive()
        quiet = 0 if busy else quiet + 1


def _area(region: QRegion) -> int:
    return sum(rect.width() * rect.height() for rect in region)


def _large_outline(sample) -> None:
    """Instance 3 made a large outline (drawn in parts, PARTS_FROM vertices or more): a disc with a band
    of pin holes."""
    yy, xx = np.mgrid[0:150, 0:200]
    distance = np.hypot(xx - 160, yy - 100)
    holes = (distance > 24) & (distance < 33) & (xx % 2 == 0) & (yy % 2 == 0)
    jagged = Mask.from_array(((distance <= 35) & ~holes).astype(np.uint8))
    sample.put_instances([sample.instances[3].with_changes(geometry=jagged)])
    assert len(Outline(Region(jagged, 150, 200))) >= PARTS_FROM


def test_a_brush_release_repaints_near_its_dab_not_the_view(window, sample):
    """The selected instance, its selection outline and the patch above it keep their bounding rects
    and repaint only where the new mask differs: a changed rect repainted the whole view at release."""
    _large_outline(sample)
    canvas = window.canvas
    click(canvas, 135, 100)
    window.editing.actions["tool_brush"].trigger()
    row = pixels(sample, 3)[100]
    x = float(np.flatnonzero(row)[-1] + 3)  # just right of the instance: the dab grows it
    canvas.set_zoom(8.0)  # the instance fills most of the view
    canvas.centerOn(x - 20, 100)
    _settle(canvas)  # the new view's tile is built
    before = pixels(sample, 3)
    press(canvas, x, 100)
    QApplication.processEvents()
    painted = PaintedRegion()
    canvas.viewport().installEventFilter(painted)
    release(canvas, x, 100)
    QTest.qWait(200)
    canvas.viewport().removeEventFilter(painted)
    assert not np.array_equal(pixels(sample, 3), before)  # the mask changed
    view = canvas.viewport().rect()
    assert painted.region.contains(view_point(canvas, x, 100))
    # the dab and the strips where the instance's box grew (65% of the view when the items' rects changed)
    assert _area(painted.region) <= 0.3 * view.width() * view.height(), painted.region.boundingRect()


def test_strokes_that_keep_growing_an_instance_repaint_near_themselves(window, sample):
    """A stroke that outgrows the selected instance's bounding rect repaints the view once; the rects it
    changed then span the image, so the strokes that go on growing it repaint only near themselves (each
    one past the room left repainted the whole view: one release in two of bench/edit.py's)."""
    _large_outline(sample)
    canvas = window.canvas
    click(canvas, 160, 100)
    window.editing.actions["tool_brush"].trigger()
    canvas.set_zoom(4.0)
    canvas.centerOn(95, 100)
    _settle(canvas)
    drag(canvas, [(127.0, 100.0), (110.0, 100.0), (95.0, 100.0)])  # out of the instance's room: once
    _settle(canvas)
    before = pixels(sample, 3)
    painted = PaintedRegion()
    canvas.viewport().installEventFilter(painted)
    drag(canvas, [(95.0, 100.0), (80.0, 100.0), (62.0, 100.0)])  # and out of the room the first left
    QTest.qWait(200)
    canvas.viewport().removeEventFilter(painted)
    assert pixels(sample, 3)[100, 63] and not before[100, 63]
    view = canvas.viewport().rect()
    assert _area(painted.region) <= 0.3 * view.width() * view.height(), painted.region.boundingRect()
