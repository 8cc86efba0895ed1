"""Zoomed out, what a tile draws is made for the tile's resolution (docs/decisions/0020, levers 21, 22):
a polygon's fill is rasterised from its vertices (no mask crop is decoded), differing from the sampled
mask only along the outline and unioning its rings as pycocotools does; a mask's traced outline is
stroked straightened to within half a device pixel. From 1:1 in, the exported mask's own pixels and
its outline as traced are drawn."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from canvas_helpers import IMAGE_RGB, blend, image_levels, square, viewport_pixel
from test_canvas_overlay import make_canvas, star_layers  # noqa: F401 - a fixture

from annotator.core.geometry import Mask, Polygons
from annotator.core.model import Category, Dataset, Image, Instance
from annotator.core.session import BareDocument
from annotator.gui.canvas import compose as compose_module
from annotator.gui.canvas.compose import TileSpec, build_tile, drawn_rings, make_layer


def built_both_ways(spec: TileSpec, monkeypatch) -> tuple[np.ndarray, np.ndarray]:
    """The tile as built (fills from vertices), and with every fill sampled from the mask's crop."""
    from_vertices = build_tile(spec)[0]
    with monkeypatch.context() as patched:
        patched.setattr(compose_module, "VERTEX_FILL_BELOW", 0.0)
        from_crops = build_tile(spec)[0]
    return from_vertices, from_crops


@pytest.mark.parametrize("scale", [0.2, 0.332, 0.45, 0.9])
def test_zoomed_out_the_fill_differs_from_the_sampled_mask_only_along_the_outlines(scale, monkeypatch):
    layers = star_layers(60, (600, 500))
    spec = TileSpec((0, 0, int(600 * scale), int(500 * scale)), scale, tuple(layers), None, 2.0)
    from_vertices, from_crops = built_both_ways(spec, monkeypatch)
    differs = (from_vertices != from_crops).any(axis=2)
    assert differs.any()  # the two ways are not the same code path by accident
    near_an_outline = np.zeros(differs.shape, np.uint8)
    for layer in layers:
        rings = [np.round((ring * scale - 0.5) * 8).astype(np.int32) for ring in layer.rings]
        cv2.polylines(near_an_outline, rings, True, 1, 3, cv2.LINE_8, shift=3)  # one pixel either side
    assert not (differs & ~near_an_outline.astype(bool)).any()


def test_zoomed_out_overlapping_rings_are_filled_as_their_union():
    polygons = Polygons((*square(10, 10, 110, 110).rings, *square(60, 60, 160, 160).rings))
    layer = make_layer(Instance(1, 1, 1, polygons), (0, 200, 0), (200, 200), opacity=1.0)
    tile = build_tile(TileSpec((0, 0, 100, 100), 0.5, (layer,), None, 1.0))[0]
    inside_both, inside_one, outside = tile[42, 42], tile[20, 20], tile[95, 5]
    assert tuple(inside_both) == tuple(inside_one) == (0, 200, 0, 255)
    assert not outside.any()


def test_zoomed_out_nothing_is_filled_beyond_the_images_edge(monkeypatch):
    beyond = Polygons((np.array([[150.0, 20.0], [400.0, 20.0], [400.0, 90.0], [150.0, 90.0]]),))
    layer = make_layer(Instance(1, 1, 1, beyond), (0, 200, 0), (200, 100), opacity=1.0)
    spec = TileSpec((0, 0, 151, 76), 0.7525, (layer,), None, 1.0)  # 200 x 0.7525 = 150.5 columns
    tile, sampled = built_both_ways(spec, monkeypatch)
    assert tile[40, 149].any() and not tile[40, 150].any()  # column 150's centre is cell 200: none
    assert np.array_equal(tile[:, 150], sampled[:, 150])


def large_image_dataset() -> Dataset:
    """A 2000x1500 image: a polygon, a mask and a polygon nearly as large as the image (under the
    others), shown at fit in a 400x300 view (scale 0.2)."""
    dataset = Dataset()
    dataset.put_images([Image(1, "large.png", 2000, 1500)])
    dataset.put_categories([Category(1, "road", color=(255, 0, 0)), Category(2, "car", color=(0, 255, 0))])
    dataset.put_categories([Category(3, "field", color=(0, 0, 255))])
    pixels = np.zeros((1500, 2000), np.uint8)
    pixels[900:1400, 1200:1900] = 1
    dataset.put_instances(
        [
            Instance(1, 1, 1, square(100, 100, 900, 700), z=0),
            Instance(2, 1, 2, Mask.from_array(pixels), z=1),
            Instance(3, 1, 3, square(20, 20, 1980, 1480), z=-1),
        ]
    )
    return dataset


