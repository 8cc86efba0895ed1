"""A dataset's instances as columns of numbers, for checks that look at all of them at once.

Rasterising 100,000 polygons with pycocotools takes about 6 s here, more than the consistency checks may
take in all, so the table holds what costs almost nothing: vertex arrays, boxes, and for each instance
bounds on its pixel area (shoelace area plus or minus a band of 1.5 pixels along the perimeter; exact for
RLE masks, read from their run lengths). Checks use the bounds to rule most instances out and rasterise
only the rest (`rle`), exactly as pycocotools does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from annotator.core.geometry import Mask, Polygons
from annotator.core.model import Dataset, Instance
from annotator.core.polygon_validity import shoelace
from annotator.core.rle_runs import decode_runs, extents

_BAND = 1.5  # pixels along the outline whose centre may fall either side of it


@dataclass(frozen=True, eq=False)
class InstanceTable:
    """One row per instance, in painter's order within each image (back to front)."""

    instances: tuple[Instance, ...]
    image_ids: np.ndarray
    category_ids: np.ndarray
    heights: np.ndarray
    widths: np.ndarray
    rank: np.ndarray  # position in its image's painter's order, 0 = drawn first (at the back)
    crowd: np.ndarray
    is_polygon: np.ndarray
    boxes: np.ndarray  # (n, 4) x0, y0, x1, y1: half-open pixel box that holds every pixel of the instance
    area_low: np.ndarray  # pixel area is at least this
    area_high: np.ndarray  # and at most this
    extent: np.ndarray  # (n, 4) polygon vertex extent (NaN for masks)
    points: np.ndarray  # all polygon ring vertices, (p, 2)
    ring_offsets: np.ndarray  # ring k is points[ring_offsets[k]:ring_offsets[k + 1]]
    ring_owner: np.ndarray  # row of each ring
    ring_low: np.ndarray  # pixel area bounds of each ring alone
    category_names: dict[int, str] = field(default_factory=dict)
    broken: dict[int, str] = field(default_factory=dict)  # row -> why it cannot be rasterised
    _rles: dict[int, dict] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.instances)

    def rle(self, row: int) -> dict:
        """The row's mask as a pycocotools RLE on its image (rasterised once, then kept)."""
        found = self._rles.get(row)
        if found is None:
            found = (
                self.instances[row].geometry.to_rle(int(self.heights[row]), int(self.widths[row])).as_coco()
            )
            self._rles[row] = found
        return found


def build_table(dataset: Dataset, *, keep: Callable[[Instance], bool] | None = None) -> InstanceTable:
    """The table of `dataset`'s instances for which `keep` is true (all when None)."""
    rows, fields = _painter_rows(dataset, keep)
    n = len(rows)
    image_ids, category_ids = fields[:, 0].copy(), fields[:, 1].copy()
    crowd, is_polygon = fields[:, 2].astype(bool), fields[:, 3].astype(bool)
    known = np.array(sorted(dataset.images), np.int64)
    sizes = np.array(
        [(dataset.images[i].height, dataset.images[i].width) for i in known.tolist()], np.int64
    ).reshape(-1, 2)
    where = np.searchsorted(known, image_ids)
    heights, widths = sizes[where, 0].copy(), sizes[where, 1].copy()
    boxes = np.zeros((n, 4))
    low, high = np.zeros(n), np.zeros(n)
    extent = np.full((n, 4), np.nan)
    broken: dict[int, str] = {}
    polygons = _polygon_columns(rows, np.flatnonzero(is_polygon), heights, widths)
    boxes[is_polygon], low[is_polygon], high[is_polygon], extent[is_polygon] = polygons[:4]
    masks = np.flatnonzero(~is_polygon)
    mask_boxes, mask_areas = _mask_columns(
        [rows[k] for k in masks], heights[masks], widths[masks], broken, masks
    )
    boxes[masks], low[masks], high[masks] = mask_boxes, mask_areas, mask_areas
    return InstanceTable(
        instances=tuple(rows),
        image_ids=image_ids,
        category_ids=category_ids,
        heights=heights,
        widths=widths,
        rank=_ranks(image_ids),
        crowd=crowd,
        is_polygon=is_polygon,
        boxes=boxes,
        area_low=low,
        area_high=high,
        extent=extent,
        points=polygons[4],
        ring_offsets=polygons[5],
        ring_owner=polygons[6],
        ring_low=polygons[7],
        category_names={c.id: c.name for c in dataset.categories.values()},
        broken=broken,
    )


