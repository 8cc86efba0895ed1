"""One geometry object derives everything: pixels as pycocotools exports them, outlines that rasterise
back to the same pixels, area computed once."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from annotator.core import region as region_module
from annotator.core.geometry import GeometryError, Mask, Polygons, Rle, area, mask_to_polygons, to_mask_array
from annotator.core.region import Region, changed_box


def _blob(rng, centre, radius) -> np.ndarray:
    n = int(rng.integers(3, 40))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    return np.stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)], 1)


def _paste(crop, height, width) -> np.ndarray:
    full = np.zeros((height, width), np.uint8)
    h, w = crop.mask.shape
    full[crop.y0 : crop.y0 + h, crop.x0 : crop.x0 + w] = crop.mask
    return full


def test_polygon_crop_is_what_pycocotools_exports():
    rng = np.random.default_rng(3)
    for _ in range(30):
        ring = _blob(rng, rng.uniform(-20, 220, 2), rng.uniform(2, 80))
        polygons = Polygons((ring, ring[::-1] + 7.3))
        region = Region(polygons, 150, 200)
        assert np.array_equal(_paste(region.crop, 150, 200), to_mask_array(polygons, 150, 200))
        assert region.area == int(to_mask_array(polygons, 150, 200).sum())


def test_a_mask_keeps_its_holes_in_the_crop_and_the_outline():
    full = np.zeros((150, 200), np.uint8)
    full[55:95, 80:120] = 1
    full[70:80, 95:105] = 0
    region = Region(Mask.from_array(full), 150, 200)
    assert region.crop.mask[20, 20] == 0 and region.crop.mask[2, 2] == 1
    assert len(region.outline) == 2  # the boundary and the hole's
    assert region.covers(81.5, 56.5) and not region.covers(100.0, 75.0)


def test_a_mask_outline_rasterises_back_to_its_pixels():
    """The outline the canvas strokes is the one an export as polygons writes (pixel edges, a quarter
    pixel inside): pycocotools gives the same pixels back."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        full = to_mask_array(Polygons((_blob(rng, rng.uniform(40, 160, 2), rng.uniform(5, 40)),)), 150, 200)
        if not full.any():
            continue
        outline = Region(Mask.from_array(full), 150, 200).outline
        traced = mask_to_polygons(full).polygons
        assert traced is not None and len(traced.rings) == len(outline)
        for ours, theirs in zip(outline, traced.rings, strict=True):
            assert np.allclose(ours, theirs)


def test_far_away_vertices_are_clipped_not_crashing_the_rasteriser():
    ring = np.array([[-1e9, -1e9], [50.0, 0.0], [50.0, 50.0]])
    region = Region(Polygons((ring,)), 100, 100)
    assert np.array_equal(_paste(region.crop, 100, 100), to_mask_array(region.geometry, 100, 100))


def test_area_is_rasterised_once_per_geometry(monkeypatch):
    polygons = Polygons.from_flat([[1, 1, 30, 1, 30, 20, 1, 20]])
    calls = []
    real = mask_utils.area
    monkeypatch.setattr(mask_utils, "area", lambda rle: calls.append(1) or real(rle))
    first = area(polygons, 50, 50)
    assert area(polygons, 50, 50) == first == Region(polygons, 50, 50).area
    assert len(calls) == 1


coordinate = st.one_of(
    st.integers(-30, 90).map(float),
    st.integers(-300, 900).map(lambda v: v / 10),  # tenths: 5 x lands on halves, where rounding turns
    st.floats(-40.0, 100.0, allow_nan=False),
    st.sampled_from([-1e10, 1e10, 1e300, -0.5, 0.5, 59.5, 79.5, 0.1 + 0.2]),  # clipped first
)
ring = st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=8).map(lambda p: np.array(p))


