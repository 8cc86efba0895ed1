"""The composited overlay: painter's order while an instance is selected, tiles built in the worker,
changes during a build, zoom, labels that never overlap, no scroll bars at fit."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from canvas_helpers import IMAGE_RGB, blend, image_levels, sample_dataset, square, viewport_pixel
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from annotator.core.geometry import Polygons
from annotator.core.model import Category, Dataset, Image, Instance, Source
from annotator.core.region import Crop
from annotator.core.session import BareDocument, Session, ViewStyle
from annotator.gui.canvas import compose as compose_module
from annotator.gui.canvas import overlay as canvas_overlay
from annotator.gui.canvas import prefetch as prefetch_module
from annotator.gui.canvas.compose import Dash, TileSpec, build_tile, dash_segments, make_layer
from annotator.gui.canvas.view import GESTURE_SETTLE_MS, NOTCH, WHEEL_NOTCH, WHEEL_STEP, Canvas
from annotator.gui.tools.base import ToolKind
from annotator.gui.tools.editor import Editor

LEFT, NO_KEY = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
SMALL_OVER_LARGE = blend((0, 255, 0), blend((255, 0, 0), IMAGE_RGB, 0.5), 0.5)


def close_to(actual, expected, tolerance=2):
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


@pytest.fixture
def make_canvas(qtbot):
    def make(*, labels: bool = False, size=(400, 300)) -> Canvas:
        view = Canvas(session=Session(style=ViewStyle(opacity=0.5, show_labels=labels)))
        qtbot.addWidget(view)
        view.resize(*size)
        view.show()
        return view

    return make


@pytest.fixture
def canvas(make_canvas):
    view = make_canvas()
    view.session.open(BareDocument(sample_dataset()))
    view.session.show_image(1)
    view.set_pixels(1, image_levels())
    view.zoom_1_1()
    return view


@pytest.mark.parametrize("selected", [1, 2])
def test_selecting_keeps_painters_order(canvas, selected):
    canvas.session.select(selected)
    assert canvas.selected_item is not None and canvas.selected_item.instance.id == selected
    assert close_to(viewport_pixel(canvas, 50, 50), SMALL_OVER_LARGE)
    assert close_to(viewport_pixel(canvas, 25, 25), blend((255, 0, 0), IMAGE_RGB, 0.5))
    canvas.session.select(None)
    assert canvas.selected_item is None
    assert close_to(viewport_pixel(canvas, 50, 50), SMALL_OVER_LARGE)


def test_hiding_the_selected_instance_shows_the_image(canvas):
    canvas.session.select(1)
    canvas.session.set_instance_hidden(1, True)
    assert close_to(viewport_pixel(canvas, 25, 25), IMAGE_RGB)
    canvas.session.set_instance_hidden(1, False)
    assert close_to(viewport_pixel(canvas, 25, 25), blend((255, 0, 0), IMAGE_RGB, 0.5))


def test_editing_the_selected_instance_redraws_it(canvas):
    canvas.session.select(2)
    dataset = canvas.session.dataset
    dataset.put_instances([dataset.instances[2].with_changes(geometry=square(150, 10, 170, 30))])
    assert canvas.selected_item.instance.geometry is dataset.instances[2].geometry
    assert close_to(viewport_pixel(canvas, 160, 20), blend((0, 255, 0), IMAGE_RGB, 0.5))
    assert close_to(viewport_pixel(canvas, 50, 50), blend((255, 0, 0), IMAGE_RGB, 0.5))


def test_large_tiles_are_built_in_the_worker(make_canvas, qtbot, monkeypatch):
    monkeypatch.setattr(canvas_overlay, "SYNC_WORK_PX", 0)  # everything counts as large
    view = make_canvas()
    view.session.open(BareDocument(sample_dataset()))
    view.session.show_image(1)
    view.set_pixels(1, image_levels())
    view.zoom_1_1()
    assert view.overlay.building
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    assert close_to(viewport_pixel(view, 50, 50), SMALL_OVER_LARGE)


def test_a_change_during_a_build_is_not_lost(make_canvas, qtbot, monkeypatch):
    monkeypatch.setattr(canvas_overlay, "SYNC_WORK_PX", 0)
    view = make_canvas()
    dataset = sample_dataset()
    view.session.open(BareDocument(dataset))
    view.session.show_image(1)
    view.set_pixels(1, image_levels())
    view.zoom_1_1()
    dataset.put_instances([dataset.instances[2].with_changes(geometry=square(150, 10, 170, 30))])
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    assert close_to(viewport_pixel(view, 160, 20), blend((0, 255, 0), IMAGE_RGB, 0.5))
    assert close_to(viewport_pixel(view, 50, 50), blend((255, 0, 0), IMAGE_RGB, 0.5))


def test_a_stale_build_is_dropped(make_canvas, qtbot, monkeypatch):
    monkeypatch.setattr(canvas_overlay, "SYNC_WORK_PX", 0)
    view = make_canvas()
    dataset = sample_dataset()
    dataset.put_images([Image(2, "b.png", 200, 150)])
    dataset.put_instances([Instance(7, 2, 2, square(0, 0, 30, 30), z=0)])
    view.session.open(BareDocument(dataset))
    view.session.show_image(1)
    view.set_pixels(1, image_levels())
    view.session.show_image(2)
    view.set_pixels(2, image_levels())
    view.zoom_1_1()
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    qtbot.wait(50)  # a late result for image 1 would arrive now
    assert close_to(viewport_pixel(view, 80, 80), IMAGE_RGB)  # image 1's large square is not drawn
    assert close_to(viewport_pixel(view, 10, 10), blend((0, 255, 0), IMAGE_RGB, 0.5))


@pytest.mark.parametrize("zoom", [0.7, 3.0])
def test_other_zoom_levels_blend_the_same(canvas, zoom):
    canvas.set_zoom(zoom)
    canvas.centerOn(50, 50)
    assert not canvas.overlay.building
    assert close_to(viewport_pixel(canvas, 50, 50), SMALL_OVER_LARGE)
    assert close_to(viewport_pixel(canvas, 25, 25), blend((255, 0, 0), IMAGE_RGB, 0.5))


def test_no_scroll_bars_at_fit(canvas, qtbot):
    canvas.fit()
    qtbot.wait(10)
    assert not canvas.horizontalScrollBar().isVisible() and not canvas.verticalScrollBar().isVisible()
    canvas.set_zoom(6.0)
    qtbot.waitUntil(canvas.horizontalScrollBar().isVisible)
    canvas.fit()
    qtbot.waitUntil(lambda: not canvas.horizontalScrollBar().isVisible())


def test_labels_of_overlapping_instances_do_not_collide(make_canvas):
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 200, 150)])
    dataset.put_categories([Category(1, "thing")])
    dataset.put_instances(
        [Instance(i, 1, 1, square(20 + i, 20 + i, 120, 120), z=i) for i in range(1, 9)]
        + [Instance(20, 1, 1, square(150, 100, 190, 140), z=20)]
    )
    view = make_canvas(labels=True)
    view.session.open(BareDocument(dataset))
    view.session.show_image(1)
    view.set_pixels(1, image_levels())
    view.zoom_1_1()
    labels = view.overlay.labels
    rects = [rect.translated(label.anchor * view.scale_factor) for label, rect in labels._placed]
    assert 2 <= len(rects) < 9
    assert all(not a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :])
    assert any(label.anchor.x() == 150 for label, _ in labels._placed)


def test_the_label_of_an_instance_at_the_images_top_edge_goes_inside_its_box(make_canvas):
    """Above the box it would lie outside the image, cut off at fit (seen in a real window)."""
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 200, 150)])
    dataset.put_categories([Category(1, "thing")])
    dataset.put_instances(
        [Instance(1, 1, 1, square(20, 0, 120, 60)), Instance(2, 1, 1, square(130, 50, 190, 90))]
    )
    view = make_canvas(labels=True)
    view.session.open(BareDocument(dataset))
    view.session.show_image(1)
    view.set_pixels(1, image_levels())
    placed = {label.anchor.y(): rect for label, rect in view.overlay.labels._placed}
    assert placed[0].top() == 0  # inside, below the box's top edge
    assert placed[50].bottom() == 0  # room above: above, as before


def test_dashes_follow_each_ring():
    ring = np.array([[0.0, 0.0], [30.0, 0.0], [30.0, 30.0], [0.0, 30.0]])
    segments = dash_segments([ring], 8.0, 4.0)
    lengths = np.hypot(*(segments[:, 1] - segments[:, 0]).T)
    assert abs(lengths.sum() - 120 * 8 / 12) < 1e-6
    assert np.all((segments >= 0) & (segments <= 30))
    # two rings at once: each starts its own pattern, and no segment joins one ring to the other
    small = np.array([[100.0, 100.0], [105.0, 100.0], [105.0, 105.0]])
    both = dash_segments([ring, small], 8.0, 4.0)
    assert np.allclose(both[: len(segments)], segments)
    rest = both[len(segments) :]
    assert len(rest) and np.all((rest >= 100) & (rest <= 105))
    assert np.allclose(rest[0, 0], [100.0, 100.0])


def star_layers(count: int, size: tuple[int, int]):
    """Overlapping star-shaped polygons, every other one dashed, back to front."""
    rng = np.random.default_rng(3)
    width, height = size
    layers = []
    for index in range(count):
        angles = np.sort(rng.uniform(0, 2 * np.pi, 40))
        radius = rng.uniform(10, 120) * (0.75 + 0.25 * rng.random(40))
        centre = rng.uniform(0, width), rng.uniform(0, height)
        ring = np.stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)], 1)
        source = Source.from_model("m", 0.9) if index % 2 else Source()
        instance = Instance(index + 1, 1, 1, Polygons((ring,)), z=index, source=source)
        layers.append(make_layer(instance, (200, 40 + index, 90), size, opacity=0.5))
    return layers


@pytest.mark.parametrize("scale", [0.45, 1.0, 2.3])
def test_a_tile_built_in_two_bands_is_the_tile_built_in_one(scale):
    layers = star_layers(60, (600, 500))
    assert any(layer.dash is Dash.DASH for layer in layers)
    area = (7, 5, int(600 * scale) - 3, int(500 * scale) - 1)
    spec = TileSpec(area, scale, tuple(layers), layers[30], 2.0)
    whole, patch = build_tile(spec)
    banded, banded_patch = build_tile(spec, bands=2)
    assert whole.any() and np.array_equal(whole, banded)
    assert np.array_equal(patch[1], banded_patch[1])


@pytest.mark.parametrize("scale", [0.45, 2.3])
def test_a_tile_of_many_layers_leaves_out_none_that_shows(scale, monkeypatch):
    layers = star_layers(120, (900, 700))  # past the count where the layers are picked in numpy
    area = (40, 25, int(900 * scale) - 60, int(700 * scale) - 30)
    spec = TileSpec(area, scale, tuple(layers), layers[50], 2.0)
    picked, picked_patch = build_tile(spec)
    monkeypatch.setattr(compose_module, "_reaching", lambda layers, *_: list(layers))
    every, every_patch = build_tile(spec)
    assert picked.any() and np.array_equal(picked, every)
    assert np.array_equal(picked_patch[1], every_patch[1])


def test_the_selected_instance_growing_under_another_stays_under_it(canvas):
    """Its shape changes while selected: the tile is redrawn only where its box moved, the patch of
    what lies above it only where the box grew; the picture is the one a fresh tile gives."""
    canvas.session.select(1)  # the large square, under the small one
    dataset = canvas.session.dataset
    dataset.put_instances([dataset.instances[1].with_changes(geometry=square(10, 10, 140, 120))])
    assert close_to(viewport_pixel(canvas, 50, 50), SMALL_OVER_LARGE)
    assert close_to(viewport_pixel(canvas, 120, 115), blend((255, 0, 0), IMAGE_RGB, 0.5))
    ring_over_large = blend((255, 255, 0), blend((255, 0, 0), IMAGE_RGB, 0.5), 0.5)
    assert close_to(viewport_pixel(canvas, 135, 112), ring_over_large)  # where the box grew
    shown = canvas.viewport().grab().toImage()
    canvas.overlay.refresh(wait=True)
    canvas.viewport().repaint()
    assert canvas.viewport().grab().toImage() == shown
    dataset.put_instances([dataset.instances[1].with_changes(geometry=square(30, 30, 60, 60))])
    assert close_to(viewport_pixel(canvas, 120, 115), IMAGE_RGB)
    assert close_to(viewport_pixel(canvas, 135, 112), blend((255, 255, 0), IMAGE_RGB, 0.5))
    assert close_to(viewport_pixel(canvas, 50, 50), SMALL_OVER_LARGE)


def test_zoomed_in_the_view_is_shown_before_the_margin(make_canvas, qtbot, monkeypatch):
    monkeypatch.setattr(canvas_overlay, "SYNC_WORK_PX", 0)
    view = make_canvas()
    view.session.open(BareDocument(sample_dataset()))
    view.session.show_image(1)
    view.set_pixels(1, image_levels())
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    view.set_zoom(4.0)
    view.centerOn(50, 50)
    qtbot.waitUntil(view.overlay.shows_view, timeout=10000)
    assert close_to(viewport_pixel(view, 50, 50), SMALL_OVER_LARGE)
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    seen = view.visible_scene_rect()
    tile = view.overlay.tile.scene_rect()
    assert tile.width() > seen.width() * 1.2  # the margin came after
    view.centerOn(50 + seen.width() * 0.2, 50)  # a short pan into the margin: no build needed
    assert view.overlay.covers_view()
    assert close_to(viewport_pixel(view, 25, 25), blend((255, 0, 0), IMAGE_RGB, 0.5))
    assert close_to(viewport_pixel(view, 50, 50), SMALL_OVER_LARGE)


def test_the_next_images_masks_are_decoded_ahead_and_a_changed_one_is_not_reused(make_canvas, qtbot):
    dataset = sample_dataset()
    dataset.put_images([Image(2, "b.png", 200, 150)])
    dataset.put_instances(
        [Instance(7, 2, 2, square(0, 0, 30, 30), z=0), Instance(8, 2, 1, square(100, 100, 140, 140), z=1)]
    )
    view = make_canvas()
    view.overlay.levers.prebuild = False  # the crops alone (lever 7)
    view.session.open(BareDocument(dataset))
    view.session.show_image(1)
    view.set_pixels(1, image_levels())
    view.prefetch(2)
    qtbot.waitUntil(lambda: not view.overlay.prefetcher.pending, timeout=10000)
    dataset.put_instances([dataset.instances[8].with_changes(geometry=square(150, 100, 190, 140))])
    view.session.show_image(2)
    layers = view.overlay.layers
    assert layers[7].region.decoded  # before the switch
    assert layers[8].region.geometry is dataset.instances[8].geometry  # changed since: made afresh
    view.set_pixels(2, image_levels())
    view.zoom_1_1()
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    assert close_to(viewport_pixel(view, 10, 10), blend((0, 255, 0), IMAGE_RGB, 0.5))
    assert close_to(viewport_pixel(view, 170, 120), blend((255, 0, 0), IMAGE_RGB, 0.5))
    assert close_to(viewport_pixel(view, 120, 120), IMAGE_RGB)


def _next_image_ahead(make_canvas, qtbot, monkeypatch):
    """A canvas showing image 1 that has made image 2's overlay ahead (in strips of a few rows)."""
    monkeypatch.setattr(prefetch_module, "STRIP_WORK_PX", 3000)
    dataset = sample_dataset()
    dataset.put_images([Image(2, "b.png", 200, 150)])
    dataset.put_instances(
        [
            Instance(7, 2, 2, square(0, 0, 90, 70), z=0),
            Instance(8, 2, 1, square(60, 40, 140, 140), z=1),
            Instance(9, 2, 2, square(120, 10, 190, 60), z=2),
        ]
    )
    view = make_canvas()
    view.session.open(BareDocument(dataset))
    view.session.show_image(1)
    view.set_pixels(1, image_levels())
    view.prefetch(2)
    qtbot.waitUntil(lambda: not view.overlay.prefetcher.pending, timeout=10000)
    builds = []
    real = canvas_overlay.build_tile
    monkeypatch.setattr(canvas_overlay, "build_tile", lambda *a, **k: builds.append(a[0]) or real(*a, **k))
    return view, dataset, builds


