"""pycocotools' C rasteriser called without the GIL gives pycocotools' pixels."""

from __future__ import annotations

import contextlib
import ctypes
import os

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotator.core import coco_native
from annotator.core.geometry import Polygons
from annotator.core.region import Region

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


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc (Linux)")
def test_decoding_the_same_regions_again_and_again_keeps_memory_flat():
    """A switch back and forth between two images decodes their crops each time (C mallocs, invisible to
    tracemalloc): what each decode allocates is freed, so the process does not grow."""
    rng = np.random.default_rng(0)
    shapes = []
    for _ in range(200):
        centre, radius = rng.uniform(200, [3800, 2800]), rng.uniform(20, 150)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 60))
        ring = centre + radius * np.stack([np.cos(angles), np.sin(angles)], 1)
        shapes.append([ring.ravel().tolist(), (ring * 0.5 + centre * 0.5 + 40).ravel().tolist()])

    def decode_all():
        for flat in shapes:
            region = Region(Polygons.from_flat(flat), 3000, 4000)
            assert region.crops  # the crops the canvas draws, through coco_native

    decode_all()
    before = _rss()
    for _ in range(15):
        decode_all()
    # 0.2 MB measured; not freeing each decode's runs (rleFree) grew it by 9.6 MB.
    assert _rss() - before < 4 * 2**20


def _rss() -> int:
    """Resident memory, after the heap's free memory is given back: in the suite's long-lived process
    (2.5 GB) what the decodes freed could stay resident (6 MB once), a leak cannot be given back."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)  # glibc
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
