"""A small LabelMe file cannot make the importer use gigabytes or run for minutes.

The issue's case: 12 KB describing a 15000x16000 image with 60 one-pixel mask shapes took more than five
minutes and 2.4 GB (each mask was pasted into an image-sized array). Memory is measured with
tracemalloc, which sees numpy's buffers; masks must come out pixel for pixel as before.
"""

from __future__ import annotations

import base64
import io
import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage

from annotator.core.geometry import Mask, Polygons, to_mask_array
from annotator.io.errors import DatasetError
from annotator.io.labelme import load_labelme
from annotator.io.labelme_masks import crop_rle


def _png(mask: np.ndarray) -> str:
    buffer = io.BytesIO()
    PilImage.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode()


def _file(tmp_path, shapes, width=15000, height=16000):
    data = {"shapes": shapes, "imagePath": "big.jpg", "imageWidth": width, "imageHeight": height}
    (tmp_path / "big.json").write_text(json.dumps(data))
    return tmp_path / "big.json"


def test_sixty_one_pixel_masks_on_a_huge_image_stay_small(tmp_path):
    one = _png(np.ones((1, 1), bool))
    shapes = [
        {"label": "dot", "shape_type": "mask", "points": [[100 * i, 200 * i], [100 * i, 200 * i]], "mask": one,
         "group_id": i // 2}
        for i in range(60)
    ]  # fmt: skip
    path = _file(tmp_path, shapes)
    assert path.stat().st_size < 20_000
    tracemalloc.start()
    try:
        imported = load_labelme(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"{peak / 2**20:.0f} MiB"  # one image-sized bool mask alone is 229 MiB
    assert len(imported.dataset.instances) == 30
    inst = imported.dataset.instances[1]
    assert isinstance(inst.geometry, Mask)
    rle = inst.geometry.rle
    from pycocotools import mask as mask_utils

    assert mask_utils.area(rle.as_coco()) == 2
    assert [int(v) for v in mask_utils.toBbox(rle.as_coco())] == [0, 0, 101, 201]


def test_masks_holding_more_than_a_few_images_of_pixels_are_refused(tmp_path):
    full = _png(np.zeros((100, 120), bool))
    shapes = [{"label": "x", "shape_type": "mask", "points": [[0, 0]], "mask": full}] * 5
    with pytest.raises(DatasetError, match="more pixels than 4 times the image"):
        load_labelme(_file(tmp_path, shapes, width=120, height=100))


def test_a_mask_larger_than_its_image_is_refused_before_decoding(tmp_path):
    shapes = [
        {"label": "x", "shape_type": "mask", "points": [[0, 0]], "mask": _png(np.ones((50, 50), bool))},
        {"label": "y", "shape_type": "polygon", "points": [[1, 1], [5, 1], [5, 5]]},
    ]
    imported = load_labelme(_file(tmp_path, shapes, width=40, height=40))
    assert len(imported.dataset.instances) == 1
    assert any("larger than the image" in p for p in imported.problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    crop_shape=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    x0=st.integers(-8, 14),
    y0=st.integers(-8, 14),
    seed=st.integers(0, 2**16),
    ring=st.booleans(),
)
def test_placed_masks_match_pasting_into_a_full_array(
    tmp_path_factory, height, width, crop_shape, x0, y0, seed, ring
):
    """Property: the crop-only RLE (and its union with a polygon part) is the mask pasting gave."""
    crop = np.random.default_rng(seed).random(crop_shape) > 0.5
    full = np.zeros((height, width), bool)
    ys = slice(max(y0, 0), max(min(y0 + crop.shape[0], height), 0))
    xs = slice(max(x0, 0), max(min(x0 + crop.shape[1], width), 0))
    if ys.start < ys.stop and xs.start < xs.stop:
        full[ys, xs] = crop[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    polygon = np.array([[0.0, 0.0], [width / 2, 0.0], [0.0, height / 2]])
    shapes = [{"label": "x", "shape_type": "mask", "points": [[x0, y0]], "mask": _png(crop), "group_id": 1}]
    if ring:
        shapes.append({"label": "x", "shape_type": "polygon", "points": polygon.tolist(), "group_id": 1})
    imported = load_labelme(_file(tmp_path_factory.mktemp("lm"), shapes, width=width, height=height))
    if crop.shape[0] > height or crop.shape[1] > width:  # no labelme mask is larger than its image
        assert any("larger than the image" in p for p in imported.problems)
        full[:] = False
    elif not full.any():  # empty inside the image: skipped, and said so
        assert any("empty inside the image" in p for p in imported.problems)
    if ring:
        full |= to_mask_array(Polygons((polygon,)), height, width).astype(bool)
    if not ring and not full.any():
        assert not imported.dataset.instances
        return
    (inst,) = imported.dataset.instances.values()
    assert np.array_equal(to_mask_array(inst.geometry, height, width).astype(bool), full)
    if not ring:  # the run lengths are the canonical ones `encode` writes, so equal masks compare equal
        assert inst.geometry == Mask.from_array(full.astype(np.uint8))


def test_crop_rle_of_a_crop_covering_the_image_is_the_plain_encoding():
    for seed in range(20):
        mask = np.random.default_rng(seed).random((7, 9)) > 0.4
        assert crop_rle(mask, 0, 0, 7, 9) == Mask.from_array(mask.astype(np.uint8)).rle