def test_the_next_images_tile_at_fit_is_made_ahead_and_shown_at_once_as_a_fresh_build_draws_it(
    make_canvas, qtbot, monkeypatch
):
    view, _, builds = _next_image_ahead(make_canvas, qtbot, monkeypatch)
    view.session.show_image(2)
    assert view.overlay.shows_view() and not view.overlay.building and builds == []
    tile = view.overlay.tile
    fresh, patch = build_tile(view.overlay.spec(tile.area, tile.scale), bands=2)
    assert np.array_equal(tile.pixels, fresh) and patch is None
    view.set_pixels(2, image_levels())
    assert close_to(viewport_pixel(view, 100, 120), blend((255, 0, 0), IMAGE_RGB, 0.5))  # instance 8 alone


@pytest.mark.parametrize("change", ["geometry", "opacity", "hidden", "zoom"])
def test_a_tile_made_ahead_is_not_used_once_what_it_shows_has_changed(
    make_canvas, qtbot, monkeypatch, change
):
    view, dataset, builds = _next_image_ahead(make_canvas, qtbot, monkeypatch)
    if change == "geometry":
        dataset.put_instances([dataset.instances[8].with_changes(geometry=square(10, 100, 60, 140))])
    elif change == "opacity":
        view.session.set_style(replace(view.session.style, opacity=0.8))
    elif change == "hidden":
        view.session.set_instance_hidden(9, True)
    else:
        view.resize(300, 300)  # another fit
    view.session.show_image(2)
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    tile = view.overlay.tile
    assert builds and builds[-1].scale == tile.scale == view.scale_factor
    assert np.array_equal(tile.pixels, build_tile(view.overlay.spec(tile.area, tile.scale))[0])


