"""Measures and faults of many polygon rings at once: area, perimeter, repeated or too few points, and
self-intersection, in numpy over flat vertex arrays (no Python loop per ring).

A ring whose vertices turn monotonically around its centroid (a star-shaped ring, what traced masks and
most hand-drawn outlines are) cannot cross itself: each edge owns its own angular sector. Only the other
rings go through the sweep: edges sorted by their left end, each compared with the edges that start
before it ends, then tested exactly with orientation signs. (docs/decisions/0014-consistency-checks-speed.md)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# rings are processed in chunks of about this many vertices: arrays that fit in the cache are 1.7x faster
CHUNK_VERTICES = 1 << 16


@dataclass(frozen=True)
class RingFaults:
    """Per ring: fewer than 3 distinct points or no area (`degenerate`), how many pairs of its edges meet
    away from a shared corner (`crossings`), and where the first one is (`points`, NaN when none)."""

    degenerate: np.ndarray  # bool
    crossings: np.ndarray  # int64
    points: np.ndarray  # (rings, 2) float64


def shoelace(points: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(signed area, perimeter) of each non-empty ring; rings are `points[offsets[k]:offsets[k + 1]]`,
    not closed (the last vertex joins the first)."""
    areas, perimeters = [], []
    for first, last in _chunks(offsets):
        part = offsets[first : last + 1]
        chunk = points[part[0] : part[-1]]
        part = part - part[0]
        area, perimeter = _area_and_perimeter(chunk, chunk[_next_index(part)] - chunk, part[:-1])
        areas.append(area)
        perimeters.append(perimeter)
    if not areas:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(areas), np.concatenate(perimeters)


def _chunks(offsets: np.ndarray) -> list[tuple[int, int]]:
    """Ranges of whole rings holding about CHUNK_VERTICES vertices each."""
    rings, first, out = len(offsets) - 1, 0, []
    while first < rings:
        last = int(np.searchsorted(offsets, offsets[first] + CHUNK_VERTICES, side="right")) - 1
        last = min(max(last, first + 1), rings)
        out.append((first, last))
        first = last
    return out


def _area_and_perimeter(points, step, starts) -> tuple[np.ndarray, np.ndarray]:
    cross = points[:, 0] * step[:, 1] - points[:, 1] * step[:, 0]
    return np.add.reduceat(cross, starts) / 2.0, np.add.reduceat(np.hypot(step[:, 0], step[:, 1]), starts)


def ring_faults(points: np.ndarray, offsets: np.ndarray) -> RingFaults:
    """Degenerate and self-intersecting rings, processed in chunks of whole rings."""
    rings = len(offsets) - 1
    degenerate = np.zeros(rings, bool)
    crossings = np.zeros(rings, np.int64)
    where = np.full((rings, 2), np.nan)
    for first, last in _chunks(offsets):
        part = offsets[first : last + 1]
        faults = _chunk_faults(points[part[0] : part[-1]], part - part[0])
        degenerate[first:last] = faults.degenerate
        crossings[first:last] = faults.crossings
        where[first:last] = faults.points
    return RingFaults(degenerate, crossings, where)


def _chunk_faults(points: np.ndarray, offsets: np.ndarray) -> RingFaults:
    rings = len(offsets) - 1
    degenerate = np.ones(rings, bool)
    crossings = np.zeros(rings, np.int64)
    where = np.full((rings, 2), np.nan)
    step = points[_next_index(offsets)] - points
    moves = (step[:, 0] != 0) | (step[:, 1] != 0)
    if not moves.all():  # a vertex equal to the next (COCO rings often repeat the first point at the end)
        points, offsets = _kept(points, offsets, moves)
    full = np.flatnonzero(np.diff(offsets) >= 3)
    if full.size < rings:  # rare: rings left with fewer than 3 distinct points
        points, offsets = _subset(points, offsets, full)
    if full.size == 0:
        return RingFaults(degenerate, crossings, where)
    if full.size < rings or not moves.all():
        step = points[_next_index(offsets)] - points
    starts = offsets[:-1]
    area, perimeter = _area_and_perimeter(points, step, starts)
    flat = _fan_area(points, step, offsets) <= 1e-9 * np.maximum(perimeter, 1.0) ** 2  # collinear points
    degenerate[full] = flat
    signed = np.where(area == 0, 1.0, area)  # a ring whose lobes cancel is no star: it goes to the sweep
    suspects = np.flatnonzero(~flat & ~_star_shaped(points, step, offsets, signed))
    if suspects.size:
        _sweep(*_subset(points, offsets, suspects), full[suspects], crossings, where)
    return RingFaults(degenerate, crossings, where)


