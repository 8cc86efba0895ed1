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

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from pycocotools import mask as mask_utils

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
from annotator.core.mask_parts import MaskAtlas


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

    @cached_property
    def crop(self) -> Crop:
        """The pixels pycocotools gives this geometry, cropped to their box."""
        if isinstance(self.geometry, Mask):
            return mask_crop(Mask(self.rle))  # `rle` checks the mask's size against the image's
        return _polygon_crop(self.geometry, self.height, self.width)

    @cached_property
    def outline(self) -> tuple[np.ndarray, ...]:
        """Rings to stroke, in image coordinates: a polygon's own rings; a mask's boundary along pixel
        edges (every ring of it, holes included)."""
        if isinstance(self.geometry, Polygons):
            return self.geometry.rings
        crop = self.crop
        if crop.empty:
            return ()
        return tuple(trace_rings(crop.mask, offset=(crop.x0, crop.y0), holes=True))

    def covers(self, x: float, y: float) -> bool:
        return self.crop.covers(x, y)


def mask_crop(mask: Mask) -> Crop:
    """A mask's pixels in its box, read from its runs: never an image-sized array, so a one-pixel mask on
    a 15000x16000 image costs microseconds, not a 240 MB decode."""
    atlas = MaskAtlas([mask.rle.counts], [mask.rle.height])
    x0, y0 = (int(v) for v in atlas.boxes[0][:2])
    if x0 < 0:
        return EMPTY_CROP
    return Crop(x0, y0, np.ascontiguousarray(atlas.crop(0)))


def traced_polygons(mask: Mask, **options) -> PolygonConversion:
    """`mask_to_polygons` of a mask, traced on its crop (with a blank pixel around it) and moved back into
    the image: the same polygons and IoU as tracing the whole image, since pycocotools rasterises a shift
    by whole pixels exactly, in time and memory proportional to the mask's box."""
    crop = mask_crop(mask)
    if crop.empty:
        return mask_to_polygons(np.zeros((1, 1), np.uint8), **options)
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
    shifted = [(ring - (x0, y0)).ravel() for ring in polygons.rings]
    # pycocotools clips at the window; where the window edge is not the image edge nothing is outside.
    rles = mask_utils.frPyObjects(shifted, h, w)
    merged = mask_utils.merge(rles) if len(rles) > 1 else rles[0]
    return Crop(x0, y0, np.ascontiguousarray(mask_utils.decode(merged)))
