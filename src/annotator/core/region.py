"""What a geometry covers on an image of a given size, derived lazily and once: detectron2's `GenericMask`.

Everything the tool draws, hit-tests, measures or exports about an instance comes from here, so the
canvas, the tools' previews, evaluation and export all agree to the pixel: the RLE (pycocotools'
rasterisation), area, bounding box, the mask cropped to its box, and the outline (polygon rings as they
are; a mask's boundary traced along pixel edges, holes included). Cheap results (RLE, area, bbox) are
kept on the geometry itself, which is immutable; the crop and the outline stay on the `Region`, whose
owner (a canvas layer, an export pass) decides how long they live, so browsing a large project never
keeps every mask in memory.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from annotator.core import coco_native
from annotator.core.geometry import (
    Geometry,
    Mask,
    PolygonConversion,
    Polygons,
    Rle,
    area,
    mask_to_polygons,
    trace_rings,
)
from annotator.core.mask_parts import run_components
from annotator.core.outline_splice import spliced_outline
from annotator.core.rle_runs import mask_pieces


@dataclass(frozen=True)
class Crop:
    """A region's pixels inside its box: `mask[y, x]` is pixel `(x0 + x, y0 + y)` of the image."""

    x0: int
    y0: int
    mask: np.ndarray  # (h, w) uint8, 0 or 1

    @property
    def empty(self) -> bool:
        return self.mask.size == 0 or not self.mask.any()

    def covers(self, x: float, y: float) -> bool:
        """Whether image pixel (floor x, floor y) is in the region."""
        col, row = int(np.floor(x)) - self.x0, int(np.floor(y)) - self.y0
        h, w = self.mask.shape
        return 0 <= col < w and 0 <= row < h and bool(self.mask[row, col])


EMPTY_CROP = Crop(0, 0, np.zeros((0, 0), np.uint8))