def test_a_switch_at_fit_decodes_no_polygons_mask_and_the_polygon_is_filled(make_canvas, qtbot):  # noqa: F811
    view = make_canvas()
    view.session.open(BareDocument(large_image_dataset()))
    view.session.show_image(1)
    view.set_pixels(1, image_levels(size=(2000, 1500)))
    qtbot.waitUntil(lambda: view.overlay.shows_view() and not view.overlay.building, timeout=10000)
    assert view.scale_factor < 0.25
    layers = view.overlay.layers
    assert not layers[1].region.decoded  # the polygon: filled from its vertices
    assert layers[2].region.decoded  # the mask: sampled from its crop
    # the polygon too large to decode at a click without a stutter: decoded while idle, for a selection
    qtbot.waitUntil(lambda: layers[3].region.decoded, timeout=10000)
    assert not layers[1].region.decoded
    field = blend((0, 0, 255), IMAGE_RGB, 0.5)
    assert viewport_pixel(view, 500, 400) == pytest.approx(blend((255, 0, 0), field, 0.5), abs=2)
    assert viewport_pixel(view, 1500, 1100) == pytest.approx(blend((0, 255, 0), field, 0.5), abs=2)
    assert viewport_pixel(view, 1000, 800) == pytest.approx(field, abs=2)
    assert viewport_pixel(view, 5, 5) == pytest.approx(IMAGE_RGB, abs=2)
    view.zoom_1_1()  # from 1:1 in, the exported mask's own pixels: the crop is decoded
    qtbot.waitUntil(lambda: view.overlay.shows_view() and not view.overlay.building, timeout=10000)
    view.centerOn(500, 400)
    qtbot.waitUntil(lambda: view.overlay.shows_view() and not view.overlay.building, timeout=10000)
    assert layers[1].region.decoded
    assert viewport_pixel(view, 500, 400) == pytest.approx(blend((255, 0, 0), field, 0.5), abs=2)


def star_masks(count: int, size: tuple[int, int]):
    """`star_layers` as RLE masks (pre-labelling's output): outlines traced along pixel edges."""
    width, height = size
    masks = []
    for layer in star_layers(count, size):
        instance = Instance(
            layer.instance_id, 1, 1, Mask(layer.geometry.to_rle(height, width)), z=layer.key[0]
        )
        masks.append(make_layer(instance, layer.color, size, opacity=0.5))
    return masks


@pytest.mark.parametrize("scale", [0.2, 0.332, 0.45, 0.9])
def test_zoomed_out_a_masks_outline_is_straightened_within_half_a_device_pixel(scale):
    for layer in star_masks(12, (600, 500)):
        traced, drawn = layer.rings, drawn_rings(layer, scale)
        assert len(drawn) == len(traced)
        assert sum(map(len, drawn)) < sum(map(len, traced))  # fewer vertices to stroke
        for exact, straight in zip(traced, drawn, strict=True):
            kept = {tuple(point) for point in exact}
            assert all(tuple(point) in kept for point in straight)  # corners of the staircase, unmoved
            contour = straight.astype(np.float32).reshape(-1, 1, 2)
            farthest = max(abs(cv2.pointPolygonTest(contour, tuple(map(float, p)), True)) for p in exact)
            assert farthest * scale <= 0.5 + 1e-6


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_from_one_to_one_in_a_masks_outline_is_drawn_as_traced(scale):
    for layer in star_masks(5, (600, 500)):
        assert drawn_rings(layer, scale) is layer.rings


def test_zoomed_out_a_tile_of_masks_differs_from_the_traced_outlines_only_along_them(monkeypatch):
    scale = 0.332
    layers = star_masks(60, (600, 500))
    spec = TileSpec((0, 0, int(600 * scale), int(500 * scale)), scale, tuple(layers), None, 2.0)
    straightened = build_tile(spec)[0]
    with monkeypatch.context() as patched:
        patched.setattr(compose_module, "STRAIGHTEN_BELOW", 0.0)
        traced = build_tile(spec)[0]
    differs = (straightened != traced).any(axis=2)
    assert differs.any()
    outlines = np.full(differs.shape, 255, np.uint8)
    for layer in layers:
        rings = [np.round((ring * scale - 0.5) * 8).astype(np.int32) for ring in layer.rings]
        cv2.polylines(outlines, rings, True, 0, 1, cv2.LINE_8, shift=3)
    # a 2 px antialiased line moved by at most half a pixel: its pixels within 2.5 px of the traced one
    assert cv2.distanceTransform(outlines, cv2.DIST_L2, 5)[differs].max() <= 2.5