def test_closing_the_document_while_the_next_images_overlay_is_made_ahead_drops_it(make_canvas, qtbot):
    """The prefetcher was still decoding the next image's crops when the document closed: the tile it
    would plan next belongs to a document that is gone (it raised out of the event loop)."""
    dataset = sample_dataset()
    dataset.put_images([Image(2, "b.png", 200, 150)])
    dataset.put_instances([Instance(7 + i, 2, 1, square(i, i, 100 + i, 100 + i), z=i) for i in range(40)])
    view = make_canvas()
    view.session.open(BareDocument(dataset))
    view.session.show_image(1)
    view.prefetch(2)
    assert view.overlay.prefetcher.pending
    view.session.open(None)
    qtbot.waitUntil(lambda: not view.overlay.prefetcher.pending, timeout=10000)
    qtbot.wait(50)
    assert view.overlay.tile is None


def _settled_canvas_counting_builds(make_canvas, qtbot, monkeypatch, *, pixels: bool = False):
    """The sample image at fit, its tile and the next notch's made; then every tile build is recorded."""
    view = make_canvas()
    view.session.open(BareDocument(sample_dataset()))
    view.session.show_image(1)
    if pixels:
        view.set_pixels(1, image_levels())
    qtbot.waitUntil(lambda: not view.overlay.building and not view.overlay.working_ahead, timeout=10000)
    builds = []
    real = canvas_overlay.build_tile
    monkeypatch.setattr(canvas_overlay, "build_tile", lambda *a, **k: builds.append(a[0]) or real(*a, **k))
    return view, builds