class Region:
    """A geometry on an image of `height` x `width`; every property is computed on first use."""

    def __init__(self, geometry: Geometry, height: int, width: int) -> None:
        self.geometry, self.height, self.width = geometry, height, width
        self._crop: Crop | None = None
        self._crops: tuple[Crop, ...] | None = None
        self._changed_from: tuple[weakref.ref, Box | None] | None = None  # `changed_box`'s last answer
        self._outline: tuple[np.ndarray, ...] | None = None
        self._simplified: dict[float, tuple[np.ndarray, ...]] = {}  # `outline_within`, by tolerance

    @property
    def rle(self) -> Rle:
        return self.geometry.to_rle(self.height, self.width)  # cached by the geometry

    @property
    def area(self) -> int:
        return area(self.geometry, self.height, self.width)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """COCO `[x, y, w, h]`."""
        return self.geometry.bbox(self.height, self.width)

    @property
    def decoded(self) -> bool:
        """Whether `crops` (what the canvas draws) are computed already."""
        return self._crops is not None

    @property
    def crop(self) -> Crop:
        """The pixels pycocotools gives this geometry, cropped to their box; computed once. Not a
        `cached_property`: on Python 3.11 its lock is one for all instances, so two threads could not
        decode two regions side by side (a race computes the same crop twice, harmlessly)."""
        crop = self._crop
        if crop is None:
            if isinstance(self.geometry, Mask):
                crop = mask_crop(Mask(self.rle))  # `rle` checks the mask's size against the image's
            else:
                crop = _polygon_crop(self.geometry, self.height, self.width)
            self._crop = crop
        return crop

    def forget_pixels(self) -> None:
        """Drop the decoded crops; they are made again when next used. A region drawn once ahead (the
        next image's tile) then keeps no memory."""
        self._crop = self._crops = None

    @property
    def crops(self) -> tuple[Crop, ...]:
        """The pixels as crops holding each pixel once: `crop` alone, or for a mask (or polygons) whose box
        is large and mostly empty, one crop per group of its parts (`mask_crops`), so drawing it never
        needs an image-sized array. Computed once (without a lock, as `crop`)."""
        crops = self._crops
        if crops is None:
            _, _, w, h = self.bbox
            if (at_hand := self._crops_at_hand()) is not None:
                crops = at_hand
            elif isinstance(self.geometry, Mask) or w * h > SPARSE_BOX:  # far-apart rings: from their RLE too
                crops = tuple(mask_crops(Mask(self.rle)))  # `rle` checks the mask's size against the image's
            else:
                crops = () if self.crop.empty else (self.crop,)
            self._crops = crops
        return crops

    def _crops_at_hand(self) -> tuple[Crop, ...] | None:
        """`crops` cut from pixels an editor left with the geometry (`pixels_at_hand`), when they make one
        crop as `mask_crops` would; else None (decoded from the runs)."""
        held = self.geometry.derived.get((PIXELS_AT_HAND, self.height, self.width))
        if held is None:
            return None
        window, (ox, oy), _edited = held
        x, y, w, h = (int(v) for v in self.bbox)
        if w * h == 0:
            return ()
        if _cut_along_parts(w * h, self.area):
            return None  # as `mask_crops` cuts it
        if x < ox or y < oy or x + w > ox + window.shape[1] or y + h > oy + window.shape[0]:
            return None
        crop = Crop(x, y, np.ascontiguousarray(window[y - oy : y - oy + h, x - ox : x - ox + w]))
        self._crop = crop
        return (crop,)

    @property
    def outline(self) -> tuple[np.ndarray, ...]:
        """Rings to stroke, in image coordinates: a polygon's own rings; a mask's boundary along pixel
        edges (every ring of it, holes included). Computed once, without a lock (as `crop`: two bands
        trace two masks side by side)."""
        if isinstance(self.geometry, Polygons):
            return self.geometry.rings
        outline = self._outline
        if outline is None:
            outline = tuple(
                ring
                for crop in self.crops
                for ring in trace_rings(crop.mask, offset=(crop.x0, crop.y0), holes=True)
            )
            self._outline = outline
        return outline

    def _edited_from(self, old: Region) -> Box | None:
        """The box outside which no pixel of `old` changed, when an editor made this region's mask from
        `old`'s and said so (`pixels_at_hand`); else None."""
        held = self.geometry.derived.get((PIXELS_AT_HAND, self.height, self.width))
        if held is None or held[2] is None or (self.height, self.width) != (old.height, old.width):
            return None
        before, changed = held[2]
        if old.geometry is not before or isinstance(before, Polygons) or isinstance(self.geometry, Polygons):
            return None
        return changed

    def outline_edited_from(self, old: Region) -> None:
        """Take the outline from `old`'s, traced again only near the pixels an edit changed, when the
        editor said which (`pixels_at_hand`) and `old` is the region it edited, its outline traced: a
        stroke's release on a large mask traced all of it (`core.outline_splice`)."""
        changed = self._edited_from(old)
        if changed is None or self._outline is not None or old._outline is None:
            return
        window, origin, _edited = self.geometry.derived[(PIXELS_AT_HAND, self.height, self.width)]
        self._outline = spliced_outline(old._outline, window, origin, changed)

    def outline_within(self, tolerance: float) -> tuple[np.ndarray, ...]:
        """`outline` with a mask's staircases straightened, no point moved more than `tolerance` image
        pixels (Douglas-Peucker; kept per tolerance). Zoomed out, a traced boundary has several vertices
        per device pixel: stroking them antialiased was most of a tile of 500 masks (246 of 915 ms at fit
        on 4000x3000, docs/decisions/0020, lever 22). A polygon's own rings are drawn as they are."""
        if isinstance(self.geometry, Polygons) or tolerance < 0.5:
            return self.outline
        simplified = self._simplified.get(tolerance)
        if simplified is None:
            simplified = tuple(
                cv2.approxPolyDP(ring.astype(np.float32), tolerance, True).reshape(-1, 2).astype(np.float64)
                for ring in self.outline
            )
            self._simplified[tolerance] = simplified
        return simplified

    def covers(self, x: float, y: float) -> bool:
        """Whether image pixel (floor x, floor y) is in the region: from the crops, or for a large
        polygon whose crops are not decoded, from its rings at the pixel's centre. Zoomed out, the
        canvas fills polygons from their vertices and decodes no crop, and a hover over a polygon
        covering a 4000x3000 image decoded 12 Mpx on the GUI thread first (30-57 ms). The two differ
        only on pixels the outline crosses (0.3% of random points in 100 boxes; decision 0020)."""
        if self.tested_by_rings:
            return _inside_rings(self.geometry, self.height, self.width, x, y)
        return any(crop.covers(x, y) for crop in self.crops)

    @property
    def tested_by_rings(self) -> bool:
        """A polygon too large to decode at a hover or click without a stutter (its box over
        `COVERS_BY_RINGS_PX`), whose crops are not decoded yet: `covers` tests its rings meanwhile."""
        if self._crops is not None or not isinstance(self.geometry, Polygons):
            return False
        _, _, w, h = self.bbox
        return w * h > COVERS_BY_RINGS_PX


