"""All instances of one image composited into one premultiplied ARGB tile, with OpenCV and numpy.

A tile covers a rectangle of the view at one zoom level, in device pixels: pixel (i, j) of a tile with
origin (ox, oy) at scale s shows the scene point ((ox + i + 0.5) / s, (oy + j + 0.5) / s). Layers are
drawn back to front (painter's algorithm): each fill blended over what lies below with the opacity,
then its outline, antialiased. Fills are the pycocotools-exact mask crops of `core.region.Region`
(computed once per geometry and kept on the layer), sampled nearest. No Qt here: tiles are built in a worker
thread, and redrawn in part (a changed instance's box) on the GUI thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import Enum

import cv2
import numpy as np

from annotator.core.geometry import Geometry, Polygons
from annotator.core.model import Instance, Review, Source
from annotator.core.region import Crop, Region
from annotator.core.rules import is_unreviewed_prediction

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1, half-open, in device pixels
_SHIFT = 3  # cv2 fixed-point bits: vertices at 1/8 pixel
REJECTED_FILL = 0.3  # a rejected instance's fill is this much fainter


class Dash(Enum):
    """Outline styles: solid for people's work, dashed for unreviewed predictions, dotted if rejected."""

    SOLID = "solid"
    DASH = "dash"
    DOT = "dot"


_PATTERNS = {Dash.DASH: (4.0, 2.0), Dash.DOT: (1.0, 2.0)}  # on, off in line widths, as Qt's pens


def dash_of(instance: Instance) -> Dash:
    if instance.review is Review.REJECTED:
        return Dash.DOT
    if is_unreviewed_prediction(instance):
        return Dash.DASH
    return Dash.SOLID


@dataclass(eq=False)
class Layer:
    """What the overlay needs of one instance. Inputs are immutable; the region's mask crop and outline
    are computed on first use (in whichever thread asks first) and kept while the geometry stays."""

    instance_id: int
    key: tuple[int, int]  # (z, id): back to front
    category_id: int
    region: Region
    color: tuple[int, int, int]  # RGB
    fill_alpha: float
    dash: Dash
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 of the shape, image coordinates
    gui_outline: object = field(default=None, repr=False)  # the GUI's `Outline`, made on hover
    pending_score: float | None = None  # an unreviewed prediction's score (the score filter hides it)

    @property
    def geometry(self) -> Geometry:
        return self.region.geometry

    @property
    def fill(self) -> Crop:
        return self.region.crop

    @property
    def rings(self) -> tuple[np.ndarray, ...]:
        """Outline rings in image coordinates: the polygon, or the mask's traced boundary."""
        return self.region.outline

    def covers(self, x: float, y: float) -> bool:
        """Whether image pixel (floor x, floor y) belongs to the instance (see `Region.covers`)."""
        x0, y0, x1, y1 = self.box
        return x0 - 1 <= x <= x1 + 1 and y0 - 1 <= y <= y1 + 1 and self.region.covers(x, y)

    def device_box(self, scale: float, pad: int) -> Rect:
        x0, y0, x1, y1 = self.box
        return (
            math.floor(x0 * scale) - pad,
            math.floor(y0 * scale) - pad,
            math.ceil(x1 * scale) + pad,
            math.ceil(y1 * scale) + pad,
        )


def make_layer(
    instance: Instance,
    color: tuple[int, int, int],
    image_size: tuple[int, int],
    *,
    opacity: float,
    previous: Layer | None = None,
    region: Region | None = None,
) -> Layer:
    """The layer for `instance`; the region (crop, outline) of `previous` is kept if the geometry is,
    else `region` (made ahead, its crop perhaps decoded) if it is of this geometry."""
    alpha = max(0.0, min(1.0, opacity))
    if instance.review is Review.REJECTED:
        alpha *= REJECTED_FILL
    same = previous is not None and previous.geometry is instance.geometry
    if same:
        region, box = previous.region, previous.box
    else:
        width, height = image_size
        if region is None or region.geometry is not instance.geometry or region.width != width:
            region = Region(instance.geometry, height, width)
        bx, by, bw, bh = region.bbox
        box = (bx, by, bx + bw, by + bh)
    return Layer(
        instance.id,
        (instance.z, instance.id),
        instance.category_id,
        region,
        color,
        alpha,
        dash_of(instance),
        box,
        previous.gui_outline if same else None,
        pending_score(instance),
    )


def pending_score(instance: Instance) -> float | None:
    """An unreviewed prediction's score (what the score filter compares); None for anything else."""
    if is_unreviewed_prediction(instance):
        return 0.0 if instance.score is None else instance.score
    return None


def outline_pad(line_width: float) -> int:
    """Device pixels an outline may reach beyond the shape's box."""
    return math.ceil(line_width) + 2