@pytest.mark.parametrize("notches", [1, 2])
def test_the_tile_one_wheel_notch_in_is_made_ahead_and_shown_at_once(
    make_canvas, qtbot, monkeypatch, notches
):
    """At fit the canvas composites, while idle, the whole image at the zoom one wheel notch gives: the
    notch shows the exact picture at once (anchored anywhere), as a fresh build draws it; a second
    notch right after finds the next one not made yet and builds."""
    view, builds = _settled_canvas_counting_builds(make_canvas, qtbot, monkeypatch)
    overlay = view.overlay
    for _ in range(notches):
        view.zoom_by(WHEEL_STEP**WHEEL_NOTCH, QPointF(300, 40))
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    assert overlay.shows_view() and len(builds) == notches - 1
    tile = overlay.tile
    assert np.array_equal(tile.pixels, build_tile(overlay.spec(tile.area, tile.scale))[0])


def _wheel_notch(view: Canvas, point: QPoint) -> None:
    """One notch of a mouse wheel over `point` of the viewport, as the window system sends it."""
    QApplication.sendEvent(view.viewport(), QWheelEvent(
        QPointF(point), QPointF(view.viewport().mapToGlobal(point)), QPoint(), QPoint(0, WHEEL_NOTCH),
        Qt.MouseButton.NoButton, NO_KEY, Qt.ScrollPhase.NoScrollPhase, False,
    ))  # fmt: skip


def test_each_wheel_notch_after_a_pause_shows_the_tile_made_ahead_for_it_at_once(
    make_canvas, qtbot, monkeypatch
):
    """While idle the canvas composites what the view shows at the zoom one notch in: at fit the whole
    image, zoomed in the view's part of it. Each notch of the wheel, anchored anywhere, then shows the
    exact picture at once, as a fresh build draws it, without waiting for the wheel to settle."""
    view, builds = _settled_canvas_counting_builds(make_canvas, qtbot, monkeypatch, pixels=True)
    overlay = view.overlay
    for point in (QPoint(300, 40), QPoint(20, 280), QPoint(390, 290), QPoint(200, 150)):
        _wheel_notch(view, point)
        assert not view.in_gesture and overlay.shows_view() and builds == []
        tile = overlay.tile
        assert np.array_equal(tile.pixels, build_tile(overlay.spec(tile.area, tile.scale))[0])
        qtbot.waitUntil(lambda: not overlay.building and not overlay.working_ahead, timeout=10000)
        qtbot.wait(GESTURE_SETTLE_MS)
        assert builds == []
    whole = (0, 0, math.ceil(200 * tile.scale), math.ceil(150 * tile.scale))
    assert tile.area != whole  # the last notches showed a part of the image


def test_a_wheel_notch_right_after_another_waits_for_the_wheel_to_settle(make_canvas, qtbot, monkeypatch):
    """The second of two quick notches finds no tile made for it: the last frame is shown stretched
    until the wheel settles, then one build draws the exact picture."""
    view, builds = _settled_canvas_counting_builds(make_canvas, qtbot, monkeypatch, pixels=True)
    overlay = view.overlay
    _wheel_notch(view, QPoint(300, 40))
    _wheel_notch(view, QPoint(300, 40))
    assert view.in_gesture and builds == []
    qtbot.waitUntil(lambda: not view.in_gesture and not overlay.building, timeout=10000)
    tile = overlay.tile
    assert len(builds) == 1 and overlay.shows_view()
    assert np.array_equal(tile.pixels, build_tile(overlay.spec(tile.area, tile.scale))[0])


def test_a_zoom_other_than_a_notch_or_a_changed_instance_builds_its_tile(make_canvas, qtbot, monkeypatch):
    view, builds = _settled_canvas_counting_builds(make_canvas, qtbot, monkeypatch)
    overlay = view.overlay
    view.zoom_by(1.25)
    assert len(builds) == 1
    view.fit()
    qtbot.waitUntil(lambda: not overlay.building and not overlay.working_ahead, timeout=10000)
    dataset = view.session.dataset
    dataset.put_instances([dataset.instances[2].with_changes(geometry=square(150, 10, 170, 30))])
    builds.clear()
    view.zoom_by(WHEEL_STEP**WHEEL_NOTCH)
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    tile = overlay.tile
    assert np.array_equal(tile.pixels, build_tile(overlay.spec(tile.area, tile.scale))[0])