PIXELS_AT_HAND = "pixels at hand"  # `Geometry.derived` key, only while `pixels_at_hand` runs


@contextmanager
def pixels_at_hand(
    geometry: Geometry,
    height: int,
    width: int,
    window: np.ndarray,
    origin: tuple[int, int],
    edited: tuple[Geometry, Box] | None = None,
) -> Iterator[None]:
    """While the block runs, a `Region` of `geometry` cuts its crops from `window` (0/1 uint8, image pixel
    `origin` at its (0, 0), every pixel of the geometry inside it) instead of decoding its runs: the brush
    holds the new mask when it puts it, and the canvas drawing it then would decode it again (2.7 ms for
    the largest instance of bench/edit.py, a 930x2685 crop). `edited`: the geometry it was and the box of
    the pixels that changed, so that its outline is traced again only there (`outline_edited_from`).
    Dropped after the block: the geometry never keeps an array (see the module's docstring)."""
    key = (PIXELS_AT_HAND, height, width)
    geometry.derived[key] = (window, origin, edited)
    try:
        yield
    finally:
        geometry.derived.pop(key, None)


def mask_crop(mask: Mask) -> Crop:
    """A mask's pixels in its box, read from its runs: never an image-sized array, so a one-pixel mask on
    a 15000x16000 image costs microseconds, not a 240 MB decode."""
    column, row_start, row_end = mask_pieces(mask.rle.counts, mask.rle.height, mask.rle.width)
    if column.size == 0:
        return EMPTY_CROP
    return _pieces_crop(column, row_start, row_end)


COVERS_BY_RINGS_PX = 1_000_000  # a polygon's box larger than this is hit-tested by its rings until decoded


def _inside_rings(polygons: Polygons, height: int, width: int, x: float, y: float) -> bool:
    """Whether the centre of pixel (floor x, floor y) is inside one of the rings (each even-odd)."""
    column, row = int(np.floor(x)), int(np.floor(y))
    if not (0 <= column < width and 0 <= row < height):
        return False
    if not polygons.is_near(height, width):
        polygons = polygons.clipped(height, width)
        if polygons is None:
            return False
    centre = (column + 0.5, row + 0.5)
    return any(cv2.pointPolygonTest(ring.astype(np.float32), centre, False) >= 0 for ring in polygons.rings)


SPARSE_BOX = 1 << 22  # a mask box of more pixels than this, and mostly empty, is cut along its parts
SPARSE_RATIO = 16  # "mostly empty": the box holds more than this many times the mask's pixels
PART_CELL = 256  # parts whose boxes start in one cell of this many pixels square share a crop


