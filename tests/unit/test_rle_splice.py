"""A box replaced in a mask's RLE gives the RLE of the whole new mask, pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.core.geometry import Mask, Polygons
from annotator.core.rle_splice import splice


@pytest.mark.parametrize("seed", range(6))
def test_splicing_a_box_is_encoding_the_pasted_mask(seed):
    rng = np.random.default_rng(seed)
    for trial in range(60):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        mask = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        if trial % 4 == 1:
            mask[:] = trial % 8 == 1  # all off, or all on
        x0, x1 = sorted(int(v) for v in rng.integers(0, w + 1, 2))
        y0, y1 = (0, h) if trial % 5 == 0 else sorted(int(v) for v in rng.integers(0, h + 1, 2))
        if trial % 7 == 0:
            x1 = w  # up to the last column: no runs after the box
        pixels = (rng.random((y1 - y0, x1 - x0)) < rng.random()).astype(np.uint8)
        if trial % 3 == 0:
            pixels = 1 - mask[y0:y1, x0:x1]
        expected = mask.copy()
        expected[y0:y1, x0:x1] = pixels
        spliced = splice(Mask.from_array(mask).rle, (x0, y0, x1, y1), pixels)
        assert spliced.counts == Mask.from_array(expected).rle.counts


def test_a_polygon_becomes_the_mask_its_stroke_makes():
    ring = np.array([[5.2, 3.0], [30.5, 4.0], [22.0, 25.7], [3.0, 20.0]])
    rle = Polygons((ring,)).to_rle(40, 50)
    pixels = np.ones((6, 30), np.uint8)
    expected = Mask(rle).to_array()
    expected[28:34, 10:40] = 1
    assert splice(rle, (10, 28, 40, 34), pixels).counts == Mask.from_array(expected).rle.counts