@pytest.mark.parametrize("in_worker", [False, True])
@pytest.mark.parametrize("change", [None, "geometry", "selection"])
def test_zooming_back_shows_the_tile_the_zoom_step_replaced_at_once(
    make_canvas, qtbot, monkeypatch, change, in_worker
):
    """In by any step and out by its inverse lands exactly on the zoom left, whose tile was kept: shown
    at once, as a fresh build draws it. A change in between (an instance, the selection) builds."""
    view, builds = _settled_canvas_counting_builds(make_canvas, qtbot, monkeypatch)
    if in_worker:
        monkeypatch.setattr(canvas_overlay, "SYNC_WORK_PX", 0)
    overlay = view.overlay
    fit = view.scale_factor
    view.zoom_by(1.1, QPointF(300, 40))  # not a notch: built
    assert overlay.building is in_worker
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    if change == "geometry":
        dataset = view.session.dataset
        dataset.put_instances([dataset.instances[2].with_changes(geometry=square(150, 10, 170, 30))])
    elif change == "selection":
        view.session.select(2)
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    builds.clear()
    view.zoom_by(1 / 1.1, QPointF(300, 40))
    assert view.scale_factor == fit
    assert (builds == [] and not overlay.building and overlay.shows_view()) is (change is None)
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    tile = overlay.tile
    assert tile.scale == fit
    assert np.array_equal(tile.pixels, build_tile(overlay.spec(tile.area, tile.scale))[0])


def test_the_zoom_keys_step_one_wheel_notch_and_back_exactly(make_canvas, qtbot, monkeypatch):
    """+ shows the tile made ahead for the next notch at once, and - the tile at fit it replaced."""
    view, builds = _settled_canvas_counting_builds(make_canvas, qtbot, monkeypatch)
    fit = view.scale_factor
    view.zoom_by(NOTCH)  # what the + key does
    assert builds == [] and view.overlay.shows_view()
    view.zoom_by(1 / NOTCH)  # and -
    assert view.scale_factor == fit and builds == [] and view.overlay.shows_view()


def test_a_step_back_to_the_image_just_left_shows_its_tile_at_once(make_canvas, qtbot, monkeypatch):
    """D then A: the tile of the image left (the whole image at fit, exact) was kept, so going back
    composites nothing; once an instance of it changed, going back builds."""
    view, dataset, builds = _next_image_ahead(make_canvas, qtbot, monkeypatch)
    overlay = view.overlay
    view.session.show_image(2)
    qtbot.waitUntil(lambda: not overlay.building and not overlay.working_ahead, timeout=10000)
    builds.clear()
    view.session.show_image(1)
    assert overlay.shows_view() and builds == []
    tile = overlay.tile
    assert np.array_equal(tile.pixels, build_tile(overlay.spec(tile.area, tile.scale))[0])
    qtbot.waitUntil(lambda: not overlay.building and not overlay.working_ahead, timeout=10000)
    view.session.show_image(2)
    dataset.put_instances([dataset.instances[1].with_changes(geometry=square(100, 80, 160, 140))])
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    builds.clear()
    view.session.show_image(1)
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    tile = overlay.tile
    assert len(builds) == 1 and np.array_equal(
        tile.pixels, build_tile(overlay.spec(tile.area, tile.scale))[0]
    )


def test_work_made_ahead_goes_on_after_a_build_interrupts_it(make_canvas, qtbot, monkeypatch):
    """The notch's tile is made in many strips; a build (in the worker) starting halfway pauses them, and
    they go on once it lands: the next image's tile, which waits for them, is made too."""
    monkeypatch.setattr(prefetch_module, "STRIP_WORK_PX", 300)
    monkeypatch.setattr(canvas_overlay, "SYNC_WORK_PX", 0)  # every build in the worker
    dataset = sample_dataset()
    dataset.put_images([Image(2, "b.png", 200, 150)])
    dataset.put_instances([Instance(7, 2, 1, square(10, 10, 150, 120), z=0)])
    view = make_canvas()
    view.session.open(BareDocument(dataset))
    view.session.show_image(1)
    overlay = view.overlay
    qtbot.waitUntil(lambda: overlay.zoom_ahead.pending, timeout=10000)
    view.prefetch(2)
    overlay.refresh()  # a build while the strips are under way
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    qtbot.waitUntil(lambda: not overlay.working_ahead, timeout=10000)
    view.zoom_by(WHEEL_STEP**WHEEL_NOTCH)
    assert overlay.shows_view() and not overlay.building


def _shown_with_builds_in_worker(make_canvas, monkeypatch, **levers) -> Canvas:
    """The sample image shown with every build in the worker, as a large one's (a small one is built on
    the GUI thread at once, tile made ahead or not), these overlay levers set."""
    monkeypatch.setattr(canvas_overlay, "SYNC_WORK_PX", 0)
    view = make_canvas()
    for lever, on in levers.items():
        setattr(view.overlay.levers, lever, on)
    view.session.open(BareDocument(sample_dataset()))
    view.session.show_image(1)
    return view


def _assert_as_a_fresh_build(overlay) -> None:
    """The tile shown and its patch are what building them afresh for the view gives."""
    tile, patch = overlay.tile, overlay.patch.tile
    fresh, fresh_patch = build_tile(overlay.spec(tile.area, tile.scale))
    assert np.array_equal(tile.pixels, fresh)
    assert (patch is None) == (fresh_patch is None)
    assert patch is None or (patch.area == fresh_patch[0] and np.array_equal(patch.pixels, fresh_patch[1]))