@settings(max_examples=300, deadline=None)
@given(rings=st.lists(ring, min_size=1, max_size=3), height=st.integers(1, 60), width=st.integers(1, 80))
def test_a_polygon_crop_pasted_back_is_the_whole_image_rasterisation(rings, height, width):
    """Property: the window `_polygon_crop` rasterises in gives the pixels of rasterising on the whole
    image, to the pixel (pycocotools rounds 5 x + 0.5 toward zero; the shift is by whole pixels)."""
    try:
        polygons = Polygons(tuple(rings))
    except GeometryError:
        return  # not a polygon the tool keeps (a ring of fewer than 3 distinct points, ...)
    crop = Region(polygons, height, width).crop
    assert np.array_equal(_paste(crop, height, width), to_mask_array(polygons, height, width))


def test_a_mask_of_dots_at_opposite_corners_is_drawn_and_hit_tested_in_little_memory():
    """The canvas draws a region from its crops and hit-tests and strokes it from them: for dots at the
    corners of a 15000x16000 image that is a few tiny crops, not one 229 MB box."""
    height, width = 15000, 16000
    corners = [(0, 0), (width - 1, height - 1), (width - 1, 0), (0, height - 1)]
    starts = sorted(x * height + y for x, y in corners)
    counts, at = [], 0
    for start in starts:
        counts += [start - at, 1]
        at = start + 1
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    mask = Mask(Rle(height, width, rle["counts"]))
    tracemalloc.start()
    try:
        region = Region(mask, height, width)
        crops, outline = region.crops, region.outline
        hits = [region.covers(x + 0.5, y + 0.5) for x, y in corners] + [region.covers(8000.5, 7500.5)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB"
    assert sum(int(c.mask.sum()) for c in crops) == 4 and len(outline) == 4
    assert hits == [True, True, True, True, False]


def test_tiny_rings_at_opposite_corners_are_drawn_from_small_crops():
    height, width = 15000, 16000
    rings = tuple(
        np.array([[x, y], [x + 2, y], [x + 2, y + 2]], np.float64) for x, y in ((1, 1), (15990, 14990))
    )
    polygons = Polygons(rings)
    tracemalloc.start()
    try:
        region = Region(polygons, height, width)
        crops = region.crops
        hit = region.covers(15991.6, 14990.4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB"
    assert len(crops) == 2 and hit and not region.covers(8000.5, 7500.5)
    assert sum(int(c.mask.sum()) for c in crops) == region.area


def test_changed_box_is_the_box_of_the_pixels_that_differ():
    rng = np.random.default_rng(3)
    for _ in range(20):
        before = np.zeros((60, 80), np.uint8)
        before[10:50, 5:70] = 1
        after = before.copy()
        x0, y0 = int(rng.integers(0, 75)), int(rng.integers(0, 55))
        x1, y1 = x0 + int(rng.integers(1, 6)), y0 + int(rng.integers(1, 6))
        after[y0:y1, x0:x1] ^= 1
        old = Region(Mask.from_array(before), 60, 80)
        new = Region(Mask.from_array(after), 60, 80)
        ys, xs = np.nonzero(after != before)
        assert changed_box(old, new) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert changed_box(new, new) is None


def test_changed_box_of_polygons_covers_a_vertex_moved_by_less_than_a_pixel():
    square = np.array([[10.0, 10.0], [30.0, 10.0], [30.0, 30.0], [10.0, 30.0]])
    moved = square.copy()
    moved[1] = (30.2, 10.1)  # the pixels stay the same, the outline moves
    box = changed_box(Region(Polygons((square,)), 50, 50), Region(Polygons((moved,)), 50, 50))
    assert box is not None
    x0, y0, x1, y1 = box
    assert x0 <= 10 and x1 >= 31 and y0 <= 10 and y1 >= 31  # the vertex and both its edges
    assert (
        changed_box(Region(Polygons((square,)), 50, 50), Region(Polygons((square.copy(),)), 50, 50)) is None
    )


def test_changed_box_answers_each_old_region_for_itself_and_lets_it_go():
    """The answer is kept on the new region for the item and the mark that both ask; another old region
    gets its own answer, and the kept one does not keep the old region's pixels alive."""
    before = np.zeros((40, 40), np.uint8)
    before[5:30, 5:30] = 1
    after = before.copy()
    after[28:35, 28:35] = 1
    other = before.copy()
    other[0:3, 0:3] = 1
    old, new = Region(Mask.from_array(before), 40, 40), Region(Mask.from_array(after), 40, 40)
    assert changed_box(old, new) == changed_box(old, new) == (28, 28, 35, 35)
    assert changed_box(Region(Mask.from_array(other), 40, 40), new) == (0, 0, 35, 35)
    gone = weakref.ref(old)
    del old
    gc.collect()
    assert gone() is None


def test_pixels_at_hand_give_the_crops_decoding_gives_and_stay_only_while_the_block_runs():
    rng = np.random.default_rng(5)
    for _ in range(20):
        full = np.zeros((120, 160), np.uint8)
        x, y = (int(v) for v in rng.integers(0, 100, 2))
        full[y : y + int(rng.integers(1, 30)), x : x + int(rng.integers(1, 50))] = 1
        full &= rng.random(full.shape) < 0.9  # holes, maybe parts
        mask = Mask.from_array(full)
        ox, oy = max(x - 7, 0), max(y - 3, 0)
        window = full[oy:, ox:].copy()
        with region_module.pixels_at_hand(mask, 120, 160, window, (ox, oy)):
            held = Region(mask, 120, 160)
            crops = held.crops
        assert [(c.x0, c.y0, c.mask.tobytes()) for c in crops] == [
            (c.x0, c.y0, c.mask.tobytes()) for c in region_module.mask_crops(mask)
        ]
        assert not crops or held.crop is crops[0]
        assert not mask.derived.get((region_module.PIXELS_AT_HAND, 120, 160))


def test_pixels_at_hand_that_miss_part_of_the_mask_or_would_be_cut_apart_are_not_used():
    full = np.zeros((3000, 4000), np.uint8)
    full[0, 0] = full[2999, 3999] = 1  # far apart: `mask_crops` cuts it into two crops
    sparse = Mask.from_array(full)
    with region_module.pixels_at_hand(sparse, 3000, 4000, full, (0, 0)):
        assert len(Region(sparse, 3000, 4000).crops) == 2
    small = np.zeros((50, 60), np.uint8)
    small[10:20, 10:40] = 1
    mask = Mask.from_array(small)
    with region_module.pixels_at_hand(mask, 50, 60, small[:, 20:].copy(), (20, 0)):  # misses columns 10-19
        crop = Region(mask, 50, 60).crops[0]
    assert (crop.x0, crop.y0, crop.mask.shape, int(crop.mask.sum())) == (10, 10, (10, 30), 300)


def test_a_large_polygon_is_hit_tested_by_its_rings_until_decoded_and_agrees_with_its_pixels():
    """A hover over a polygon covering a large image decoded its whole crop on the GUI thread (30-57 ms
    at 4000x3000): until something decodes it, it is tested at the pixel's centre against its rings."""
    rng = np.random.default_rng(4)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 300))
    radius = 900 * (0.7 + 0.3 * rng.random(300))
    ring = np.stack([2000 + radius * np.cos(angles), 1500 + radius * np.sin(angles)], 1)
    polygons = Polygons((ring, ring[:40] * 0.1 + 3500))  # a second, far part
    by_rings = Region(polygons, 3000, 4000)
    points = rng.uniform((0, 0), (4000, 3000), (3000, 2))
    answers = [by_rings.covers(x, y) for x, y in points]
    assert not by_rings.decoded
    pixels = Region(polygons, 3000, 4000).crop  # decoded: the exported pixels
    exported = [pixels.covers(x, y) for x, y in points]
    differ = [tuple(p) for p, a, e in zip(points, answers, exported, strict=True) if a != e]
    assert sum(exported) > 400 and len(differ) <= 6  # only where the outline crosses the pixel
    outline = np.zeros((3000, 4000), np.uint8)
    for part in polygons.rings:
        cv2.polylines(outline, [np.round(part * 8).astype(np.int32)], True, 1, 3, cv2.LINE_8, shift=3)
    assert all(outline[int(y), int(x)] for x, y in differ)
    assert not Region(polygons, 3000, 4000).covers(4100, 10)  # outside the image
