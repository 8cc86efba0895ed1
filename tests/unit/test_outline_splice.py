"""An edited mask's outline spliced from the outline before: the same edges as tracing the new mask whole."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from annotator.core.geometry import trace_rings
from annotator.core.outline_splice import spliced_outline
from outline_edges import edges


def random_mask(rng, height, width, noise) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    for _ in range(rng.integers(1, 6)):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(mask, centre, int(rng.integers(1, 25)), 1, -1)
    mask[rng.random((height, width)) < noise] ^= 1  # specks, holes, pixels touching at a corner
    return mask


def changed_box(before, after, origin):
    rows, cols = np.nonzero(before != after)
    ox, oy = origin
    return (int(cols.min()) + ox, int(rows.min()) + oy, int(cols.max()) + 1 + ox, int(rows.max()) + 1 + oy)


@pytest.mark.parametrize("seed", range(2))
def test_strokes_on_random_masks_give_the_outline_of_a_whole_trace(seed):
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(120):
        height, width = (int(v) for v in rng.integers(8, 60, 2))
        before = random_mask(rng, height, width, rng.choice([0.0, 0.05, 0.3]))
        origin = (int(rng.integers(0, 40)), int(rng.integers(0, 40)))  # the window's place in the image
        after = before.copy()
        for _ in range(rng.integers(1, 4)):  # strokes, painting or erasing, some past the window's edges
            a, b = (tuple(int(v) for v in rng.integers(-3, max(height, width) + 3, 2)) for _ in range(2))
            cv2.line(after, a, b, int(rng.integers(0, 2)), int(rng.integers(1, 9)))
        if np.array_equal(before, after):
            continue
        spliced = spliced_outline(
            trace_rings(before, offset=origin, holes=True), after, origin, changed_box(before, after, origin)
        )
        assert spliced is not None
        assert edges(spliced) == edges(trace_rings(after, offset=origin, holes=True))
        checked += 1
    assert checked > 80


def test_a_stroke_that_joins_two_parts_and_closes_a_hole():
    before = np.zeros((40, 60), np.uint8)
    before[5:35, 5:25] = 1
    before[5:35, 35:55] = 1
    after = before.copy()
    after[5:10, 20:40] = 1  # a bridge along the top
    after[30:35, 20:40] = 1  # and one along the bottom: a hole between them
    spliced = spliced_outline(
        trace_rings(before, holes=True), after, (0, 0), changed_box(before, after, (0, 0))
    )
    whole = trace_rings(after, holes=True)
    assert len(whole) == 2 and edges(spliced) == edges(whole)


def test_the_old_outline_far_from_the_stroke_is_kept_as_it_was():
    before = np.zeros((200, 300), np.uint8)
    cv2.circle(before, (150, 100), 90, 1, -1)
    after = before.copy()
    cv2.circle(after, (240, 100), 6, 0, -1)  # a bite out of the right edge
    old = trace_rings(before, holes=True)
    spliced = spliced_outline(old, after, (0, 0), changed_box(before, after, (0, 0)))
    far = {step for step in edges(old) if step[0][0] < 4 * 200}  # the left of the circle
    assert far <= edges(spliced)
    assert edges(spliced) == edges(trace_rings(after, holes=True))