@pytest.mark.parametrize("made_ahead", [True, False])
@pytest.mark.parametrize("where", [(0, 0), (1, 1), (1, 0), (0.5, 0.5)])
def test_zoomed_in_a_notch_out_shows_the_exact_picture_at_once_wherever_the_pointer_is(
    make_canvas, qtbot, monkeypatch, made_ahead, where
):
    """Zoomed in, the tile a wheel notch out gives is made while idle (a tile of the view and around it),
    so the notch out to a zoom no tile was kept for shows its exact picture at once, anchored anywhere;
    else it is built. At fit nothing is made for it: the whole image shows already."""
    view = _shown_with_builds_in_worker(make_canvas, monkeypatch, zoom_out_ahead=made_ahead)
    overlay = view.overlay
    qtbot.waitUntil(lambda: not overlay.building and not overlay.working_ahead, timeout=10000)
    assert overlay.zoom_out_ahead.spec is None  # at fit
    view.set_zoom(6.0)
    view.centerOn(90, 70)
    qtbot.waitUntil(lambda: not overlay.building and not overlay.working_ahead, timeout=10000)
    last = view.viewport().rect().bottomRight()  # the pointer over the viewport, from corner to corner
    view.zoom_by(1 / NOTCH, QPointF(where[0] * last.x(), where[1] * last.y()))
    assert overlay.shows_view() != overlay.building
    assert overlay.shows_view() == made_ahead
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    _assert_as_a_fresh_build(overlay)


@pytest.mark.parametrize("out", [False, True])
def test_with_an_instance_selected_a_notch_shows_the_exact_picture_and_patch_at_once(
    make_canvas, qtbot, monkeypatch, out
):
    """Selecting an instance is how an edit starts, and a wheel notch often follows: the notch's tile is
    made ahead with the selection too (the selected instance left out of it, what lies above it in its
    patch), and shown at once, as a fresh build would draw both."""
    view = _shown_with_builds_in_worker(make_canvas, monkeypatch)
    overlay = view.overlay
    view.set_zoom(3.0)
    view.centerOn(50, 50)
    view.session.select(1)  # the large square, below the small one: its patch holds the small one
    qtbot.waitUntil(lambda: not overlay.building and not overlay.working_ahead, timeout=10000)
    made = (overlay.zoom_out_ahead if out else overlay.zoom_ahead).spec
    assert made is not None and made.selected is not None
    view.zoom_by(1 / NOTCH if out else NOTCH, QPointF(120, 90))
    assert overlay.shows_view() and not overlay.building
    assert overlay.patch.tile is not None  # the small square, above the selected one
    _assert_as_a_fresh_build(overlay)


@pytest.mark.parametrize("made_ahead", [True, False])
@pytest.mark.parametrize("selected", [None, 1])
def test_zoomed_in_fit_shows_the_exact_picture_at_once(make_canvas, qtbot, monkeypatch, made_ahead, selected):
    """Zoomed in, the tile at fit is made while idle too (with a selection's patch), so F after a close
    look shows the whole image's exact picture at once; else it is built."""
    view = _shown_with_builds_in_worker(make_canvas, monkeypatch, fit_ahead=made_ahead)
    overlay = view.overlay
    qtbot.waitUntil(lambda: not overlay.building and not overlay.working_ahead, timeout=10000)
    assert overlay.fit_ahead.spec is None  # at fit
    view.set_zoom(4.0)
    view.set_zoom(8.0)  # the tile at fit is not the zoom just left
    view.session.select(selected)
    qtbot.waitUntil(lambda: not overlay.building and not overlay.working_ahead, timeout=10000)
    view.fit()
    assert overlay.shows_view() == made_ahead != overlay.building
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    _assert_as_a_fresh_build(overlay)


def test_work_made_ahead_waits_while_the_person_drags(make_canvas, qtbot):
    """A drag (a stroke, a pan) started right after the image showed: the next notch's tile is not
    composited beside it, and is once the person has let go for a moment."""
    view = make_canvas()
    view.session.open(BareDocument(sample_dataset()))
    view.session.show_image(1)
    overlay, viewport = view.overlay, view.viewport()
    QTest.mousePress(viewport, LEFT, NO_KEY, QPoint(20, 20))
    for step in range(12):
        QTest.mouseMove(viewport, QPoint(20 + step, 20))
        qtbot.wait(50)
        assert overlay.zoom_ahead.spec is None
    QTest.mouseRelease(viewport, LEFT, NO_KEY, QPoint(31, 20))
    qtbot.waitUntil(lambda: not overlay.working_ahead, timeout=10000)
    assert overlay.zoom_ahead.spec is not None and overlay.zoom_ahead.spec.scale == view.notch_scale()


def test_a_small_edits_thin_strips_are_composited_once_as_a_fresh_tile_draws_them(canvas, qtbot, monkeypatch):
    """A small change of the selected instance's box gives thin strips on every side (where it moved,
    and the edges only one box has): on the GUI thread they are composited as one rectangle bounding
    them (each rectangle costs every layer reaching it), and the tile is the one a fresh build gives."""
    overlay = canvas.overlay
    canvas.session.select(1)
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    rendered = []
    real = canvas_overlay.render_base_exact
    monkeypatch.setattr(
        canvas_overlay, "render_base_exact", lambda *a, **k: rendered.append(a[1]) or real(*a, **k)
    )
    dataset = canvas.session.dataset
    dataset.put_instances([dataset.instances[1].with_changes(geometry=square(12, 11, 122, 99))])
    assert len(rendered) == 1 and not overlay.building
    tile = overlay.tile
    fresh, fresh_patch = build_tile(overlay.spec(tile.area, tile.scale))
    assert np.array_equal(tile.pixels, fresh)
    assert fresh_patch is not None and np.array_equal(overlay.patch.tile.pixels, fresh_patch[1])


