"""Compressed COCO RLE strings read as run lengths in numpy, many masks in one pass, and cut to a crop.

The consistency checks need the area, the box and the connected parts of every mask of a dataset.
`pycocotools.mask.decode` writes the whole image for each mask (0.7 ms for 640x480 on this machine, so 14 s
for 20,000 masks); reading the runs of all masks at once and filling only each mask's box is two orders of
magnitude cheaper (docs/decisions/0014-consistency-checks-speed.md). The string format is pycocotools'
own (maskApi.c `rleFrString`), which `geometry._sum_compressed_counts` also reads, one mask at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from annotator.core import coco_native
from annotator.core.geometry import GeometryError


@dataclass(frozen=True)
class Runs:
    """Run lengths of many masks, concatenated: mask k's counts are `counts[offsets[k]:offsets[k + 1]]`
    (background first, then alternating, column-major as pycocotools stores them)."""

    counts: np.ndarray  # int64
    offsets: np.ndarray  # int64, len = masks + 1

    def of(self, index: int) -> np.ndarray:
        return self.counts[self.offsets[index] : self.offsets[index + 1]]


def decode_runs(strings: Sequence[bytes]) -> Runs:
    """The run lengths of each compressed counts string (pycocotools' format), vectorised over all."""
    lengths = np.fromiter((len(s) for s in strings), np.int64, len(strings))
    chars = np.frombuffer(b"".join(strings), np.uint8).astype(np.int64) - 48
    if chars.size == 0:
        return Runs(np.zeros(0, np.int64), np.zeros(len(strings) + 1, np.int64))
    last = (chars & 0x20) == 0  # the last character of a number
    number_of_char = np.concatenate(([0], np.cumsum(last)[:-1]))
    starts = np.flatnonzero(np.concatenate(([True], last[:-1])))
    shift = 5 * (np.arange(chars.size) - starts[number_of_char])
    values = np.add.reduceat((chars & 0x1F) << shift, starts)
    end_shift = shift[last] + 5
    values = np.where(chars[last] & 0x10, values - (np.int64(1) << end_shift), values)
    numbers_per_mask = _per_mask_counts(last, lengths)
    offsets = np.concatenate(([0], np.cumsum(numbers_per_mask)))
    return Runs(_undelta(values, offsets), offsets)


def _per_mask_counts(last: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    cumulative = np.concatenate(([0], np.cumsum(last)))
    ends = np.cumsum(lengths)
    return np.diff(np.concatenate(([0], cumulative[ends])))


def _undelta(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """`x[m] = v[m] + x[m - 2]` for m > 2 within each mask: a running sum along each parity from m = 1
    (odd) and m = 2 (even); the first count stands alone."""
    mask_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    position = np.arange(values.size) - offsets[mask_of]
    out = values.copy()
    for parity, first in ((1, 1), (0, 2)):
        chain = (position % 2 == parity) & (position >= first)
        picked = np.where(chain, values, 0)
        running = np.cumsum(picked)
        # subtract what earlier masks contributed: the running sum just before each mask's start
        before = np.concatenate(([0], running))[offsets[:-1]]
        out = np.where(chain, running - before[mask_of], out)
    return out


@dataclass(frozen=True)
class Extents:
    """Per mask: foreground pixel count and box (x0, y0, x1, y1 inclusive pixel indices; -1 when empty)."""

    areas: np.ndarray
    boxes: np.ndarray  # (masks, 4) int64


def extents(runs: Runs, heights: np.ndarray) -> Extents:
    """Area and box of every mask at once; `heights[k]` is mask k's image height."""
    masks = len(runs.offsets) - 1
    areas = np.zeros(masks, np.int64)
    boxes = np.full((masks, 4), -1, np.int64)
    mask_of = np.repeat(np.arange(masks), np.diff(runs.offsets))
    running = np.cumsum(runs.counts)
    before = np.concatenate(([0], running))[runs.offsets[:-1]]
    ends = running - before[mask_of]
    starts = ends - runs.counts
    position = np.arange(runs.counts.size) - runs.offsets[mask_of]
    fg = (position % 2 == 1) & (runs.counts > 0)
    owner, first, last = mask_of[fg], starts[fg], ends[fg] - 1
    if owner.size == 0:
        return Extents(areas, boxes)
    np.add.at(areas, owner, runs.counts[fg])
    height = heights[owner]
    column_first, column_last = first // height, last // height
    spans = column_first != column_last  # a run through a column end covers every row
    row_lo = np.where(spans, 0, first % height)
    row_hi = np.where(spans, height - 1, last % height)
    groups = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
    present = owner[groups]
    boxes[present, 0] = np.minimum.reduceat(column_first, groups)
    boxes[present, 1] = np.minimum.reduceat(row_lo, groups)
    boxes[present, 2] = np.maximum.reduceat(column_last, groups)
    boxes[present, 3] = np.maximum.reduceat(row_hi, groups)
    return Extents(areas, boxes)


def foreground_pieces(
    runs: Runs, heights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every foreground run cut at column ends: (mask, column, first row, end row) arrays, so each piece is
    one vertical segment of one mask."""
    masks = len(runs.offsets) - 1
    mask_of = np.repeat(np.arange(masks), np.diff(runs.offsets))
    running = np.cumsum(runs.counts)
    before = np.concatenate(([0], running))[runs.offsets[:-1]]
    ends = running - before[mask_of]
    starts = ends - runs.counts
    position = np.arange(runs.counts.size) - runs.offsets[mask_of]
    fg = (position % 2 == 1) & (runs.counts > 0)
    owner, starts, ends = mask_of[fg], starts[fg], ends[fg]
    height = heights[owner]
    first_column, last_column = starts // height, (ends - 1) // height
    pieces = last_column - first_column + 1
    if np.any(pieces > 1):
        index = np.repeat(np.arange(starts.size), pieces)
        step = np.arange(index.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        column = first_column[index] + step
        height = height[index]
        starts = np.maximum(starts[index], column * height)
        ends = np.minimum(ends[index], (column + 1) * height)
        owner = owner[index]
    column = starts // height
    return owner, column, starts - column * height, ends - column * height


def mask_pieces(counts: bytes, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One mask's `foreground_pieces`: (column, first row, end row), by column then row. Its runs are read
    by pycocotools' C (`coco_native.run_lengths`) where at hand: `decode_runs` is made for many masks at
    once, and for one it cost 0.2 ms of numpy's call overhead (a switch to an image of 500 masks)."""
    if coco_native.available():
        lengths = coco_native.run_lengths(counts, height, width).astype(np.int64)
    else:
        lengths = decode_runs([counts]).of(0)
    # `Mask.from_coco_rle` refuses such runs; one made in code all the same must not ask for a huge crop
    if lengths.size and (lengths.sum() != height * width or lengths.min() < 0):
        raise GeometryError(f"RLE counts cover {int(lengths.sum())} pixels, but the size is {height}x{width}")
    runs = Runs(lengths, np.array([0, lengths.size], np.int64))
    _owner, column, row_start, row_end = foreground_pieces(runs, np.array([height], np.int64))
    return column, row_start, row_end
