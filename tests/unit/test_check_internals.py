"""The vectorised pieces under the checks, against slow obvious versions: RLE strings read in numpy
against pycocotools' decode, connected parts against OpenCV on the full mask, self-intersection against
testing every pair of edges, box pairs against every pair of boxes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotator.core.box_pairs import overlapping_pairs
from annotator.core.mask_parts import MaskAtlas, part_sizes
from annotator.core.polygon_validity import ring_faults
from annotator.core.rle_runs import decode_runs, extents


def _random_masks(seed: int, count: int = 120) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = []
    for k in range(count):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        mask = (rng.random((h, w)) < rng.random() * 0.4).astype(np.uint8)
        if k % 9 == 0:
            mask[:] = 0
        if k % 13 == 0:
            mask[:] = 1
        if k % 5 == 0:  # a compact blob, one run per column
            mask = np.zeros((h, w), np.uint8)
            cv2.ellipse(mask, (w // 2, h // 2), (w // 3, h // 4), float(k), 0, 360, 1, -1)
        masks.append(mask)
    return masks


@pytest.mark.parametrize("seed", [0, 1])
def test_runs_boxes_crops_and_parts_equal_pycocotools_and_opencv(seed: int) -> None:
    masks = _random_masks(seed)
    strings = [mask_utils.encode(np.asfortranarray(m))["counts"] for m in masks]
    heights = [m.shape[0] for m in masks]
    runs = decode_runs(strings)
    found = extents(runs, np.array(heights))
    atlas = MaskAtlas(strings, heights)
    parts = part_sizes(strings, heights)
    for k, mask in enumerate(masks):
        assert runs.of(k).sum() == mask.size and found.areas[k] == mask.sum()
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        assert parts[k].tolist() == sorted(stats[1:count, cv2.CC_STAT_AREA].tolist(), reverse=True)
        if not mask.any():
            assert found.boxes[k, 0] == -1 and atlas.crop(k).size == 0
            continue
        ys, xs = np.nonzero(mask)
        assert found.boxes[k].tolist() == [xs.min(), ys.min(), xs.max(), ys.max()]
        assert np.array_equal(atlas.crop(k), mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def _brute_faults(ring: np.ndarray) -> tuple[bool, int]:
    """(degenerate, crossing pairs) by testing every pair of non-adjacent edges."""
    points = [p for i, p in enumerate(ring) if not np.array_equal(p, ring[(i + 1) % len(ring)])]
    n = len(points)
    if n < 3:
        return True, 0
    pts = np.array(points)
    step = np.roll(pts, -1, axis=0) - pts
    fan = np.abs((pts - pts[0])[:, 0] * step[:, 1] - (pts - pts[0])[:, 1] * step[:, 0]).sum()
    if fan <= 1e-9 * max(np.hypot(*step.T).sum(), 1) ** 2:
        return True, 0

    def orient(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    def on(a, b, p):
        return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])

    count = 0
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue
            a, b, c, d = pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n]
            o1, o2, o3, o4 = orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
            touching = (o1 == 0 and on(a, b, c)) or (o2 == 0 and on(a, b, d)) or (o3 == 0 and on(c, d, a))
            count += (o1 * o2 < 0 and o3 * o4 < 0) or touching or (o4 == 0 and on(c, d, b))
    return False, count


def test_ring_faults_equal_every_pair_of_edges() -> None:
    rng = np.random.default_rng(3)
    rings = []
    for k in range(400):
        n = int(rng.integers(1, 12))
        if k % 4 == 0:  # on a small integer grid: touching, collinear and repeated points
            rings.append(rng.integers(0, 6, (n, 2)).astype(float))
        elif k % 4 == 1:  # convex, some closed with the first point repeated
            angles = np.sort(rng.uniform(0, 2 * np.pi, max(n, 3)))
            ring = np.stack([np.cos(angles), np.sin(angles)], 1) * rng.uniform(1, 5)
            rings.append(np.vstack([ring, ring[:1]]) if k % 8 == 1 else ring)
        else:
            rings.append(rng.uniform(0, 10, (max(n, 3), 2)))
    offsets = np.concatenate(([0], np.cumsum([len(r) for r in rings])))
    faults = ring_faults(np.concatenate(rings), offsets)
    for k, ring in enumerate(rings):
        degenerate, crossings = _brute_faults(ring)
        assert bool(faults.degenerate[k]) == degenerate, (k, ring.tolist())
        if not degenerate:
            assert faults.crossings[k] == crossings, (k, ring.tolist())
    assert (faults.crossings > 0).sum() > 50 and faults.degenerate.sum() > 10  # the cases were exercised


def test_overlapping_pairs_equal_every_pair() -> None:
    rng = np.random.default_rng(5)
    groups = rng.integers(0, 4, 300)
    corner = rng.uniform(0, 100, (300, 2))
    boxes = np.hstack([corner, corner + rng.uniform(0, 20, (300, 2))])
    boxes[::17, 2] = boxes[::17, 0]  # empty boxes overlap nothing
    a, b = overlapping_pairs(groups, boxes)
    got = set(zip(a.tolist(), b.tolist(), strict=True))
    want = {
        (i, j)
        for i in range(300)
        for j in range(i + 1, 300)
        if groups[i] == groups[j]
        and min(boxes[i, 2], boxes[j, 2]) > max(boxes[i, 0], boxes[j, 0])
        and min(boxes[i, 3], boxes[j, 3]) > max(boxes[i, 1], boxes[j, 1])
    }
    assert got == want and len(want) > 100