def test_a_large_edits_strips_come_from_the_worker_and_end_as_a_fresh_tile(canvas, qtbot, monkeypatch):
    """Zoomed in on a large instance, the strips where its box moved are composited in the worker:
    the edit returns before them, and once they land (after more edits meanwhile, and a change of
    another instance) the picture is the one a freshly built tile gives."""
    monkeypatch.setattr(canvas_overlay, "SYNC_STRIP_PX", 0)
    overlay = canvas.overlay
    canvas.session.select(1)  # the large square, under the small one
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    dataset = canvas.session.dataset
    dataset.put_instances([dataset.instances[1].with_changes(geometry=square(10, 10, 140, 120))])
    assert overlay.building  # the strips are still to come
    dataset.put_instances([dataset.instances[1].with_changes(geometry=square(5, 20, 150, 125))])
    dataset.put_instances([dataset.instances[2].with_changes(geometry=square(45, 40, 65, 62))])
    dataset.put_instances([dataset.instances[1].with_changes(geometry=square(10, 15, 145, 118))])
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    canvas.viewport().repaint()
    shown = canvas.viewport().grab().toImage()
    tile, patch = overlay.tile, overlay.patch.tile
    fresh, fresh_patch = build_tile(overlay.spec(tile.area, tile.scale))
    assert np.array_equal(tile.pixels, fresh)
    assert fresh_patch is not None and patch.area == fresh_patch[0]
    assert np.array_equal(patch.pixels, fresh_patch[1])
    ring_over_large = blend((255, 255, 0), blend((255, 0, 0), IMAGE_RGB, 0.5), 0.5)
    assert close_to(viewport_pixel(canvas, 140, 112), ring_over_large)  # where the box grew
    assert close_to(viewport_pixel(canvas, 50, 50), SMALL_OVER_LARGE)
    overlay.refresh(wait=True)
    canvas.viewport().repaint()
    assert canvas.viewport().grab().toImage() == shown


def test_a_large_edits_strips_start_after_the_frame_it_asked_for(canvas, qtbot, monkeypatch):
    """The strips' threads would share the cores and the GIL with the frame the edit asked for (a brush
    release took 2 ms longer): they start once that frame is painted."""
    from PySide6.QtCore import QEvent, QObject

    monkeypatch.setattr(canvas_overlay, "SYNC_STRIP_PX", 0)
    overlay = canvas.overlay
    canvas.session.select(1)
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    events: list[str] = []
    worker = overlay.strips._worker
    submit = worker.submit
    monkeypatch.setattr(worker, "submit", lambda *a, **k: events.append("strips") or submit(*a, **k))

    class Frames(QObject):
        def eventFilter(self, watched, event) -> bool:
            if event.type() == QEvent.Type.Paint:
                events.append("frame")
            return False

    frames = Frames()
    canvas.viewport().installEventFilter(frames)
    dataset = canvas.session.dataset
    dataset.put_instances([dataset.instances[1].with_changes(geometry=square(10, 10, 140, 120))])
    assert overlay.building and events == []  # to come, and nothing started while the edit ran
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    assert events[:2] == ["frame", "strips"]
    canvas.viewport().removeEventFilter(frames)


def test_a_large_change_during_a_build_starts_it_again_and_ends_exact(make_canvas, qtbot, monkeypatch):
    """A large change is never recomposited on the GUI thread: with no build in flight its boxes go
    to the worker, with one in flight (which took its layers before the change) the build starts
    again; either way the tile ends as a fresh one."""
    monkeypatch.setattr(canvas_overlay, "SYNC_STRIP_PX", 0)
    monkeypatch.setattr(canvas_overlay, "SYNC_WORK_PX", 0)
    view = make_canvas()
    view.session.open(BareDocument(sample_dataset()))
    view.session.show_image(1)
    view.set_pixels(1, image_levels())
    overlay = view.overlay
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    dataset = view.session.dataset
    dataset.put_instances([dataset.instances[1].with_changes(geometry=square(20, 10, 120, 115))])
    assert overlay.building and overlay.strips.pending
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    view.set_zoom(2.0)
    assert overlay._pending is not None  # a build in flight
    dataset.put_instances([dataset.instances[2].with_changes(geometry=square(45, 45, 80, 70))])
    qtbot.waitUntil(lambda: not overlay.building, timeout=10000)
    tile = overlay.tile
    assert tile.scale == 2.0
    assert np.array_equal(tile.pixels, build_tile(overlay.spec(tile.area, tile.scale))[0])
    assert close_to(viewport_pixel(view, 75, 65), blend((0, 255, 0), blend((255, 0, 0), IMAGE_RGB, 0.5), 0.5))


def crossing_dataset() -> Dataset:
    """A large square over 40 star-shaped polygons whose outlines cross its edges (and three small
    squares over it): what lies below the square is drawn in the tile clipped at its box."""
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 600, 450)])
    dataset.put_categories([Category(1, "thing"), Category(2, "other")])
    rng = np.random.default_rng(5)
    instances = []
    for index in range(40):
        angles = np.sort(rng.uniform(0, 2 * np.pi, 30))
        radius = rng.uniform(30, 110) * (0.75 + 0.25 * rng.random(30))
        centre = rng.uniform(100, 500), rng.uniform(80, 380)
        ring = np.stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)], 1)
        source = Source.from_model("m", 0.9) if index % 2 else Source()
        instances.append(Instance(index + 1, 1, 1 + index % 2, Polygons((ring,)), z=index, source=source))
    instances.append(Instance(100, 1, 2, square(150.3, 140.6, 430.2, 330.4), z=100))
    for index, (x, y) in enumerate([(140, 200), (300, 125), (420, 280)]):
        instances.append(Instance(200 + index, 1, 1, square(x, y, x + 40, y + 30), z=200 + index))
    dataset.put_instances(instances)
    return dataset


def assert_fresh(overlay) -> None:
    """The tile and the patch shown are, to the pixel, those a freshly built tile of the view has."""
    tile, patch = overlay.tile, overlay.patch.tile
    fresh, fresh_patch = build_tile(overlay.spec(tile.area, tile.scale))
    wrong = np.argwhere(np.any(tile.pixels != fresh, axis=2))
    assert not len(wrong), f"{len(wrong)} tile pixels differ, (row, column) from {wrong[:3].tolist()}"
    assert (patch is None) == (fresh_patch is None)
    if patch is not None:
        assert patch.area == fresh_patch[0]
        assert np.array_equal(patch.pixels, fresh_patch[1])


