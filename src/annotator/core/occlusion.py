"""Instances hidden entirely by the instances drawn in front of them (painter's order, back to front).

Three sieves, each cheaper than the next is exact:
1. area: the overlaps of the front boxes (each capped by its largest possible area) must add up to the
   instance's smallest possible area, or something of it shows;
2. drawing: each image is drawn front to back with OpenCV; an instance with a pixel that lies a pixel
   deep inside it (eroded) and a pixel away from everything drawn in front of it (dilated) surely shows.
   The pixel of slack on both sides absorbs the difference between OpenCV's and pycocotools'
   rasterisers, so the sieve never drops a hidden instance;
3. exact: the few left are rasterised by pycocotools and tested with `merge` and `area`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from annotator.core.box_pairs import intersection_area, overlapping_pairs
from annotator.core.geometry import GeometryError
from annotator.core.instance_table import InstanceTable
from annotator.core.mask_parts import MaskAtlas

_KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class HiddenInstance:
    row: int
    area: int  # its pixels, all covered
    covering: tuple[int, ...]  # rows in front that overlap it, most overlap first


def hidden_instances(table: InstanceTable) -> list[HiddenInstance]:
    back, front = overlapping_pairs(table.image_ids, table.boxes)
    # rows are in painter's order within each image: the higher row of a pair is the one in front
    reach = np.minimum(intersection_area(table.boxes, back, front), table.area_high[front])
    cover = np.bincount(back, weights=reach, minlength=len(table))
    candidates = (cover >= np.maximum(table.area_low, 1.0)) & (table.area_high > 0)
    if not candidates.any():
        return []
    order = np.argsort(back, kind="stable")
    back, front = back[order], front[order]
    needed = candidates.copy()  # what the drawing sieve must draw: candidates and what lies over them
    needed[front[candidates[back]]] = True
    found = []
    for row in _drawing_sieve(table, candidates, needed):
        fronts = front[np.searchsorted(back, row) : np.searchsorted(back, row, side="right")].tolist()
        hidden = _exactly_hidden(table, row, fronts)
        if hidden is not None:
            found.append(hidden)
    return found


def _drawing_sieve(table: InstanceTable, candidates: np.ndarray, needed: np.ndarray) -> list[int]:
    """Candidates that drawing cannot prove visible, image by image.

    The instances in front are drawn as they are into one map per image, and widened by a pixel only
    around each candidate when it is tested: widening commutes with the union."""
    painter = _Painter(table)
    starts = np.flatnonzero(np.concatenate(([True], table.image_ids[1:] != table.image_ids[:-1])))
    ends = np.append(starts[1:], len(table))
    first = np.minimum.reduceat(np.where(candidates, np.arange(len(table)), len(table)), starts)
    is_candidate, is_needed = candidates.tolist(), needed.tolist()
    survivors = []
    for start, end, lowest in zip(starts.tolist(), ends.tolist(), first.tolist(), strict=True):
        if lowest >= end:
            continue  # no candidate in this image
        drawn = np.zeros((int(table.heights[start]), int(table.widths[start])), np.uint8)
        for row in range(end - 1, lowest - 1, -1):
            if not is_needed[row]:
                continue
            if not is_candidate[row]:
                painter.draw_into(row, drawn)
                continue
            own = painter.draw(row)
            if own is None:
                survivors.append(row)
                continue
            (x0, y0, x1, y1), crop = own
            region = drawn[y0:y1, x0:x1]
            # a pixel deep inside the instance and a pixel away from the fronts: a 3x3 square inside the
            # instance and outside the fronts, that is a pixel of (own minus fronts) eroded
            alone = cv2.subtract(crop, region)
            if not cv2.countNonZero(cv2.erode(alone, _KERNEL, borderType=cv2.BORDER_CONSTANT, borderValue=0)):
                survivors.append(row)
            np.maximum(region, crop, out=region)
    return survivors


class _Painter:
    """Draws one row at a time in its box widened by a pixel, from columns prepared once."""

    def __init__(self, table: InstanceTable) -> None:
        self.table = table
        boxes = table.boxes.astype(np.int64)
        self.boxes = np.stack(
            [
                np.maximum(boxes[:, 0] - 1, 0),
                np.maximum(boxes[:, 1] - 1, 0),
                np.minimum(boxes[:, 2] + 1, table.widths),
                np.minimum(boxes[:, 3] + 1, table.heights),
            ],
            axis=1,
        ).tolist()
        # pycocotools' pixel (i, j) is centred on (i + 0.5, j + 0.5), OpenCV's on (i, j); 3 fraction bits
        self.fixed = np.round((table.points - 0.5) * 8).astype(np.int32)
        rows = np.arange(len(table))
        self.first_ring = np.searchsorted(table.ring_owner, rows).tolist()
        self.last_ring = np.searchsorted(table.ring_owner, rows, side="right").tolist()
        self.offsets = table.ring_offsets.tolist()
        masks = np.flatnonzero(~table.is_polygon)
        masks = masks[[row not in table.broken for row in masks.tolist()]]
        rles = [table.instances[r].geometry.rle.counts for r in masks.tolist()]
        self.atlas = MaskAtlas(rles, table.heights[masks])
        self.mask_slot = dict(zip(masks.tolist(), range(len(masks)), strict=True))

    def draw_into(self, row: int, image: np.ndarray) -> None:
        """Draw the row into the image as it is (nothing for a broken geometry or an empty mask)."""
        first, last = self.first_ring[row], self.last_ring[row]
        if first < last:
            offsets = self.offsets
            for k in range(first, last):
                cv2.fillPoly(image, [self.fixed[offsets[k] : offsets[k + 1]]], 1, cv2.LINE_8, 3)
            return
        slot = self.mask_slot.get(row)
        if slot is not None and self.atlas.boxes[slot, 0] >= 0:
            pixels = self.atlas.crop(slot)
            x0, y0 = int(self.atlas.boxes[slot, 0]), int(self.atlas.boxes[slot, 1])
            region = image[y0 : y0 + pixels.shape[0], x0 : x0 + pixels.shape[1]]
            np.maximum(region, pixels, out=region)

    def draw(self, row: int) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        """(box, uint8 crop) of the row; None when it cannot be drawn (broken geometry, empty mask)."""
        x0, y0, x1, y1 = self.boxes[row]
        if x1 <= x0 or y1 <= y0:
            return None
        crop = np.zeros((y1 - y0, x1 - x0), np.uint8)
        first, last = self.first_ring[row], self.last_ring[row]
        if first < last:
            offsets, shift = self.offsets, (-8 * x0, -8 * y0)
            for k in range(first, last):  # one call per ring: the instance is the union of its rings
                cv2.fillPoly(crop, [self.fixed[offsets[k] : offsets[k + 1]]], 1, cv2.LINE_8, 3, shift)
            return (x0, y0, x1, y1), crop
        slot = self.mask_slot.get(row)
        if slot is None:
            return None
        pixels = self.atlas.crop(slot)
        if pixels.size == 0:
            return None
        mx0, my0 = int(self.atlas.boxes[slot, 0]) - x0, int(self.atlas.boxes[slot, 1]) - y0
        crop[my0 : my0 + pixels.shape[0], mx0 : mx0 + pixels.shape[1]] = pixels
        return (x0, y0, x1, y1), crop


def _exactly_hidden(table: InstanceTable, row: int, fronts: list[int]) -> HiddenInstance | None:
    try:
        own_rle = table.rle(row)
        rles = [table.rle(f) for f in fronts]
    except GeometryError:
        return None  # reported by the invalid-geometry check
    own = int(mask_utils.area(own_rle))
    if own == 0 or not rles:
        return None  # an empty instance is a fragment, not a hidden one
    if _overlap(own_rle, mask_utils.merge(rles)) < own:
        return None
    overlaps = [_overlap(own_rle, r) for r in rles]
    order = sorted((k for k in range(len(fronts)) if overlaps[k] > 0), key=lambda k: -overlaps[k])
    return HiddenInstance(row, own, tuple(fronts[k] for k in order))


def _overlap(a: dict, b: dict) -> int:
    return int(mask_utils.area(mask_utils.merge([a, b], intersect=True)))
