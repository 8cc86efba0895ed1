"""An edited mask's outline from the outline before the edit: only the part near the edit is traced again.

Why: a brush stroke on a large mask changes a few thousand pixels, yet tracing the new mask's outline
traced all of it (the 2x upsampled crop and `cv2.findContours` over it): 6-7 ms of the release of a
stroke on the largest instance of bench/edit.py at 2x, on the GUI thread (docs/decisions/0020).

How: the traced rings run a quarter pixel inside pixel edges (`geometry.trace_rings`), so no vertex lies
on a whole-pixel line, and every edge is horizontal, vertical or diagonal. A rectangle R on whole-pixel
lines, two pixels around the changed pixels, cuts the old rings and the rings traced from the new pixels
near R. Outside R the old rings are still right (the pixels within a pixel of them did not change);
inside R the new trace is (it sees a margin of two pixels around R, so its own cut edges lie outside R).
The old rings' parts outside R and the new ones' parts inside R meet where they cross R's sides, at
multiples of a quarter pixel, and are joined there into rings. Any crossing that does not pair up gives
None: the caller traces the whole mask, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from annotator.core.geometry import trace_rings

MARGIN = 2  # pixels between the changed pixels and R's sides
TRACE_MARGIN = 2  # more pixels the new trace sees beyond R, so that its own cut lies outside R

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), image pixels
Rect = tuple[float, float, float, float]


def spliced_outline(
    before: Sequence[np.ndarray], window: np.ndarray, origin: tuple[int, int], changed: Box
) -> tuple[np.ndarray, ...] | None:
    """The outline of the mask `window` holds (0/1, image pixel `origin` at its (0, 0), every pixel of
    the mask inside it), given `before`, the outline of the mask it was before pixels in `changed`
    changed. The same edges as `trace_rings(mask, holes=True)`; None when they cannot be joined."""
    x0, y0, x1, y1 = changed
    rect = (x0 - MARGIN, y0 - MARGIN, x1 + MARGIN, y1 + MARGIN)
    grow = MARGIN + TRACE_MARGIN
    near, near_origin = _cut(window, origin, (x0 - grow, y0 - grow, x1 + grow, y1 + grow))
    after = trace_rings(near, offset=near_origin, holes=True)
    rings: list[np.ndarray] = []
    pieces: list[np.ndarray] = []
    for ring in before:
        _split(np.asarray(ring, dtype=np.float64), rect, inside=False, rings=rings, pieces=pieces)
    outside = len(pieces)
    for ring in after:
        _split(ring, rect, inside=True, rings=rings, pieces=pieces)
    joined = _join(pieces, outside)
    if joined is None:
        return None
    return tuple(rings + joined)


def _cut(window: np.ndarray, origin: tuple[int, int], box: Box) -> tuple[np.ndarray, tuple[int, int]]:
    """The window's pixels in `box`, zero where the window does not reach (the mask has none there)."""
    bx0, by0, bx1, by1 = box
    out = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
    ox, oy = origin
    height, width = window.shape
    cx0, cy0 = max(bx0, ox), max(by0, oy)
    cx1, cy1 = min(bx1, ox + width), min(by1, oy + height)
    if cx0 < cx1 and cy0 < cy1:
        out[cy0 - by0 : cy1 - by0, cx0 - bx0 : cx1 - bx0] = window[cy0 - oy : cy1 - oy, cx0 - ox : cx1 - ox]
    return out, (bx0, by0)