def crossing_canvas(make_canvas, qtbot, monkeypatch, strip_px, *, strip_layers=10**9):
    """The crossing dataset at fit with its labels shown, the large square selected with a click;
    strip_px 0: every edit's strips go to the worker (None: the app's area threshold, here on the GUI);
    `strip_layers`: the most layers strips may meet on the GUI thread (by default any number)."""
    if strip_px is not None:
        monkeypatch.setattr(canvas_overlay, "SYNC_STRIP_PX", strip_px)
    monkeypatch.setattr(canvas_overlay, "SYNC_STRIP_LAYERS", strip_layers)
    view = make_canvas(labels=True, size=(470, 360))
    view.session.open(BareDocument(crossing_dataset()))
    view.session.show_image(1)
    view.set_pixels(1, image_levels())
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    editor = Editor(view.session, view)
    editor.set_tool(ToolKind.SELECT)
    QTest.mouseClick(view.viewport(), LEFT, NO_KEY, at(view, 250, 260))  # the large square
    assert view.session.selected_id == 100
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    assert_fresh(view.overlay)
    return view, editor


def at(view, x: float, y: float) -> QPoint:
    return view.mapFromScene(QPointF(x, y))


def test_strips_that_meet_many_layers_come_from_the_worker(make_canvas, qtbot, monkeypatch):
    """A small move of the selected square's box at fit: its strips cover few pixels but meet many of
    the stars below it, each costing its fill, outline and dashes (a vertex drag's release at fit held
    the GUI thread 8-12 ms for 10-18 layers): the edit returns before them, and the tile ends fresh."""
    view, _editor = crossing_canvas(
        make_canvas, qtbot, monkeypatch, None, strip_layers=canvas_overlay.SYNC_STRIP_LAYERS
    )
    dataset = view.session.dataset
    ring = dataset.instances[100].geometry.rings[0].copy()
    ring[ring[:, 0] > 400, 0] += 6  # the right edge moves out a little
    rendered = []
    real = canvas_overlay.render_base_exact
    monkeypatch.setattr(
        canvas_overlay, "render_base_exact", lambda *a, **k: rendered.append(a[1]) or real(*a, **k)
    )
    dataset.put_instances([dataset.instances[100].with_changes(geometry=Polygons((ring,)))])
    assert not rendered and view.overlay.building  # the strips are to come
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    assert_fresh(view.overlay)


@pytest.mark.parametrize("strip_px", [0, None], ids=["worker", "gui"])
def test_a_brush_stroke_leaving_the_box_ends_as_a_fresh_tile(make_canvas, qtbot, monkeypatch, strip_px):
    """Below the selected instance the tile is drawn clipped at its box, and an antialiased line
    comes out differently near where it is clipped: when the box moves, its old edges inside the new
    box (and its new edges inside the old) are drawn again too, not only where it moved."""
    view, editor = crossing_canvas(make_canvas, qtbot, monkeypatch, strip_px)
    editor.set_tool(ToolKind.BRUSH)
    editor.set_brush_radius(8)
    points = [(200 + 3.0 * k, 150 - 4.0 * k) for k in range(30)]  # up and out of its box
    QTest.mousePress(view.viewport(), LEFT, NO_KEY, at(view, *points[0]))
    for point in points[1:]:
        QTest.mouseMove(view.viewport(), at(view, *point))
    QTest.mouseRelease(view.viewport(), LEFT, NO_KEY, at(view, *points[-1]))
    assert view.session.dataset.instances[100].geometry.bbox(450, 600)[1] < 140  # the box grew upwards
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    assert_fresh(view.overlay)


@pytest.mark.parametrize("strip_px", [0, None], ids=["worker", "gui"])
def test_a_selection_change_ends_as_a_fresh_tile(make_canvas, qtbot, monkeypatch, strip_px):
    """A box redrawn when the selection changes is drawn as the whole tile draws it: lines crossing
    its edges are not clipped there, on the GUI thread as in the worker."""
    view, editor = crossing_canvas(make_canvas, qtbot, monkeypatch, strip_px)
    QTest.mouseClick(view.viewport(), LEFT, NO_KEY, at(view, 160, 215))  # a small square over it
    assert view.session.selected_id == 200
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    assert_fresh(view.overlay)
    QTest.mouseClick(view.viewport(), LEFT, NO_KEY, at(view, 590, 440))  # nothing there
    assert view.session.selected_id is None
    qtbot.waitUntil(lambda: not view.overlay.building, timeout=10000)
    assert_fresh(view.overlay)


@pytest.mark.parametrize("scale", [0.332, 0.45, 1.0, 1.7, 3.0])
def test_each_device_pixel_shows_the_mask_cell_under_its_centre(scale):
    """The module's rule: pixel i of a tile at origin g shows cell floor((g + i + 0.5) / scale)."""
    rng = np.random.default_rng(7)
    for _ in range(50):
        gx, gy = (int(v) for v in rng.integers(0, 400, 2))
        width, height = (int(v) for v in rng.integers(1, 300, 2))
        grid = compose_module._Grid(gx, gy, width, height, scale)
        shape = tuple(int(v) for v in rng.integers(1, 200, 2))
        crop = Crop(int(rng.integers(0, 500)), int(rng.integers(0, 500)), np.ones(shape, np.uint8))
        expected = np.zeros((height, width), bool)
        for i in range(width):
            for j in range(height):
                column, row = math.floor((gx + i + 0.5) / scale), math.floor((gy + j + 0.5) / scale)
                expected[j, i] = 0 <= column - crop.x0 < shape[1] and 0 <= row - crop.y0 < shape[0]
        found = grid.sample(crop)
        if found is None:
            assert not expected.any()
            continue
        r0, c0, rows, columns = found
        rows = np.arange(shape[0])[rows]
        columns = np.arange(shape[1])[columns]
        drawn = np.zeros((height, width), bool)
        drawn[r0 : r0 + len(rows), c0 : c0 + len(columns)] = True
        assert np.array_equal(drawn, expected)
        assert np.array_equal(
            rows, [math.floor((gy + r0 + k + 0.5) / scale) - crop.y0 for k in range(len(rows))]
        )
        assert np.array_equal(
            columns, [math.floor((gx + c0 + k + 0.5) / scale) - crop.x0 for k in range(len(columns))]
        )