def intersect(a: Rect, b: Rect) -> Rect | None:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def rect_minus(a: Rect, b: Rect) -> list[Rect]:
    """`a` less `b`: up to four rectangles (a band above, one below, one each side)."""
    inner = intersect(a, b)
    if inner is None:
        return [a]
    x0, y0, x1, y1 = a
    ix0, iy0, ix1, iy1 = inner
    parts = [(x0, y0, x1, iy0), (x0, iy1, x1, y1), (x0, iy0, ix0, iy1), (ix1, iy0, x1, iy1)]
    return [part for part in parts if part[0] < part[2] and part[1] < part[3]]


def compose(
    buffer: np.ndarray,
    rect: Rect,
    origin: tuple[int, int],
    scale: float,
    layers: Sequence[Layer],
    *,
    line_width: float,
) -> None:
    """Clear `buffer[rect]` (buffer pixels) and draw `layers` into it, back to front.

    What can be prepared for all layers at once is (which mask cell each device pixel shows, every
    outline in fixed point): per layer only OpenCV's calls remain, which release the GIL
    (docs/decisions/0020, lever 19)."""
    x0, y0, x1, y1 = rect
    if x0 >= x1 or y0 >= y1:
        return
    roi = buffer[y0:y1, x0:x1]
    roi[:] = 0
    gx, gy = origin[0] + x0, origin[1] + y0
    area = (gx, gy, gx + x1 - x0, gy + y1 - y0)
    seen = _reaching(layers, area, scale, outline_pad(line_width))
    if not seen:
        return
    grid = _Grid(gx, gy, x1 - x0, y1 - y0, scale)
    lines = _all_lines(seen, gx, gy, scale, line_width)
    shapes = _all_shapes(seen, gx, gy, scale) if scale < VERTEX_FILL_BELOW else {}
    inside = grid.inside(seen[0].region.width, seen[0].region.height) if shapes else None
    for layer in seen:
        if layer.fill_alpha <= 0:
            pass
        elif fills_by_vertices(layer, scale):
            if inside is not None and id(layer) in shapes:
                _blend_shape(roi, inside, layer, shapes[id(layer)])
        else:
            for fill in layer.region.crops:  # one, or a sparse mask's groups of parts
                _blend_crop(roi, grid, layer, fill)
        _stroke(roi, layer, lines.get(id(layer)), line_width)


def _reaching(layers: Sequence[Layer], area: Rect, scale: float, pad: int) -> list[Layer]:
    """The layers whose padded device box meets `area`, in order. In numpy for many layers: a loop over
    500 cost about 0.7 ms, and an edit's strips compose five or six rectangles on the GUI thread."""
    if len(layers) < 64:
        return [layer for layer in layers if intersect(layer.device_box(scale, pad), area) is not None]
    x0, y0, x1, y1 = _device_boxes(layers, scale, pad).T
    meets = (np.maximum(x0, area[0]) < np.minimum(x1, area[2])) & (
        np.maximum(y0, area[1]) < np.minimum(y1, area[3])
    )
    return [layers[i] for i in np.flatnonzero(meets)]


def _device_boxes(layers: Sequence[Layer], scale: float, pad: int) -> np.ndarray:
    """Each layer's `device_box(scale, pad)` as a row of an (n, 4) float array."""
    scaled = np.array([layer.box for layer in layers], np.float64) * scale
    return np.concatenate([np.floor(scaled[:, :2]) - pad, np.ceil(scaled[:, 2:]) + pad], 1)


class _Grid:
    """The image cell each device pixel of a rectangle shows: column `floor((gx + i + 0.5) / scale)`
    for pixel i, likewise for rows. Made once per rectangle; a crop then needs two binary searches and
    a subtraction per axis, where computing its indices anew cost 12 us per axis in numpy's overhead."""

    def __init__(self, gx: int, gy: int, width: int, height: int, scale: float) -> None:
        self.gx, self.gy, self.unit = gx, gy, scale == 1.0
        self.columns = np.floor((np.arange(gx, gx + width) + 0.5) / scale).astype(np.intp)
        self.rows = np.floor((np.arange(gy, gy + height) + 0.5) / scale).astype(np.intp)

    def inside(self, width: int, height: int) -> Rect | None:
        """The rectangle's pixels (its own coordinates) that show cells of a `width` x `height` image."""
        columns = _along(self.columns, self.gx, 0, width, self.unit)
        rows = _along(self.rows, self.gy, 0, height, self.unit)
        if columns is None or rows is None:
            return None
        return columns[0], rows[0], columns[0] + _count(columns[1]), rows[0] + _count(rows[1])

    def sample(self, crop: Crop) -> tuple[int, int, np.ndarray | slice, np.ndarray | slice] | None:
        """The device pixels showing cells of `crop`: the first one's row and column in the rectangle,
        and the crop's row and column of each (slices at 1:1)."""
        h, w = crop.mask.shape
        rows = _along(self.rows, self.gy, crop.y0, h, self.unit)
        columns = _along(self.columns, self.gx, crop.x0, w, self.unit)
        if rows is None or columns is None:
            return None
        return rows[0], columns[0], rows[1], columns[1]


