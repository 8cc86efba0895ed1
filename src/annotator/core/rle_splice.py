"""A box of a mask replaced in its RLE, without decoding the image: what a brush stroke saves.

Applying a stroke decoded the whole image, pasted the stroke's box and encoded the whole image again
(about 35 ms for 4000x3000, each time a stroke ended or was undone). The runs are column-major, so the
columns the box spans are one stretch of them: only that stretch is decoded, pasted into and encoded,
and the runs before and after are kept. The result is the RLE pycocotools gives the whole new mask.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from annotator.core.geometry import Rle
from annotator.core.rle_runs import decode_runs


def splice(rle: Rle, box: tuple[int, int, int, int], pixels: np.ndarray) -> Rle:
    """`rle` with its pixels in `box` (x0, y0, x1, y1, half-open) replaced by `pixels` (0 or 1)."""
    height, width = rle.height, rle.width
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return rle
    flips = np.cumsum(decode_runs([rle.counts]).counts)[:-1]  # where the value changes
    if y1 - y0 < height and (len(flips) < 2 or bool(np.all(np.diff(flips) > 0))):
        positions = _box_flips(flips, box, pixels, height, width)
    else:  # a box as tall as the image, or runs of length 0 inside (pycocotools makes neither)
        positions = _stretch_flips(flips, box, pixels, height, width)
    counts = np.diff(np.concatenate(([0], positions, [height * width])))
    compressed = mask_utils.frPyObjects({"size": [height, width], "counts": counts.tolist()}, height, width)
    return Rle(height, width, compressed["counts"])


def _box_flips(
    flips: np.ndarray, box: tuple[int, int, int, int], pixels: np.ndarray, height: int, width: int
):
    """The new flips, working on the box's pixels only: in each column the box is one segment of the
    runs, between two pixels outside it (the box is less tall than the image). The old flips inside a
    segment or at its end go; the new ones come from the segment's values with the old value on each
    side (the whole columns' values cost 1.8 ms of 4 for a 220 px wide box at 4000x3000)."""
    x0, y0, x1, y1 = box
    rows, columns = y1 - y0, x1 - x0
    starts = np.arange(x0, x1, dtype=np.int64) * height + y0
    ends = starts + rows  # the first pixel after each segment

    def old(positions: np.ndarray) -> np.ndarray:
        return (np.searchsorted(flips, positions, "right") & 1).astype(np.uint8)

    values = np.empty((columns, rows + 2), np.uint8)
    values[:, 0] = old(starts - 1) if starts[0] > 0 else np.r_[0, old(starts[1:] - 1)]
    values[:, 1:-1] = pixels.T & 1
    values[:, -1] = old(np.minimum(ends, height * width - 1))
    if ends[-1] == height * width:  # the last segment ends the image: no flip after it
        values[-1, -1] = values[-1, -2]
    column, offset = np.nonzero(np.diff(values, axis=1))
    new = starts[column] + offset
    relative = flips - starts[0]
    k = relative // height
    inside = (k >= 0) & (k < columns) & (relative - k * height <= rows)
    return np.sort(np.concatenate((flips[~inside], new)))


def _stretch_flips(
    flips: np.ndarray, box: tuple[int, int, int, int], pixels: np.ndarray, height: int, width: int
) -> np.ndarray:
    """The new flips, from the values of all the columns the box spans."""
    x0, y0, x1, y1 = box
    start, end = x0 * height, x1 * height
    first, last = np.searchsorted(flips, start), np.searchsorted(flips, end)
    # the stretch's values: the state entering it, turned at each flip inside it
    turns = np.zeros(end - start, np.uint8)
    np.add.at(turns, flips[first:last] - start, 1)
    turns[0] ^= first & 1
    values = np.bitwise_xor.accumulate(turns & 1)
    columns = values.reshape(x1 - x0, height)
    columns[:, y0:y1] = pixels.T.astype(np.uint8) & 1
    entering = first & 1
    changed = np.flatnonzero(np.diff(values, prepend=np.uint8(entering))) + start
    parts = [flips[:first], changed]
    after = flips[last:]
    if end < height * width and values[-1] != (last & 1):  # leave the stretch as the old runs did
        if len(after) and after[0] == end:
            after = after[1:]  # two flips at one place cancel
        else:
            parts.append(np.array([end]))
    parts.append(after)
    return np.concatenate(parts)