def mask_crops(mask: Mask) -> list[Crop]:
    """A mask's pixels as crops that hold each pixel once: its box as one crop, unless that box is large
    and mostly empty (dots at opposite corners of a 15000x16000 image: a 229 MB crop for two pixels). Then
    its 8-connected parts, found from the runs, are grouped by where their boxes start, one crop per
    group holding only that group's parts: work and memory follow the parts' boxes, not the mask's."""
    column, row_start, row_end = mask_pieces(mask.rle.counts, mask.rle.height, mask.rle.width)
    if column.size == 0:
        return []
    box = (int(column.max()) - int(column.min()) + 1) * (int(row_end.max()) - int(row_start.min()))
    if not _cut_along_parts(box, int((row_end - row_start).sum())):
        return [_pieces_crop(column, row_start, row_end)]  # the pieces at hand: no second decode
    label = run_components(np.zeros_like(column), column, row_start, row_end)
    parts, part_of = np.unique(label, return_inverse=True)
    left = np.full(parts.size, np.iinfo(np.int64).max)
    top = left.copy()
    np.minimum.at(left, part_of, column)
    np.minimum.at(top, part_of, row_start)
    cell = (left // PART_CELL) * (mask.rle.height // PART_CELL + 1) + top // PART_CELL
    group = np.unique(cell, return_inverse=True)[1][part_of]
    order = np.argsort(group, kind="stable")  # keeps each group's pieces by column, then row
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    return [_pieces_crop(column[i], row_start[i], row_end[i]) for i in np.split(order, bounds)]


def _cut_along_parts(box: int, pixels: int) -> bool:
    """Whether a mask of `pixels` pixels in a box of `box` pixels is held as one crop per group of parts:
    its box is large and mostly empty."""
    return box > SPARSE_BOX and box > SPARSE_RATIO * pixels


def _pieces_crop(column: np.ndarray, row_start: np.ndarray, row_end: np.ndarray) -> Crop:
    """Column segments (apart from each other, as a mask's runs are, by column then row) filled into their
    box: by pycocotools' `rleDecode` where at hand (the box's own runs, written in C without the GIL),
    else by a running sum in numpy."""
    x0, y0 = int(column.min()), int(row_start.min())
    width, height = int(column.max()) - x0 + 1, int(row_end.max()) - y0
    if coco_native.available():
        begin = (column - x0) * height + (row_start - y0)
        end = begin + (row_end - row_start)
        counts = np.empty(2 * begin.size + 1, np.int64)
        counts[0], counts[-1] = begin[0], width * height - end[-1]
        counts[1::2] = end - begin
        counts[2:-1:2] = begin[1:] - end[:-1]
        if counts.min() >= 0:  # in order and apart: what C is given never writes past the crop
            return Crop(x0, y0, coco_native.decode_counts(counts, height, width))
    stride = height + 1  # a spare row per column: one column's last end never meets the next one's start
    marks = np.zeros(width * stride + 1, np.int8)
    base = (column - x0) * stride - y0
    marks[base + row_start] = 1
    marks[base + row_end] = -1
    filled = np.cumsum(marks[:-1], dtype=np.int8).view(np.uint8).reshape(width, stride)[:, :height]
    return Crop(x0, y0, np.ascontiguousarray(filled.T))


def traced_polygons(mask: Mask, **options) -> PolygonConversion:
    """`mask_to_polygons` of a mask, traced on its crop (with a blank pixel around it) and moved back into
    the image: the same polygons and IoU as tracing the whole image, since pycocotools rasterises a shift
    by whole pixels exactly, in time and memory proportional to the mask's box. A large, mostly empty box
    is traced crop by crop (`mask_crops`): the same rings (parts are traced apart anyway), in another
    order, and the IoU of all crops together."""
    crops = mask_crops(mask)
    if not crops:
        return mask_to_polygons(np.zeros((1, 1), np.uint8), **options)
    if len(crops) == 1:
        return _traced_crop(crops[0], **options)
    rings: list[np.ndarray] = []
    holes = dropped = 0
    for crop in crops:
        traced = _traced_crop(crop, **options)
        holes, dropped = holes + traced.hole_count, dropped + traced.dropped_parts
        if traced.polygons is not None:
            rings.extend(traced.polygons.rings)
    if holes and not options.get("fill_holes", False):
        return PolygonConversion(None, 0.0, holes, 0)
    if not rings:
        return PolygonConversion(None, 0.0, holes, dropped)
    polygons = Polygons(tuple(rings))
    # The IoU of all rings together, on run-length encodings (memory in runs, not pixels): a part in
    # another's filled hole is covered twice, which summing the crops' own IoUs would count twice.
    back = polygons.to_rle(mask.rle.height, mask.rle.width).as_coco()
    iou = float(mask_utils.iou([back], [mask.rle.as_coco()], [0])[0][0])
    return PolygonConversion(polygons, iou, holes, dropped)


def _traced_crop(crop: Crop, **options) -> PolygonConversion:
    traced = mask_to_polygons(np.pad(crop.mask, 1), **options)
    if traced.polygons is None:
        return traced
    shift = np.array([crop.x0 - 1, crop.y0 - 1], np.float64)
    return replace(traced, polygons=Polygons(tuple(ring + shift for ring in traced.polygons.rings)))


def _crop_of(full: np.ndarray) -> Crop:
    ys, xs = np.nonzero(full.any(axis=1))[0], np.nonzero(full.any(axis=0))[0]
    if not len(ys):
        return EMPTY_CROP
    y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
    return Crop(int(x0), int(y0), np.ascontiguousarray(full[y0:y1, x0:x1]))


def _polygon_crop(polygons: Polygons, height: int, width: int) -> Crop:
    # pycocotools scales vertices by 5 and rounds, so an integer shift of all vertices shifts the
    # raster exactly: rasterising in a window that only the image border clips gives the same pixels.
    if not polygons.is_near(height, width):
        clipped = polygons.clipped(height, width)
        if clipped is None:
            return EMPTY_CROP
        polygons = clipped
    x0f, y0f, x1f, y1f = polygons.extent
    x0 = int(np.clip(np.floor(x0f) - 1, 0, width))
    y0 = int(np.clip(np.floor(y0f) - 1, 0, height))
    x1 = int(np.clip(np.ceil(x1f) + 2, 0, width))
    y1 = int(np.clip(np.ceil(y1f) + 2, 0, height))
    w, h = x1 - x0, y1 - y0
    if w <= 0 or h <= 0:
        return EMPTY_CROP
    shifted = [_shifted(ring, x0, y0) for ring in polygons.rings]
    # pycocotools clips at the window; where the window edge is not the image edge nothing is outside.
    if coco_native.available():  # the same C code, without the GIL (two threads decode side by side)
        return Crop(x0, y0, coco_native.polygon_mask(shifted, h, w))
    rles = mask_utils.frPyObjects([ring.ravel() for ring in shifted], h, w)
    merged = mask_utils.merge(rles) if len(rles) > 1 else rles[0]
    return Crop(x0, y0, np.ascontiguousarray(mask_utils.decode(merged)))


def _shifted(ring: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """`ring` moved by (-x0, -y0) so that pycocotools gives the window exactly the whole image's raster.

    pycocotools rounds each coordinate to `(int)(5 v + 0.5)`; subtracting first (42.3 - 18) can land on
    the other side of a half and move an edge by a pixel. So the whole image's rounded values are taken,
    shifted as integers and handed over as integer / 5, which round back to exactly those integers. An axis
    with no shift keeps its values (the window then starts at 0, where negative values truncate toward 0).
    """
    out = ring.copy()
    for axis, offset in ((0, x0), (1, y0)):
        if offset:
            out[:, axis] = (np.trunc(ring[:, axis] * 5.0 + 0.5) - 5 * offset) / 5.0
    return out


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), image pixels


def changed_box(old: Region, new: Region) -> Box | None:
    """The box of what differs between two regions of one image: for polygons, of the vertices that
    moved and their neighbours (an outline can move by less than a pixel, and the pixels change only
    there); else of the pixels one covers and the other does not. None when they are the same. A view
    repaints only this after an edit (a brush dab on a large instance changes a few hundred pixels of a
    million); conservative (both regions' boxes) when the crops lie too far apart to compare cheaply.
    Kept on `new` for `old` (weakly): the instance's item and its selection mark ask about the same edit."""
    memo = new._changed_from
    if memo is not None and memo[0]() is old:
        return memo[1]
    if isinstance(old.geometry, Polygons) and isinstance(new.geometry, Polygons):
        box = _vertex_change(old.geometry, new.geometry)  # the pixels change only between moved edges
    else:
        # an editor's box outside which no pixel changed: a stroke's release compared the largest
        # instance's crops whole (2 ms)
        edited = new._edited_from(old)
        box = (
            _pixel_change(old.crops, new.crops)
            if edited is None
            else _differ_in(old.crops, new.crops, edited)
        )
    new._changed_from = (weakref.ref(old), box)
    return box


def _differ_in(old: tuple[Crop, ...], new: tuple[Crop, ...], box: Box) -> Box | None:
    """The box of the pixels that one side's crops cover and the other's do not, looked at in `box`."""
    x0, y0, x1, y1 = box
    frames = []
    for side in (old, new):
        frame = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        for crop in side:
            h, w = crop.mask.shape
            cx0, cy0 = max(x0, crop.x0), max(y0, crop.y0)
            cx1, cy1 = min(x1, crop.x0 + w), min(y1, crop.y0 + h)
            if cx0 < cx1 and cy0 < cy1:
                frame[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] |= crop.mask[
                    cy0 - crop.y0 : cy1 - crop.y0, cx0 - crop.x0 : cx1 - crop.x0
                ].astype(bool)
        frames.append(frame)
    return _box_of(frames[0] != frames[1], x0, y0)


def _pixel_change(old: tuple[Crop, ...], new: tuple[Crop, ...]) -> Box | None:
    crops = [crop for crop in (*old, *new) if crop.mask.size]
    if not crops:
        return None
    x0, y0 = min(c.x0 for c in crops), min(c.y0 for c in crops)
    x1 = max(c.x0 + c.mask.shape[1] for c in crops)
    y1 = max(c.y0 + c.mask.shape[0] for c in crops)
    if (x1 - x0) * (y1 - y0) > 4 * sum(c.mask.size for c in crops) + 4096:
        return (x0, y0, x1, y1)  # far-apart parts: a frame around them all would be mostly empty
    if (
        len(old) == len(new) == 1
        and (old[0].x0, old[0].y0) == (new[0].x0, new[0].y0)
        and (old[0].mask.shape == new[0].mask.shape)
    ):
        return _box_of(old[0].mask != new[0].mask, x0, y0)
    return _differ_in(old, new, (x0, y0, x1, y1))


def _box_of(differ: np.ndarray, x0: int, y0: int) -> Box | None:
    rows, cols = np.flatnonzero(differ.any(axis=1)), np.flatnonzero(differ.any(axis=0))
    if not len(rows):
        return None
    return (x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)


def _vertex_change(old: Polygons, new: Polygons) -> Box | None:
    """The box of the moved vertices and their neighbours (all of both when the rings differ in count);
    None if none moved."""
    if [len(r) for r in old.rings] != [len(r) for r in new.rings]:
        return _points_box([*old.rings, *new.rings])
    moved = []
    for a, b in zip(old.rings, new.rings, strict=True):
        index = np.flatnonzero((a != b).any(axis=1))
        if len(index):
            near = np.unique(np.concatenate([index - 1, index, index + 1]) % len(a))
            moved += [a[near], b[near]]
    return _points_box(moved) if moved else None


def _points_box(points: list[np.ndarray]) -> Box:
    every = np.concatenate(points)
    low, high = np.floor(every.min(axis=0)), np.ceil(every.max(axis=0))
    return (int(low[0]), int(low[1]), int(high[0]) + 1, int(high[1]) + 1)