def _along(cells: np.ndarray, g0: int, start: int, size: int, unit: bool):
    """Pixels along one axis whose cell lies in [start, start + size): the first pixel's index and each
    one's cell less `start` (a slice at 1:1, where a pixel is its cell)."""
    if unit:
        lo, hi = max(start - g0, 0), min(start + size - g0, len(cells))
        return None if lo >= hi else (lo, slice(lo + g0 - start, hi + g0 - start))
    lo = int(cells.searchsorted(start))
    hi = int(cells.searchsorted(start + size))
    return None if lo >= hi else (lo, cells[lo:hi] - start)


def _count(index: np.ndarray | slice) -> int:
    return index.stop - index.start if isinstance(index, slice) else len(index)


def _blend_crop(roi: np.ndarray, grid: _Grid, layer: Layer, fill: Crop) -> None:
    if fill.mask.size == 0:
        return
    found = grid.sample(fill)
    if found is None:
        return
    r0, c0, row_index, col_index = found
    if isinstance(row_index, slice):
        mask = fill.mask[row_index, col_index]
    else:
        mask = fill.mask.take(row_index, axis=0).take(col_index, axis=1)
    region = roi[r0 : r0 + mask.shape[0], c0 : c0 + mask.shape[1]]
    alpha = layer.fill_alpha
    below = cv2.convertScaleAbs(region, alpha=1.0 - alpha)
    cv2.add(below, _premultiplied(layer.color, alpha), dst=region, mask=mask)


VERTEX_FILL_BELOW = 1.0  # zoomed out further, a polygon's fill is rasterised at the tile's resolution


def fills_by_vertices(layer: Layer, scale: float) -> bool:
    """Whether a tile at `scale` fills `layer` from its vertices (`_all_shapes`), needing no mask crop.

    Zoomed out, a device pixel shows one of several image pixels, so sampling pycocotools' mask is
    one choice among many; filling the polygon at the tile's resolution is as faithful, and skips
    decoding the crops: at fit on a 4000x3000 image their pixels are nine times the tile's (80 of a
    switch's 190 ms; docs/decisions/0020, lever 21). They differ only in edge pixels, under the outline.
    From 1:1 in, where a person sees the image's pixels, the fill is the exported mask's, exactly."""
    return scale < VERTEX_FILL_BELOW and isinstance(layer.geometry, Polygons)


def _all_shapes(
    layers: Sequence[Layer], gx: int, gy: int, scale: float
) -> dict[int, tuple[list[np.ndarray], Rect]]:
    """The rings of every layer filled by its vertices, by id(layer), in cv2's fixed point relative to
    (gx, gy), with the device pixels they reach: converted in one numpy pass, as the outlines are
    (`_all_lines`)."""
    rings, owners = [], []
    for layer in layers:
        if layer.fill_alpha <= 0 or not fills_by_vertices(layer, scale):
            continue
        polygons = layer.geometry
        height, width = layer.region.height, layer.region.width
        if not polygons.is_near(height, width):  # far-out vertices would overflow cv2's fixed point
            polygons = polygons.clipped(height, width)
        mine = [] if polygons is None else [ring for ring in polygons.rings if len(ring) >= 3]
        rings += mine
        owners += [id(layer)] * len(mine)
    if not rings:
        return {}
    points = np.concatenate(rings)
    fixed = _fixed(points * scale - (gx + 0.5, gy + 0.5), 0.0)
    sizes = np.array([len(ring) for ring in rings])
    first_of = np.flatnonzero(np.r_[True, np.asarray(owners[1:]) != np.asarray(owners[:-1])])
    starts = np.r_[0, np.cumsum(sizes)[:-1]][first_of]  # each layer's points are one stretch
    low = np.minimum.reduceat(fixed, starts) >> _SHIFT
    high = (np.maximum.reduceat(fixed, starts) >> _SHIFT) + 2
    boxes = np.concatenate([low, high], 1).tolist()
    split = np.split(fixed, np.cumsum(sizes)[:-1])
    out: dict[int, tuple[list[np.ndarray], Rect]] = {}
    ring_ends = [*first_of[1:], len(rings)]
    for begin, end, box in zip(first_of, ring_ends, boxes, strict=True):
        out[owners[begin]] = (split[begin:end], tuple(box))
    return out