def _split(ring: np.ndarray, rect: Rect, *, inside: bool, rings: list, pieces: list) -> None:
    """The parts of a closed ring inside `rect` (or outside it): the whole ring to `rings` when it never
    crosses a side, else each part, as an open polyline from one crossing to the next, to `pieces`."""
    if len(ring) < 2:
        return
    x0, y0, x1, y1 = rect
    start, delta = ring, np.roll(ring, -1, axis=0) - ring
    # Liang-Barsky: the part [t_in, t_out] of each edge that lies in rect
    t_in, t_out = np.zeros(len(ring)), np.ones(len(ring))
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis, low, high in ((0, x0, x1), (1, y0, y1)):
            p, d = start[:, axis], delta[:, axis]
            a, b = (low - p) / d, (high - p) / d
            flat = d == 0
            near, far = np.minimum(a, b), np.maximum(a, b)
            between = (p > low) & (p < high)
            near = np.where(flat, np.where(between, -np.inf, np.inf), near)
            far = np.where(flat, np.where(between, np.inf, -np.inf), far)
            t_in, t_out = np.maximum(t_in, near), np.minimum(t_out, far)
    hit = t_in < t_out
    enters = np.flatnonzero(hit & (t_in > 0))  # an edge that starts outside and reaches in
    leaves = np.flatnonzero(hit & (t_out < 1))  # an edge that ends outside and was in
    if not len(enters) and not len(leaves):
        vertex_in = x0 < ring[0, 0] < x1 and y0 < ring[0, 1] < y1
        if vertex_in == inside:
            rings.append(ring)
        return
    # the crossings in the ring's order: (edge, t, 1 for in, 0 for out)
    events = sorted(
        [(int(i), float(t_in[i]), 1) for i in enters] + [(int(i), float(t_out[i]), 0) for i in leaves]
    )
    count = len(ring)
    for k, (edge, t, kind) in enumerate(events):
        if kind != (1 if inside else 0):
            continue  # a piece starts where the ring enters (inside) or leaves (outside)
        end_edge, end_t, _ = events[(k + 1) % len(events)]
        first = start[edge] + t * delta[edge]
        last = start[end_edge] + end_t * delta[end_edge]
        if end_edge == edge and end_t > t:
            between = np.zeros((0, 2))
        else:
            stop = end_edge if end_edge > edge else end_edge + count
            between = ring[np.arange(edge + 1, stop + 1) % count]
        pieces.append(np.concatenate([first[None], between, last[None]]))


def _key(point: np.ndarray) -> tuple[int, int]:
    """A crossing, exact: they lie on multiples of a quarter pixel (whole-pixel lines meeting edges at 0,
    45 or 90 degrees through quarter-pixel vertices)."""
    return (round(point[0] * 4), round(point[1] * 4))


def _join(pieces: list[np.ndarray], outside: int) -> list[np.ndarray] | None:
    """Open pieces joined end to end into closed rings (pieces[:outside] are the old rings' parts, the rest
    the new ones'); None if an end meets no other."""
    ends: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for index, piece in enumerate(pieces):
        for side, point in ((0, piece[0]), (1, piece[-1])):
            ends.setdefault(_key(point), []).append((index, side))
    partner: dict[tuple[int, int], tuple[int, int]] = {}
    for touching in ends.values():
        if len(touching) == 2:
            pairs = [tuple(touching)]
        else:
            # a pinch (two pixels touching at a corner) on R's side: the ring passes there twice; each
            # piece that arrives goes on along a piece of the other trace that leaves
            kinds = {(old, side): [] for old in (True, False) for side in (0, 1)}
            for end in touching:
                kinds[(end[0] < outside, end[1])].append(end)
            arrive_old, leave_new = kinds[(True, 1)], kinds[(False, 0)]
            arrive_new, leave_old = kinds[(False, 1)], kinds[(True, 0)]
            if len(arrive_old) != len(leave_new) or len(arrive_new) != len(leave_old):
                return None
            pairs = [*zip(arrive_old, leave_new, strict=True), *zip(arrive_new, leave_old, strict=True)]
        for a, b in pairs:
            partner[a], partner[b] = b, a
    if len(partner) != 2 * len(pieces):
        return None
    used = [False] * len(pieces)
    rings = []
    for first in range(len(pieces)):
        if used[first]:
            continue
        parts, index, side = [], first, 1  # going forward: leaving through its end (side 1)
        while not used[index]:
            used[index] = True
            parts.append(pieces[index][:-1] if side == 1 else pieces[index][::-1][:-1])
            index, entered = partner[(index, side)]
            side = 1 - entered
        if index != first:
            return None
        rings.append(np.concatenate(parts))
    return rings
