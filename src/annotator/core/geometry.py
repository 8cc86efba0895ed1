"""Instance geometry: polygons (COCO union of outer rings) or an RLE mask, and the conversions between them.

Model masks stay RLE, which is exact; polygons are rasterised the way pycocotools does on export, so what
the canvas shows is what `annToMask` gives back. Mask-to-polygon conversion traces pixel edges (see
`mask_to_polygons`) and refuses to fill holes unless asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from pycocotools import mask as mask_utils

_RLE_ALPHABET = bytes(range(48, 112))  # pycocotools writes each 6-bit group as chr(48 + value)


class GeometryError(ValueError):
    """Geometry that cannot describe a region: too few points, non-finite values, wrong size."""


@dataclass(frozen=True)
class Rle:
    """A COCO run-length encoded mask with compressed (string) counts, as pycocotools stores it."""

    height: int
    width: int
    counts: bytes

    def as_coco(self) -> dict:
        return {"size": [self.height, self.width], "counts": self.counts}


@dataclass(frozen=True, eq=False)
class Polygons:
    """One or more outer rings, each an (N, 2) float64 array of x, y; the region is their union."""

    rings: tuple[np.ndarray, ...]
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        rings = tuple(_checked_ring(ring) for ring in self.rings)
        if not rings:
            raise GeometryError("a polygon geometry needs at least one ring")
        object.__setattr__(self, "rings", rings)

    @classmethod
    def from_flat(cls, flat_rings: list[list[float]]) -> Polygons:
        """From COCO's `[[x1, y1, x2, y2, ...], ...]`."""
        rings = []
        for flat in flat_rings:
            values = np.asarray(flat, dtype=np.float64)
            if values.ndim != 1 or values.size % 2:
                raise GeometryError(f"a polygon ring needs an even number of values, got {values.size}")
            rings.append(values.reshape(-1, 2))
        return cls(tuple(rings))

    def to_flat(self) -> list[list[float]]:
        return [ring.ravel().tolist() for ring in self.rings]

    @property
    def derived(self) -> dict:
        """Results derived from this (immutable) geometry, kept with it: see `core.region`."""
        return self._cache

    def to_rle(self, height: int, width: int) -> Rle:
        key = ("rle", height, width)
        if key not in self._cache:
            _check_size(height, width)
            source = self if self.is_near(height, width) else self.clipped(height, width)
            if source is None:
                self._cache[key] = Mask.from_array(np.zeros((height, width), np.uint8)).rle
                return self._cache[key]
            # flat float64 arrays: pycocotools reads them as they are (a list would be converted first)
            parts = mask_utils.frPyObjects([ring.ravel() for ring in source.rings], height, width)
            merged = mask_utils.merge(parts) if len(parts) > 1 else parts[0]
            self._cache[key] = Rle(height, width, merged["counts"])
        return self._cache[key]

    def is_near(self, height: int, width: int) -> bool:
        """True when no vertex lies more than an image size outside the image.

        pycocotools rasterises such polygons exactly as given; far beyond that its integer arithmetic
        overflows (a vertex at 1e9 crashes the process), so those are clipped first.
        """
        margin = max(height, width, 1)
        x0, y0, x1, y1 = self.extent
        return min(x0, y0) >= -margin and x1 <= width + margin and y1 <= height + margin

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of all vertices, computed once."""
        if "extent" not in self._cache:
            points = self.rings[0] if len(self.rings) == 1 else np.concatenate(self.rings)
            (x0, y0), (x1, y1) = points.min(axis=0).tolist(), points.max(axis=0).tolist()
            self._cache["extent"] = (x0, y0, x1, y1)
        return self._cache["extent"]

    def clipped(self, height: int, width: int) -> Polygons | None:
        """The same region inside the image, with every ring clipped to the image (plus one pixel);
        None when nothing of it is inside."""
        rings = [_clip_ring(ring, -1.0, -1.0, width + 1.0, height + 1.0) for ring in self.rings]
        rings = [ring for ring in rings if len(ring) >= 3]
        return Polygons(tuple(rings)) if rings else None

    def bbox(self, height: int, width: int) -> tuple[float, float, float, float]:
        """COCO `[x, y, w, h]` of the vertices, clipped to the image (as COCO ground truth is made)."""
        key = ("bbox", height, width)
        if key not in self._cache:
            x0, y0, x1, y1 = self.extent
            x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
            y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
            self._cache[key] = (x0, y0, x1 - x0, y1 - y0)
        return self._cache[key]

    @property
    def vertex_count(self) -> int:
        return sum(len(ring) for ring in self.rings)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Polygons) or len(other.rings) != len(self.rings):
            return False
        return all(np.array_equal(a, b) for a, b in zip(self.rings, other.rings, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(ring.tobytes() for ring in self.rings))


@dataclass(frozen=True)
class Mask:
    """A bitmap region, kept as RLE; exact, and able to hold holes."""

    rle: Rle
    _cache: dict = field(default_factory=dict, repr=False, compare=False, hash=False)

    @property
    def derived(self) -> dict:
        """Results derived from this (immutable) geometry, kept with it: see `core.region`."""
        return self._cache

    @classmethod
    def from_array(cls, mask: np.ndarray) -> Mask:
        if mask.ndim != 2:
            raise GeometryError(f"a mask must be 2-D, got shape {mask.shape}")
        encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8, copy=False)))
        return cls(Rle(int(mask.shape[0]), int(mask.shape[1]), encoded["counts"]))

    @classmethod
    def from_coco_rle(cls, rle: dict) -> Mask:
        """From a COCO RLE dict with string (compressed) or list (uncompressed) counts."""
        try:
            height, width = (int(v) for v in rle["size"])
            counts = rle["counts"]
        except (KeyError, TypeError, ValueError) as exc:
            raise GeometryError(f"an RLE needs 'size' [h, w] and 'counts': {exc}") from None
        if height < 0 or width < 0:
            raise GeometryError(f"an RLE size must not be negative, got {[height, width]}")
        if isinstance(counts, list):
            if not all(isinstance(c, int) and c >= 0 for c in counts):
                raise GeometryError("uncompressed RLE counts must be non-negative integers")
            if sum(counts) != height * width:
                raise GeometryError(f"RLE counts sum to {sum(counts)}, but the size is {height}x{width}")
            compressed = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
            return cls(Rle(height, width, compressed["counts"]))
        if isinstance(counts, str):
            counts = counts.encode("latin-1", errors="replace")
        if not isinstance(counts, bytes):
            raise GeometryError(f"RLE counts must be a string or a list, got {type(counts).__name__}")
        if counts.translate(None, _RLE_ALPHABET):
            raise GeometryError("RLE counts string has characters pycocotools never writes")
        checked = Rle(height, width, counts)
        total = _decoded_pixel_count(checked)
        if total != height * width:
            raise GeometryError(f"RLE counts cover {total} pixels, but the size is {height}x{width}")
        return cls(checked)

    def to_array(self) -> np.ndarray:
        return mask_utils.decode(self.rle.as_coco())

    def to_rle(self, height: int, width: int) -> Rle:
        if (height, width) != (self.rle.height, self.rle.width):
            raise GeometryError(
                f"mask is {self.rle.height}x{self.rle.width}, but the image is {height}x{width}"
            )
        return self.rle

    def bbox(self, height: int, width: int) -> tuple[float, float, float, float]:
        return tuple(float(v) for v in mask_utils.toBbox(self.to_rle(height, width).as_coco()))


Geometry = Polygons | Mask


def area(geometry: Geometry, height: int, width: int) -> int:
    """Pixel count of the region as pycocotools rasterises it: what `annToMask(...).sum()` gives; kept
    with the geometry, so importing and exporting the same instance rasterises it once."""
    key = ("area", height, width)
    value = geometry.derived.get(key)
    if value is None:
        value = geometry.derived[key] = int(mask_utils.area(geometry.to_rle(height, width).as_coco()))
    return value


def remember_area(geometry: Geometry, height: int, width: int, value: int) -> None:
    """Keep an area computed elsewhere (`core.areas`, in another process) as `area` would have."""
    geometry.derived[("area", height, width)] = int(value)


def to_mask_array(geometry: Geometry, height: int, width: int) -> np.ndarray:
    return mask_utils.decode(geometry.to_rle(height, width).as_coco())


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@dataclass(frozen=True)
class PolygonConversion:
    """The result of turning a mask into polygons, with what it cost, so the caller can tell the user."""

    polygons: Polygons | None
    iou: float
    hole_count: int
    dropped_parts: int


def mask_to_polygons(
    mask: np.ndarray, *, tolerance: float = 0.0, fill_holes: bool = False, min_area: float = 0.0
) -> PolygonConversion:
    """Trace a binary mask's outer boundaries as polygons that pycocotools rasterises back to the mask.

    Contours are traced on a 2x upsampled mask, so each ring runs a quarter pixel inside the pixel edges
    and every boundary pixel centre (the point pycocotools tests) stays inside: IoU is 1.0 at tolerance 0
    except for pixels touching only at a corner. With holes, no polygons are returned (`polygons` is None)
    unless `fill_holes` is set: COCO polygons cannot carry holes.
    """
    binary = (np.asarray(mask) > 0).astype(np.uint8)
    contours, hierarchy = _contours(binary)
    hole_count = 0 if hierarchy is None else int((hierarchy[0][:, 3] >= 0).sum())
    if hole_count and not fill_holes:
        return PolygonConversion(None, 0.0, hole_count, 0)
    rings, dropped = [], 0
    for index, contour in enumerate(contours):
        if hierarchy[0][index][3] >= 0:
            continue
        if tolerance > 0:
            contour = cv2.approxPolyDP(contour, 2 * tolerance, True)
        ring = _ring_of(contour)
        if len(ring) < 3 or cv2.contourArea(ring.astype(np.float32)) <= min_area:
            dropped += 1
            continue
        rings.append(ring)
    if not rings:
        return PolygonConversion(None, 0.0 if binary.any() else 1.0, hole_count, dropped)
    polygons = Polygons(tuple(rings))
    back = to_mask_array(polygons, *binary.shape)
    return PolygonConversion(polygons, mask_iou(back, binary), hole_count, dropped)


def trace_rings(
    mask: np.ndarray, *, offset: tuple[float, float] = (0.0, 0.0), holes: bool
) -> list[np.ndarray]:
    """A binary mask's boundaries as (N, 2) float64 rings, a quarter pixel inside the pixel edges.

    Traced on a 2x upsampled mask, so each ring runs along pixel edges (not through pixel centres) and
    every boundary pixel centre, the point pycocotools tests, stays inside: rasterised back, the rings
    give the mask again. `holes`: the inner boundaries too (an outline to draw); else outer ones only.
    """
    contours, hierarchy = _contours(mask.astype(np.uint8, copy=False))
    rings = []
    for index, contour in enumerate(contours):
        if not holes and hierarchy[0][index][3] >= 0:
            continue
        ring = _ring_of(contour) + offset
        if len(ring) >= 2:
            rings.append(ring)
    return rings


def _contours(binary: np.ndarray) -> tuple:
    up = cv2.resize(binary, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    return cv2.findContours(up, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)


def _ring_of(contour: np.ndarray) -> np.ndarray:
    """A contour of the 2x upsampled mask in image coordinates (the upsampling's pixel-edge convention)."""
    return (contour.reshape(-1, 2).astype(np.float64) + 0.5) / 2.0


def _check_size(height: int, width: int) -> None:
    # pycocotools keeps run lengths in 32-bit integers.
    if not (height >= 0 and width >= 0 and height * width < 2**32):
        raise GeometryError(f"image size {width}x{height} is out of range")


def _clip_ring(ring: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Sutherland-Hodgman: the part of a ring inside an axis-aligned rectangle (any ring, convex or not;
    a concave one may gain zero-width edges along the border, which fill nothing)."""
    points = ring
    for axis, bound, keep_below in ((0, x0, False), (0, x1, True), (1, y0, False), (1, y1, True)):
        if len(points) == 0:
            break
        inside = points[:, axis] <= bound if keep_below else points[:, axis] >= bound
        previous = np.roll(points, 1, axis=0)
        previous_inside = np.roll(inside, 1)
        out = []
        for point, before, now_in, was_in in zip(points, previous, inside, previous_inside, strict=True):
            if now_in != was_in:  # in halves, exactly: 1e308 - -1e308 overflows to inf, then NaN
                half_before, half_point = before / 2, point / 2
                t = (bound / 2 - half_before[axis]) / (half_point[axis] - half_before[axis])
                out.append(2 * (half_before + t * (half_point - half_before)))
            if now_in:
                out.append(point)
        points = np.array(out, dtype=np.float64).reshape(-1, 2)
    return points


def _checked_ring(ring: np.ndarray) -> np.ndarray:
    points = np.array(ring, dtype=np.float64).reshape(-1, 2)
    if len(points) < 3:
        raise GeometryError(f"a polygon ring needs at least 3 points, got {len(points)}")
    if not np.isfinite(points).all():
        raise GeometryError("a polygon ring has a NaN or infinite coordinate")
    points.flags.writeable = False
    return points


def _decoded_pixel_count(rle: Rle) -> int:
    try:
        return _sum_compressed_counts(rle.counts)
    except IndexError:
        raise GeometryError("RLE counts string is malformed") from None


def _sum_compressed_counts(counts: bytes) -> int:
    """Decode pycocotools' LEB128-like string form (see maskApi.c rleFrString) and add the runs."""
    total, values, position = 0, [], 0
    while position < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(counts):
                raise GeometryError("RLE counts string ends inside a number")
            char = counts[position] - 48
            value |= (char & 0x1F) << (5 * shift)
            more = bool(char & 0x20)
            position += 1
            shift += 1
            if not more and char & 0x10:
                value |= -1 << (5 * shift)
        if len(values) > 2:
            value += values[-2]
        if value < 0:
            raise GeometryError("RLE counts string decodes to a negative run")
        values.append(value)
        total += value
    return total