def _blend_shape(roi: np.ndarray, inside: Rect, layer: Layer, shape: tuple[list[np.ndarray], Rect]) -> None:
    """Blend a polygon layer's fill, its rings (`_all_shapes`) rasterised in the rectangle's pixels that
    show the image (`inside`): each ring even-odd on its own, the rings' union (as pycocotools)."""
    rings, (bx0, by0, bx1, by1) = shape
    x0, y0 = max(bx0, inside[0]), max(by0, inside[1])
    x1, y1 = min(bx1, inside[2]), min(by1, inside[3])
    if x0 >= x1 or y0 >= y1:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    offset = (-x0 << _SHIFT, -y0 << _SHIFT)
    for ring in rings:  # one call per ring: cv2 fills where rings overlap even-odd, pycocotools their union
        cv2.fillPoly(mask, [ring], 1, cv2.LINE_8, _SHIFT, offset)
    region = roi[y0:y1, x0:x1]
    alpha = layer.fill_alpha
    below = cv2.convertScaleAbs(region, alpha=1.0 - alpha)
    cv2.add(below, _premultiplied(layer.color, alpha), dst=region, mask=mask)


def _premultiplied(color: tuple[int, int, int], alpha: float) -> tuple[int, int, int, int]:
    """`color` at `alpha`, premultiplied BGRA, rounded to whole levels: OpenCV adds a scalar with a
    fraction to 8-bit pixels through a wider type, 30 times slower than whole levels (a zoom step's tile
    spent 40% of its time there; docs/decisions/0020)."""
    red, green, blue = color
    return (round(blue * alpha), round(green * alpha), round(red * alpha), round(255.0 * alpha))


def _pen_offsets(line_width: float) -> tuple[float, ...]:
    """Where each pen pass runs, across the line: cv2's antialiased lines thicker than 1 come out about
    3 px wide and cost 8x more, so two 1 px passes a quarter pixel either side of the line look like Qt's
    2 px cosmetic pen."""
    return (-0.25, 0.25) if line_width >= 1.5 else (0.0,)


# Per pen pass, a layer's lines in cv2's fixed point (rings, or an array of 2-point dashes); closed?
Lines = tuple[list[np.ndarray] | np.ndarray, bool]


def _all_lines(
    layers: Sequence[Layer], gx: int, gy: int, scale: float, line_width: float
) -> dict[int, list[Lines]]:
    """Every layer's outline as cv2 draws it, by id(layer): for each pen pass, its closed rings (solid)
    or dash segments, in fixed point relative to (gx, gy). Converted in one numpy pass over all layers:
    per layer, numpy's call overhead was half of a tile's time spent holding the GIL."""
    offsets = _pen_offsets(line_width)
    out: dict[int, list[Lines]] = {}
    solid = [layer for layer in layers if layer.dash is Dash.SOLID]
    rings, owners = [], []
    for layer in solid:
        mine = [ring for ring in drawn_rings(layer, scale) if len(ring) >= 2]
        rings += mine
        owners += [id(layer)] * len(mine)
    if rings:
        points = np.concatenate(rings)
        cuts = np.cumsum([len(ring) for ring in rings])[:-1]
        passes = [np.split(_fixed(points * scale - (gx + 0.5, gy + 0.5), offset), cuts) for offset in offsets]
        for index, owner in enumerate(owners):
            out.setdefault(owner, [([], True) for _ in offsets])
            for made, fixed in zip(out[owner], passes, strict=True):
                made[0].append(fixed[index])
    for owner, segments in _all_dashes(layers, gx, gy, scale, line_width).items():
        out[owner] = [(_fixed(segments, offset), False) for offset in offsets]  # (K, 2, 2): K lines
    return out


def _fixed(points: np.ndarray, offset: float) -> np.ndarray:
    """Device points moved by `offset` in cv2's fixed point (1/8 pixel)."""
    return np.round((points + offset) * (1 << _SHIFT)).astype(np.int32)


def _device_rings(layer: Layer, gx: int, gy: int, scale: float) -> list[np.ndarray]:
    return [ring * scale - (gx + 0.5, gy + 0.5) for ring in drawn_rings(layer, scale) if len(ring) >= 2]


STRAIGHTEN_BELOW = 1.0  # zoomed out further, a mask's traced outline is drawn straightened (lever 22)


def drawn_rings(layer: Layer, scale: float) -> tuple[np.ndarray, ...]:
    """The outline a tile at `scale` strokes: zoomed out, a mask's traced staircases straightened to
    within half a device pixel (`Region.outline_within`, per power-of-two tolerance so that a few
    zoom levels share one), which no one can tell from the staircase there; from 1:1 in, as traced."""
    if scale >= STRAIGHTEN_BELOW:
        return layer.rings
    return layer.region.outline_within(2.0 ** math.floor(math.log2(0.5 / scale)))