def _painter_rows(
    dataset: Dataset, keep: Callable[[Instance], bool] | None
) -> tuple[list[Instance], np.ndarray]:
    """The instances in painter's order within each image (image id, z, id), with their plain fields
    (image id, category id, crowd, is a polygon) read in one pass and sorted by numpy."""
    chosen: list[Instance] = list(dataset.instances.values())
    if keep is not None:
        chosen = [i for i in chosen if keep(i)]
    fields = np.array(
        [(i.image_id, i.category_id, i.iscrowd, isinstance(i.geometry, Polygons), i.z, i.id) for i in chosen],
        np.int64,
    ).reshape(len(chosen), 6)
    order = np.lexsort((fields[:, 5], fields[:, 4], fields[:, 0]))
    return [chosen[k] for k in order.tolist()], fields[order, :4]


def _ranks(image_ids: np.ndarray) -> np.ndarray:
    if image_ids.size == 0:
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], image_ids[1:] != image_ids[:-1])))
    sizes = np.diff(np.concatenate((starts, [image_ids.size])))
    return np.arange(image_ids.size) - np.repeat(starts, sizes)


def _polygon_columns(rows, chosen: np.ndarray, heights: np.ndarray, widths: np.ndarray) -> tuple:
    """Boxes, area bounds and vertex extents of the polygon rows, and their rings as flat arrays."""
    rings, owner = [], []
    for row in chosen:
        geometry_rings = rows[row].geometry.rings
        rings.extend(geometry_rings)
        owner.extend([row] * len(geometry_rings))
    owner = np.asarray(owner, np.int64)
    sizes = np.fromiter((len(r) for r in rings), np.int64, len(rings))
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    points = np.concatenate(rings) if rings else np.zeros((0, 2))
    if not rings:
        empty = np.zeros(0)
        return np.zeros((0, 4)), empty, empty, np.zeros((0, 4)), points, offsets, owner, empty
    area, perimeter = shoelace(points, offsets)
    starts = offsets[:-1]
    ring_extent = np.stack(
        [
            np.minimum.reduceat(points[:, 0], starts),
            np.minimum.reduceat(points[:, 1], starts),
            np.maximum.reduceat(points[:, 0], starts),
            np.maximum.reduceat(points[:, 1], starts),
        ],
        axis=1,
    )
    ring_low = np.maximum(np.abs(area) - _BAND * perimeter - 4.0, 0.0)
    ring_high = np.abs(area) + _BAND * perimeter + 4.0
    # rows are grouped: the rings of one row are consecutive
    first_ring = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
    row_of_group = owner[first_ring]
    extent = np.stack(
        [
            np.minimum.reduceat(ring_extent[:, 0], first_ring),
            np.minimum.reduceat(ring_extent[:, 1], first_ring),
            np.maximum.reduceat(ring_extent[:, 2], first_ring),
            np.maximum.reduceat(ring_extent[:, 3], first_ring),
        ],
        axis=1,
    )
    h, w = heights[row_of_group], widths[row_of_group]
    boxes = np.stack(
        [
            np.clip(np.floor(extent[:, 0]) - 1, 0, w),
            np.clip(np.floor(extent[:, 1]) - 1, 0, h),
            np.clip(np.ceil(extent[:, 2]) + 1, 0, w),
            np.clip(np.ceil(extent[:, 3]) + 1, 0, h),
        ],
        axis=1,
    )
    box_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    low = np.maximum.reduceat(ring_low, first_ring)
    high = np.minimum(np.add.reduceat(ring_high, first_ring), box_area)
    inside = (extent[:, 0] >= 0) & (extent[:, 1] >= 0) & (extent[:, 2] <= w) & (extent[:, 3] <= h)
    low = np.where(inside, np.minimum(low, high), 0.0)  # parts outside the image are not counted
    return boxes, low, high, extent, points, offsets, owner, ring_low


def _mask_columns(masks: list[Instance], heights, widths, broken: dict[int, str], rows) -> tuple:
    """Exact boxes and areas of RLE masks, from their run lengths; a mask of the wrong size is broken."""
    boxes, areas = np.zeros((len(masks), 4)), np.zeros(len(masks))
    strings, usable = [], []
    for k, inst in enumerate(masks):
        rle = inst.geometry.rle if isinstance(inst.geometry, Mask) else None
        if rle is None or (rle.height, rle.width) != (heights[k], widths[k]):
            size = "?" if rle is None else f"{rle.height}x{rle.width}"
            broken[int(rows[k])] = f"mask is {size} but the image is {heights[k]}x{widths[k]}"
            continue
        strings.append(rle.counts)
        usable.append(k)
    if not usable:
        return boxes, areas
    usable = np.asarray(usable)
    found = extents(decode_runs(strings), heights[usable])
    box = found.boxes.astype(np.float64)
    box[:, 2:] += 1  # inclusive pixel indices to a half-open box
    box[found.boxes[:, 0] < 0] = 0
    boxes[usable], areas[usable] = box, found.areas
    return boxes, areas
