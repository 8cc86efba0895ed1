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
    positions = np.concatenate(parts)
    counts = np.diff(np.concatenate(([0], positions, [height * width])))
    compressed = mask_utils.frPyObjects({"size": [height, width], "counts": counts.tolist()}, height, width)
    return Rle(height, width, compressed["counts"])