def _all_dashes(
    layers: Sequence[Layer], gx: int, gy: int, scale: float, line_width: float
) -> dict[int, np.ndarray]:
    """The dashes of every dashed or dotted layer, by id(layer), measured in one pass per pattern: one
    pass per layer cost 0.15 ms each in numpy's call overhead, 38 ms of a 150 ms tile at fit with 250
    predictions (docs/decisions/0020-exact-picture-sooner.md)."""
    out = {}
    for style, (on, off) in _PATTERNS.items():
        styled = [layer for layer in layers if layer.dash is style]
        rings, owners = [], []
        for layer in styled:
            mine = _device_rings(layer, gx, gy, scale)
            rings += mine
            owners += [id(layer)] * len(mine)
        if not rings:
            continue
        segments, ring_of = _dashes(rings, on * line_width, off * line_width)
        owner_of = np.asarray(owners)[ring_of] if len(ring_of) else np.zeros(0, np.int64)
        cuts = np.flatnonzero(owner_of[1:] != owner_of[:-1]) + 1
        for part, owner in zip(np.split(segments, cuts), np.split(owner_of, cuts), strict=True):
            if len(owner):
                out[int(owner[0])] = part
    return out


def _stroke(roi: np.ndarray, layer: Layer, lines: list[Lines] | None, line_width: float) -> None:
    """Draw a layer's outline, prepared by `_all_lines` (None: nothing to draw)."""
    if not lines:
        return
    red, green, blue = layer.color
    thickness = max(1, round(line_width) - 1)
    for fixed, closed in lines:
        if len(fixed) and len(fixed[0]):
            cv2.polylines(roi, fixed, closed, (blue, green, red, 255), thickness, cv2.LINE_AA, shift=_SHIFT)


def dash_segments(rings: list[np.ndarray], on: float, off: float) -> np.ndarray:
    """The 'on' parts of a dash pattern along closed rings (see `_dashes`)."""
    return _dashes(rings, on, off)[0]


def _dashes(rings: list[np.ndarray], on: float, off: float) -> tuple[np.ndarray, np.ndarray]:
    """The 'on' parts of a dash pattern along closed rings (lengths in the rings' units), as (K, 2, 2)
    line segments: one array, so cv2 draws them all in one call; and the index in `rings` of each.

    All rings are measured in one pass: laid end to end along one axis with a gap between them, each
    starting its pattern afresh. A mask's outline has many small rings (holes, specks), and one pass
    per ring cost about 0.3 ms each on the GUI thread, most of it numpy's per-call overhead."""
    kept = np.array([i for i, ring in enumerate(rings) if len(ring) >= 2], np.int64)
    rings = [rings[i] for i in kept]
    none = np.zeros((0, 2, 2)), np.zeros(0, np.int64)
    if not rings:
        return none
    closed = [np.vstack([ring, ring[:1]]) for ring in rings]
    counts = np.array([len(c) for c in closed])
    points = np.concatenate(closed)
    period = on + off
    steps = np.hypot(*np.diff(points, axis=0).T)
    last = np.cumsum(counts) - 1  # each ring's closing point
    steps[last[:-1]] = 2 * period  # the gap to the next ring: no dash spans it
    along = np.concatenate([[0.0], np.cumsum(steps)])
    begin = along[last - counts + 1]
    totals = along[last] - begin
    per_ring = np.where(totals > 0, np.ceil(totals / period), 0).astype(np.int64)
    if not per_ring.sum():
        return none
    ring_of = np.repeat(np.arange(len(rings)), per_ring)
    index = np.arange(per_ring.sum()) - np.repeat(np.cumsum(per_ring) - per_ring, per_ring)
    starts = begin[ring_of] + index * period
    ends = np.minimum(starts + on, (begin + totals)[ring_of])
    positions = np.union1d(along, np.concatenate([starts, ends]))
    dash = np.searchsorted(starts, positions, side="right") - 1
    inside = (dash >= 0) & (positions <= ends[dash] + 1e-9)
    positions, dash = positions[inside], dash[inside]
    xy = np.stack([np.interp(positions, along, points[:, 0]), np.interp(positions, along, points[:, 1])], 1)
    same = dash[:-1] == dash[1:]
    return np.stack([xy[:-1][same], xy[1:][same]], 1), kept[ring_of[dash[:-1][same]]]


# -- tiles ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TileSpec:
    """What a tile shows: the visible layers back to front (the selected one among them) over a device
    rectangle at one scale."""

    area: Rect  # device pixels, global (scene * scale)
    scale: float
    layers: tuple[Layer, ...]
    selected: Layer | None
    line_width: float

    def local(self, rect: Rect) -> Rect | None:
        """`rect` (global device pixels) in this tile's buffer pixels, clipped to the tile."""
        clipped = intersect(rect, self.area)
        if clipped is None:
            return None
        ox, oy = self.area[:2]
        return (clipped[0] - ox, clipped[1] - oy, clipped[2] - ox, clipped[3] - oy)

    def selected_area(self) -> Rect | None:
        if self.selected is None:
            return None
        return intersect(self.selected.device_box(self.scale, outline_pad(self.line_width)), self.area)


