"""pycocotools' C rasteriser called without the GIL gives pycocotools' pixels."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotator.core import coco_native

pytestmark = pytest.mark.skipif(not coco_native.available(), reason="this pycocotools exports no C API")


def reference(rings, height, width):
    rles = mask_utils.frPyObjects([ring.ravel() for ring in rings], height, width)
    merged = mask_utils.merge(rles) if len(rles) > 1 else rles[0]
    return np.ascontiguousarray(mask_utils.decode(merged))


def test_polygons_rasterise_as_pycocotools_does():
    rng = np.random.default_rng(3)
    for trial in range(300):
        height, width = (int(v) for v in rng.integers(5, 120, 2))
        rings = []
        for _ in range(1 + trial % 3):  # one ring, or several (merged), overlapping or apart
            n = int(rng.integers(3, 40))
            centre = rng.uniform(-10, [width + 10, height + 10])
            radius = rng.uniform(0.3, 60)
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            rings.append(centre + radius * np.stack([np.cos(angles), np.sin(angles)], 1))
        got = coco_native.polygon_mask(rings, height, width)
        assert got.flags.c_contiguous and got.dtype == np.uint8
        assert np.array_equal(got, reference(rings, height, width)), trial
