"""A traced outline as the steps it strokes, to compare two outlines however their rings are cut."""

from __future__ import annotations

import numpy as np


def edges(rings) -> set:
    """Every quarter-pixel step of the rings' edges, undirected: how the outline strokes, whatever ring a
    part belongs to or where a ring starts."""
    steps = set()
    for ring in rings:
        points = np.round(np.asarray(ring) * 4).astype(int)
        for (ax, ay), (bx, by) in zip(points, np.roll(points, -1, axis=0), strict=True):
            count = max(abs(bx - ax), abs(by - ay))
            assert abs(bx - ax) in (0, count) and abs(by - ay) in (0, count)  # 0, 45 or 90 degrees
            sx, sy = np.sign(bx - ax), np.sign(by - ay)
            for k in range(count):
                a, b = (ax + k * sx, ay + k * sy), (ax + (k + 1) * sx, ay + (k + 1) * sy)
                steps.add((min(a, b), max(a, b)))
    return steps