def same_picture(a: TileSpec, b: TileSpec) -> bool:
    """Whether two specs draw the same tile (and patch): the same rectangle, scale and pen, layer by layer
    the same region (by identity: its geometry), place in z and look, and the same one selected, or none.
    A tile built ahead for one is the other's (`gui.canvas.prefetch`)."""
    if (a.selected is None) != (b.selected is None):
        return False
    if a.selected is not None and (a.selected.region, a.selected.key) != (b.selected.region, b.selected.key):
        return False
    if (a.area, a.scale, a.line_width) != (b.area, b.scale, b.line_width) or len(a.layers) != len(b.layers):
        return False
    return all(
        x.region is y.region
        and (x.key, x.color, x.fill_alpha, x.dash) == (y.key, y.color, y.fill_alpha, y.dash)
        for x, y in zip(a.layers, b.layers, strict=True)
    )


def render_base(buffer: np.ndarray, rect: Rect, spec: TileSpec) -> None:
    """Redraw `rect` (buffer pixels) of the base tile: every layer but the selected one, and inside the
    selected one's box only what lies below it (what lies above goes to the patch, over the selected)."""
    others = [layer for layer in spec.layers if layer is not spec.selected]
    origin = spec.area[:2]
    compose(buffer, rect, origin, spec.scale, others, line_width=spec.line_width)
    selected_area = spec.selected_area()
    if selected_area is None:
        return
    inner = intersect(rect, spec.local(selected_area))
    if inner is not None:
        below = [layer for layer in others if layer.key < spec.selected.key]
        compose(buffer, inner, origin, spec.scale, below, line_width=spec.line_width)


def patch_layers(spec: TileSpec) -> tuple[Rect, list[Layer]] | None:
    """The selected instance's box and the layers above it, or None when none of them reaches into
    the box (then no patch is needed)."""
    area = spec.selected_area()
    if area is None:
        return None
    above = [layer for layer in spec.layers if spec.selected.key < layer.key]
    pad = outline_pad(spec.line_width)
    if not any(intersect(layer.device_box(spec.scale, pad), area) for layer in above):
        return None
    return area, above


def render_patch(spec: TileSpec) -> tuple[Rect, np.ndarray] | None:
    """What lies above the selected instance, inside its box: drawn over the selected instance's item."""
    found = patch_layers(spec)
    if found is None:
        return None
    area, above = found
    buffer = np.zeros((area[3] - area[1], area[2] - area[0], 4), np.uint8)
    compose(
        buffer,
        (0, 0, buffer.shape[1], buffer.shape[0]),
        area[:2],
        spec.scale,
        above,
        line_width=spec.line_width,
    )
    return area, buffer


_helper: ThreadPoolExecutor | None = None  # composites the second band of a tile


def build_tile(spec: TileSpec, *, bands: int = 1) -> tuple[np.ndarray, tuple[Rect, np.ndarray] | None]:
    """A whole tile and its patch (runs in a worker thread). With `bands` 2 the tile's top and bottom
    halves are composited side by side, one in a helper thread: OpenCV's fills and lines release the
    GIL, so on two cores a tile takes about two thirds of the time (docs/decisions/0020)."""
    x0, y0, x1, y1 = spec.area
    buffer = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
    render_bands(buffer, (0, 0, x1 - x0, y1 - y0), spec, bands)
    return buffer, render_patch(spec)


BAND_OVERLAP = 32  # pixels a part of a tile is drawn beyond its edges, so lines cut there come out the same


def build_first(buffer: np.ndarray, spec: TileSpec, first: Rect, *, bands: int = 1):
    """The part of a tile the view shows (`first`, global device pixels), and the patch: shown before
    the rest of the tile is built (runs in a worker thread)."""
    render_bands(buffer, spec.local(first), spec, bands)
    return first, render_patch(spec)


def build_rest(buffer: np.ndarray, spec: TileSpec, first: Rect, *, bands: int = 1) -> np.ndarray:
    """The tile around its first part, in the same buffer (which the GUI thread may be drawing into
    inside `first` meanwhile: each part is drawn in a scratch and copied to its own pixels only)."""
    for part in rect_minus(spec.area, first):
        render_bands(buffer, spec.local(part), spec, bands)
    return buffer