def _fan_area(points: np.ndarray, step: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of the unsigned areas of the triangles from each ring's first point: zero only when all its
    points lie on one line (the signed area of a figure eight is zero too)."""
    sizes = np.diff(offsets)
    first = np.repeat(points[offsets[:-1]], sizes, axis=0)
    rel = points - first
    cross = np.abs(rel[:, 0] * step[:, 1] - rel[:, 1] * step[:, 0])
    return np.add.reduceat(cross, offsets[:-1])


def _subset(points: np.ndarray, offsets: np.ndarray, rings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vertices of `rings` only, with their own offsets."""
    sizes = np.diff(offsets)[rings]
    return points[_ranges(offsets[rings], sizes)], np.concatenate(([0], np.cumsum(sizes)))


def _kept(points: np.ndarray, offsets: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kept_before = np.concatenate(([0], np.cumsum(keep)))
    return points[keep], kept_before[offsets]


def _next_index(offsets: np.ndarray) -> np.ndarray:
    """For each vertex the index of the next one in its ring (the last wraps to the first)."""
    total = int(offsets[-1])
    nxt = np.arange(1, total + 1)
    sizes = np.diff(offsets)
    ends = offsets[1:][sizes > 0] - 1
    nxt[ends] = offsets[:-1][sizes > 0]
    return nxt


def _star_shaped(points: np.ndarray, step: np.ndarray, offsets: np.ndarray, area: np.ndarray) -> np.ndarray:
    """True for rings (3 or more points, non-zero area) that go once around their centroid, every edge
    turning the same way about it by less than half a turn: such a ring is simple, its edges lie in
    disjoint angular sectors. Counted without angles: the sign of each edge's cross product about the
    centre, and how often the ring passes the ray from the centre along +x."""
    sizes = np.diff(offsets)
    starts = offsets[:-1]
    ring_of = np.repeat(np.arange(len(sizes)), sizes)
    cross = points[:, 0] * step[:, 1] - points[:, 1] * step[:, 0]
    six_area = 6.0 * area
    centre_x = np.add.reduceat((2 * points[:, 0] + step[:, 0]) * cross, starts) / six_area
    centre_y = np.add.reduceat((2 * points[:, 1] + step[:, 1]) * cross, starts) / six_area
    rel_x = points[:, 0] - centre_x[ring_of]
    rel_y = points[:, 1] - centre_y[ring_of]
    turn = rel_x * step[:, 1] - rel_y * step[:, 0]
    counter = np.minimum.reduceat(turn, starts) > 0
    clockwise = np.maximum.reduceat(turn, starts) < 0
    next_y = rel_y + step[:, 1]
    up = np.add.reduceat(((rel_y < 0) & (next_y >= 0)).view(np.int8), starts, dtype=np.int64)
    down = np.add.reduceat(((rel_y >= 0) & (next_y < 0)).view(np.int8), starts, dtype=np.int64)
    return (counter & (up == 1)) | (clockwise & (down == 1))


def _sweep(points: np.ndarray, offsets: np.ndarray, rings: np.ndarray, crossings, where) -> None:
    """Count crossing edge pairs of each ring (`points`/`offsets` hold only these rings, whose indices in
    the caller's arrays are `rings`) and record the first crossing of each."""
    sizes = np.diff(offsets)
    owner = np.repeat(np.arange(len(rings)), sizes)
    position = np.arange(points.shape[0]) - offsets[owner]  # edge k runs from vertex k to vertex k + 1
    a, b = points, points[_next_index(offsets)]
    lo_x, hi_x = np.minimum(a[:, 0], b[:, 0]), np.maximum(a[:, 0], b[:, 0])
    # one sort for all rings: each ring's x is moved into its own stretch of the line
    ring_left = np.minimum.reduceat(lo_x, offsets[:-1])
    width = float((np.maximum.reduceat(hi_x, offsets[:-1]) - ring_left).max()) + 1.0
    base = np.arange(len(rings)) * width - ring_left
    key_lo, key_hi = lo_x + base[owner], hi_x + base[owner]
    order = np.argsort(key_lo, kind="stable")
    sorted_lo = key_lo[order]
    reach = np.searchsorted(sorted_lo, key_hi[order], side="right")
    count = reach - np.arange(order.size) - 1
    first = np.repeat(np.arange(order.size), count)
    second = first + 1 + (np.arange(first.size) - np.repeat(np.cumsum(count) - count, count))
    e, f = order[first], order[second]
    del first, second
    gap = np.abs(position[e] - position[f])
    apart = (gap != 1) & (gap != sizes[owner[e]] - 1)
    lo_y, hi_y = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
    apart &= (lo_y[e] <= hi_y[f]) & (lo_y[f] <= hi_y[e])
    e, f = e[apart], f[apart]
    meet, point = _segments_meet(a[e], b[e], a[f], b[f])
    hit_rings = owner[e[meet]]
    np.add.at(crossings, rings[hit_rings], 1)
    first_hit = np.unique(hit_rings, return_index=True)[1]
    where[rings[hit_rings[first_hit]]] = point[meet][first_hit]


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Concatenated `arange(start, start + size)` for each pair."""
    if sizes.size == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(sizes)
    return np.arange(ends[-1]) - np.repeat(ends - sizes, sizes) + np.repeat(starts, sizes)


def _segments_meet(a, b, c, d) -> tuple[np.ndarray, np.ndarray]:
    """Whether segments ab and cd share a point, and one such point."""
    o1, o2 = _orient(a, b, c), _orient(a, b, d)
    o3, o4 = _orient(c, d, a), _orient(c, d, b)
    proper = (o1 * o2 < 0) & (o3 * o4 < 0)
    touch_c = (o1 == 0) & _within(a, b, c)
    touch_d = (o2 == 0) & _within(a, b, d)
    touch_a = (o3 == 0) & _within(c, d, a)
    touch_b = (o4 == 0) & _within(c, d, b)
    denominator = np.where(proper, o1 - o2, 1.0)
    t = np.where(proper, o1 / denominator, 0.0)[:, None]
    point = np.where(proper[:, None], c + t * (d - c), np.nan)
    for touch, at in ((touch_c, c), (touch_d, d), (touch_a, a), (touch_b, b)):
        point = np.where((touch & np.isnan(point[:, 0]))[:, None], at, point)
    return proper | touch_a | touch_b | touch_c | touch_d, point


def _orient(a, b, c) -> np.ndarray:
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def _within(a, b, p) -> np.ndarray:
    """p lies in the box of segment ab (with orientation 0, on the segment)."""
    return (
        (np.minimum(a[:, 0], b[:, 0]) <= p[:, 0])
        & (p[:, 0] <= np.maximum(a[:, 0], b[:, 0]))
        & (np.minimum(a[:, 1], b[:, 1]) <= p[:, 1])
        & (p[:, 1] <= np.maximum(a[:, 1], b[:, 1]))
    )
