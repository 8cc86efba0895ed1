"""The canvas draws what the dataset says, back to front: read the pixels a user would see."""

from __future__ import annotations

import numpy as np
import pytest
from canvas_helpers import (
    IMAGE_RGB,
    blend,
    image_levels,
    ring_mask,
    sample_dataset,
    square,
    viewport_pixel,
)

from annotator.core.geometry import to_mask_array
from annotator.core.model import Instance
from annotator.gui.canvas.items import CanvasStyle
from annotator.gui.canvas.render import fill_mask
from annotator.gui.canvas.view import Canvas


@pytest.fixture
def canvas(qtbot):
    view = Canvas(style=CanvasStyle(opacity=0.5, show_labels=False))
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    dataset = sample_dataset()
    view.set_dataset(dataset)
    view.show_image(1, image_levels())
    view.zoom_1_1()
    return view


def close_to(actual, expected, tolerance=2):
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def test_blend_is_alpha_fill_over_image(canvas):
    # Inside the large square only: alpha * red + (1 - alpha) * image.
    assert close_to(viewport_pixel(canvas, 25, 25), blend((255, 0, 0), IMAGE_RGB, 0.5))


def test_small_instance_over_large_keeps_its_own_colour(canvas):
    under_small = viewport_pixel(canvas, 50, 50)
    expected = blend((0, 255, 0), blend((255, 0, 0), IMAGE_RGB, 0.5), 0.5)
    assert close_to(under_small, expected)


def test_opacity_slider_changes_the_blend(canvas):
    canvas.set_style(CanvasStyle(opacity=0.8, show_labels=False))
    assert close_to(viewport_pixel(canvas, 25, 25), blend((255, 0, 0), IMAGE_RGB, 0.8))


@pytest.mark.parametrize("how", ["instance", "class", "all"])
def test_hiding_restores_the_image(canvas, how):
    if how == "instance":
        canvas.set_instance_visible(1, False)
    elif how == "class":
        canvas.set_category_visible(1, False)
    else:
        canvas.set_all_hidden(True)
    assert close_to(viewport_pixel(canvas, 25, 25), IMAGE_RGB)
    canvas.set_all_hidden(False)
    canvas.set_instance_visible(1, True)
    canvas.set_category_visible(1, True)
    assert close_to(viewport_pixel(canvas, 25, 25), blend((255, 0, 0), IMAGE_RGB, 0.5))


def test_bring_to_front_changes_the_pixel_and_the_dataset(canvas):
    canvas.bring_to_front([1])
    assert canvas.dataset.instances[1].z > canvas.dataset.instances[2].z
    expected = blend((255, 0, 0), blend((0, 255, 0), IMAGE_RGB, 0.5), 0.5)
    assert close_to(viewport_pixel(canvas, 50, 50), expected)
    canvas.send_to_back([1])
    expected = blend((0, 255, 0), blend((255, 0, 0), IMAGE_RGB, 0.5), 0.5)
    assert close_to(viewport_pixel(canvas, 50, 50), expected)


def test_a_hole_shows_the_image(canvas):
    assert close_to(viewport_pixel(canvas, 160, 100), IMAGE_RGB)
    assert close_to(viewport_pixel(canvas, 135, 100), blend((255, 255, 0), IMAGE_RGB, 0.5))


def test_dataset_changes_reach_the_canvas(canvas):
    dataset = canvas.dataset
    moved = dataset.instances[2].with_changes(geometry=square(150, 10, 170, 30))
    dataset.put_instances([moved])
    assert close_to(viewport_pixel(canvas, 160, 20), blend((0, 255, 0), IMAGE_RGB, 0.5))
    dataset.drop_instances([1])
    assert close_to(viewport_pixel(canvas, 25, 25), IMAGE_RGB)
    dataset.put_instances([Instance(9, 1, 1, square(0, 120, 20, 140), z=5)])
    assert close_to(viewport_pixel(canvas, 10, 130), blend((255, 0, 0), IMAGE_RGB, 0.5))


def test_hover_and_selection_find_the_front_instance(canvas, qtbot):
    assert canvas.instance_at(canvas.mapToScene(canvas.mapFromScene(50.5, 50.5))) == 2
    assert canvas.instance_at(canvas.mapToScene(canvas.mapFromScene(160.5, 100.5))) is None
    with qtbot.waitSignal(canvas.selection_changed):
        canvas.select(3)
    assert canvas.selected_id == 3


def test_polygon_fill_is_what_pycocotools_exports():
    rng = np.random.default_rng(3)
    for _ in range(30):
        n = int(rng.integers(3, 40))
        centre, radius = rng.uniform(-20, 220, 2), rng.uniform(2, 80)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        ring = np.stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)], 1)
        from annotator.core.geometry import Polygons

        polygons = Polygons((ring, ring[::-1] + 7.3))
        full = to_mask_array(polygons, 150, 200)
        fill = fill_mask(polygons, 150, 200)
        rebuilt = np.zeros_like(full)
        h, w = fill.mask.shape
        rebuilt[fill.y0 : fill.y0 + h, fill.x0 : fill.x0 + w] = fill.mask
        assert np.array_equal(rebuilt, full)


def test_mask_fill_keeps_holes():
    fill = fill_mask(ring_mask(100, 75, 20, 5), 150, 200)
    assert fill.mask[20, 20] == 0 and fill.mask[2, 2] == 1