def render_bands(buffer: np.ndarray, rect: Rect, spec: TileSpec, bands: int) -> None:
    """`render_base` of `rect`, in horizontal bands of equal work, all but the first in the helper.

    cv2's antialiased lines start differently when clipped at a band's edge (up to 8 rows from it): each
    band is drawn in a scratch buffer reaching BAND_OVERLAP rows past its cuts, and only its own rows are
    copied, so the tile is the one `render_base` draws in one piece."""
    x0, y0, x1, y1 = rect
    if bands <= 1 or y1 - y0 < 4 * BAND_OVERLAP:
        render_base_exact(buffer, rect, spec)
        return
    decode_fills(spec, rect)
    cuts = band_cuts(rect, spec, bands)
    rects = [(x0, a, x1, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if a < b]
    futures = [_helper_pool().submit(render_base_exact, buffer, band, spec) for band in rects[1:]]
    render_base_exact(buffer, rects[0], spec)
    for future in futures:
        future.result()


def base_part(spec: TileSpec, rect: Rect, *, bands: int = 1) -> np.ndarray:
    """The base tile's pixels in `rect` (global device pixels, inside the tile), to the pixel what
    building the whole tile gives, without its buffer: drawn in one reaching BAND_OVERLAP pixels past
    `rect` (clipped to the tile as the whole tile's scratch would be). Runs in a worker thread while the
    GUI thread may draw into the tile (docs/decisions/0020: a large edit's strips)."""
    x0, y0, x1, y1 = rect
    ax0, ay0, ax1, ay1 = spec.area
    ex0, ey0 = max(x0 - BAND_OVERLAP, ax0), max(y0 - BAND_OVERLAP, ay0)
    ex1, ey1 = min(x1 + BAND_OVERLAP, ax1), min(y1 + BAND_OVERLAP, ay1)
    scratch = np.zeros((ey1 - ey0, ex1 - ex0, 4), np.uint8)
    inner = (x0 - ex0, y0 - ey0, x1 - ex0, y1 - ey0)
    render_bands(scratch, inner, replace(spec, area=(ex0, ey0, ex1, ey1)), bands)
    return scratch[inner[1] : inner[3], inner[0] : inner[2]]


def layer_area(spec: TileSpec, rects: Sequence[Rect]) -> int:
    """Device pixels the layers' boxes cover inside `rects`: how long compositing them takes, roughly
    (in numpy: a loop over 500 layers cost 1.4 ms on the GUI thread, at every large edit)."""
    if not spec.layers or not rects:
        return 0
    boxes = _device_boxes(spec.layers, spec.scale, outline_pad(spec.line_width))
    total = 0
    for x0, y0, x1, y1 in rects:
        w = np.clip(np.minimum(boxes[:, 2], x1) - np.maximum(boxes[:, 0], x0), 0, None)
        h = np.clip(np.minimum(boxes[:, 3], y1) - np.maximum(boxes[:, 1], y0), 0, None)
        total += int((w * h).sum())
    return total


def layers_meeting(spec: TileSpec, rects: Sequence[Rect]) -> int:
    """How many layers' boxes meet one of `rects` (device pixels): compositing costs each of them its
    fill, outline and dashes whatever the area (a 228x121 strip at fit met 50 layers: 12 ms)."""
    if not spec.layers or not rects:
        return 0
    boxes = _device_boxes(spec.layers, spec.scale, outline_pad(spec.line_width))
    meets = np.zeros(len(boxes), bool)
    for x0, y0, x1, y1 in rects:
        meets |= (boxes[:, 0] < x1) & (boxes[:, 2] > x0) & (boxes[:, 1] < y1) & (boxes[:, 3] > y0)
    return int(meets.sum())


def _helper_pool() -> ThreadPoolExecutor:
    global _helper
    if _helper is None:
        _helper = ThreadPoolExecutor(1, thread_name_prefix="compose")
    return _helper


def decode_fills(spec: TileSpec, rect: Rect) -> None:
    """Decode the mask crops the layers in `rect` (buffer pixels) still lack, half of them (by area) in
    the helper thread: pycocotools' rasteriser runs without the GIL here (`core.coco_native`), so a
    switch to an image nobody prefetched decodes its 500 crops in about half the time. Done before
    the bands start, so no crop is decoded twice by two bands."""
    ox, oy = spec.area[:2]
    area = (rect[0] + ox, rect[1] + oy, rect[2] + ox, rect[3] + oy)
    reaching = _reaching(spec.layers, area, spec.scale, outline_pad(spec.line_width))
    todo = [  # a polygon filled by its vertices needs no crop: its outline is its rings
        layer for layer in reaching if not layer.region.decoded and not fills_by_vertices(layer, spec.scale)
    ]
    if len(todo) < 2:
        return
    halves: tuple[list[Layer], list[Layer]] = ([], [])
    spent = [0.0, 0.0]
    for layer in sorted(todo, key=lambda layer: -_box_area(layer)):  # largest first, to the lighter half
        lighter = int(spent[1] < spent[0])
        halves[lighter].append(layer)
        spent[lighter] += _box_area(layer)
    future = _helper_pool().submit(_decode, halves[1])
    _decode(halves[0])
    future.result()


def _box_area(layer: Layer) -> float:
    x0, y0, x1, y1 = layer.box
    return (x1 - x0) * (y1 - y0)


def _decode(layers: Sequence[Layer]) -> None:
    for layer in layers:
        layer.region.crops  # noqa: B018 - decoded once and kept on the region


def render_base_exact(buffer: np.ndarray, rect: Rect, spec: TileSpec) -> None:
    """`render_base` of `rect` as a whole tile draws it: cv2 starts an antialiased line differently
    where it is clipped (up to 8 px from the clip), so the rectangle is drawn in a scratch buffer
    reaching BAND_OVERLAP pixels past each side, and only the rectangle is copied."""
    x0, y0, x1, y1 = rect
    h, w = buffer.shape[:2]
    sx0, sy0 = max(x0 - BAND_OVERLAP, 0), max(y0 - BAND_OVERLAP, 0)
    sx1, sy1 = min(x1 + BAND_OVERLAP, w), min(y1 + BAND_OVERLAP, h)
    scratch = np.zeros((sy1 - sy0, sx1 - sx0, 4), np.uint8)
    ox, oy = spec.area[0] + sx0, spec.area[1] + sy0
    shifted = replace(spec, area=(ox, oy, ox + sx1 - sx0, oy + sy1 - sy0))
    render_base(scratch, (0, 0, sx1 - sx0, sy1 - sy0), shifted)
    buffer[y0:y1, x0:x1] = scratch[y0 - sy0 : y1 - sy0, x0 - sx0 : x1 - sx0]


def compose_exact(
    buffer: np.ndarray,
    rect: Rect,
    origin: tuple[int, int],
    scale: float,
    layers: Sequence[Layer],
    *,
    line_width: float,
) -> None:
    """`compose` of `rect` as composing the whole buffer draws it (see `render_base_exact`)."""
    x0, y0, x1, y1 = rect
    h, w = buffer.shape[:2]
    sx0, sy0 = max(x0 - BAND_OVERLAP, 0), max(y0 - BAND_OVERLAP, 0)
    sx1, sy1 = min(x1 + BAND_OVERLAP, w), min(y1 + BAND_OVERLAP, h)
    scratch = np.zeros((sy1 - sy0, sx1 - sx0, 4), np.uint8)
    shifted = (origin[0] + sx0, origin[1] + sy0)
    compose(scratch, (0, 0, sx1 - sx0, sy1 - sy0), shifted, scale, layers, line_width=line_width)
    buffer[y0:y1, x0:x1] = scratch[y0 - sy0 : y1 - sy0, x0 - sx0 : x1 - sx0]


def band_cuts(rect: Rect, spec: TileSpec, bands: int) -> list[int]:
    """Row cuts (buffer pixels) that split the layers' device area in `rect` into equal shares."""
    x0, y0, x1, y1 = rect
    ox, oy = spec.area[:2]
    weight = np.zeros(y1 - y0 + 1)
    pad = outline_pad(spec.line_width)
    area = (x0 + ox, y0 + oy, x1 + ox, y1 + oy)
    for layer in spec.layers:
        box = intersect(layer.device_box(spec.scale, pad), area)
        if box is not None:
            weight[box[1] - area[1]] += box[2] - box[0]
            weight[box[3] - area[1]] -= box[2] - box[0]
    cumulative = np.cumsum(np.cumsum(weight)[:-1]) + np.arange(1, y1 - y0 + 1)  # rows weigh a little
    shares = cumulative[-1] * np.arange(1, bands) / bands
    inner = [y0 + int(np.searchsorted(cumulative, share)) for share in shares]
    return [y0, *inner, y1]


def warm_up() -> None:
    """Composite a small made-up tile once, in two bands, as the canvas's worker starts: the first tile
    of a session took about 25 ms longer than the next ones (first calls into OpenCV, numpy and the
    mask decoder in these threads; docs/decisions/0020, lever 20)."""
    ring = np.array([[4.0, 4.0], [150.0, 12.0], [120.0, 110.0], [10.0, 90.0]])
    instances = (
        Instance(1, 1, 1, Polygons((ring,))),
        Instance(2, 1, 1, Polygons((ring[::-1] + 8.0,)), source=Source.from_model("warm-up", 0.9)),
    )
    layers = tuple(make_layer(i, (200, 40, 90), (160, 120), opacity=0.5) for i in instances)
    build_tile(TileSpec((0, 0, 208, 156), 1.3, layers, None, 2.0), bands=2)


DASHED_OUTLINE_PX = 100_000  # a new prediction's dashed outline and first decode cost about this much fill


def work_estimate(spec: TileSpec) -> int:
    """Device pixels the layers cover inside the tile, plus their dashed outlines: how long a build
    takes, roughly. In bench/gui_stall.py's pre-labelled photos a prediction cost 2-3 ms to composite
    (its dashed outline of many small rings, its mask decoded once), as much as 100,000 px of fill: a
    batch of predictions is built in the worker, not on the GUI thread."""
    pad = outline_pad(spec.line_width)
    total = 0
    for layer in spec.layers:
        box = intersect(layer.device_box(spec.scale, pad), spec.area)
        if box is not None:
            total += (box[2] - box[0]) * (box[3] - box[1])
            total += DASHED_OUTLINE_PX if layer.dash is not Dash.SOLID else 0
    return total
