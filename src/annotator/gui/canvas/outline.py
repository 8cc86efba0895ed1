"""An outline that draws only what a repaint exposes: the whole path, or the pieces of it near the area.

Why: a large mask's traced outline has thousands of vertices, and Qt strokes a wide cosmetic pen over
the whole path even when the painter is clipped to a few pixels: about 7 ms per stroke for the largest
instance of the benchmark scene at 2x, three strokes (the selected instance and its mark) on every
repaint, brush release included. Cut into runs of CHUNK vertices with their boxes, a repaint strokes
only the runs that reach the exposed area (docs/decisions/0020).

The runs are stroked as one path, with round caps: two runs meeting at a vertex cover what the round
join of the whole path covers there, and a path's stroke is filled once (a translucent pen does not
darken where runs overlap). Dashed and dotted pens draw the whole path: their pattern runs along it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath

from annotator.core.region import Region, changed_box
from annotator.gui.canvas.render import polygon_of, rings_path

CHUNK = 64  # vertices per run
# Outlines with fewer vertices are always stroked whole, with the pen as given: cheap enough, and round
# joins (which drawing in parts needs) cost up to 6x a bevel's on an antialiased polygon of 100 vertices
PARTS_FROM = 1000
# An item whose shape an edit outgrew takes this much room around it (of its larger side), so that the
# next strokes that grow it stay inside its bounding rect (a changed one repaints both rects whole)
EDIT_ROOM = 0.25


class Outline:
    """A region's outline rings (image coordinates, closed) as a path for whole draws, and as runs for
    partial ones."""

    def __init__(self, region: Region) -> None:
        self.region = region
        self._rings = [np.asarray(ring, dtype=np.float64).reshape(-1, 2) for ring in region.outline]
        self.path: QPainterPath = rings_path(self._rings)
        self.rect: QRectF = self.path.boundingRect()
        self._runs: np.ndarray | None = None  # (ring, first vertex) of each run, at the first partial draw
        self._boxes = np.zeros((0, 4))
        self._polygons: dict[int, object] = {}  # run -> QPolygonF, made when first drawn

    def __len__(self) -> int:
        return sum(len(ring) for ring in self._rings)

    def draw(self, painter: QPainter, exposed: QRectF, pad: float) -> None:
        """Stroke with the painter's pen what reaches `exposed` (item coordinates); `pad`: half the pen's
        width in those units, or more."""
        pen = painter.pen()
        if len(self) < PARTS_FROM or pen.style() != Qt.PenStyle.SolidLine:
            painter.drawPath(self.path)
            return
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)  # drawn whole or in parts, the same pixels
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        if exposed.adjusted(pad, pad, -pad, -pad).contains(self.rect):
            painter.drawPath(self.path)
            return
        path = self.part(exposed, pad)
        if not path.isEmpty():
            painter.drawPath(path)

    def part(self, area: QRectF, pad: float) -> QPainterPath:
        """The runs whose box comes within `pad` of `area`, as one path of open polylines."""
        if self._runs is None:
            self._make_runs()
        x0, y0 = area.left() - pad, area.top() - pad
        x1, y1 = area.right() + pad, area.bottom() + pad
        boxes = self._boxes
        near = (boxes[:, 0] <= x1) & (boxes[:, 2] >= x0) & (boxes[:, 1] <= y1) & (boxes[:, 3] >= y0)
        path = QPainterPath()
        path.setFillRule(Qt.FillRule.WindingFill)
        for index in np.flatnonzero(near):
            path.addPolygon(self._polygon(int(index)))
        return path

    def _polygon(self, index: int):
        polygon = self._polygons.get(index)
        if polygon is None:
            ring, start = self._runs[index]
            points = self._rings[ring]
            end = start + CHUNK
            run = (
                points[start : end + 1] if end < len(points) else np.concatenate([points[start:], points[:1]])
            )
            polygon = self._polygons[index] = polygon_of(run)
        return polygon

    def _make_runs(self) -> None:
        """Each ring's runs of CHUNK edges (a run ends at the next one's first vertex, the last at the
        ring's first) and their boxes, in a few array operations: 1500 vertices, 24 runs."""
        runs, boxes = [], []
        for number, ring in enumerate(self._rings):
            if not len(ring):
                continue
            starts = np.arange(0, len(ring), CHUNK)
            ends = ring[np.minimum(starts + CHUNK, len(ring)) % len(ring)]
            low = np.minimum(np.minimum.reduceat(ring, starts, axis=0), ends)
            high = np.maximum(np.maximum.reduceat(ring, starts, axis=0), ends)
            runs.append(np.stack([np.full(len(starts), number), starts], axis=1))
            boxes.append(np.concatenate([low, high], axis=1))
        self._runs = np.concatenate(runs) if runs else np.zeros((0, 2), dtype=np.int64)
        self._boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4))


def edited_area(old: Outline | None, new: Outline | None, pad: float) -> QRectF | None:
    """Where `new` differs from `old` when it is `old` edited (boxes overlapping by half), `pad` (scene
    units) around it for the pen; empty when nothing changed. None when it is another shape (hover moving
    on, another selection): the caller repaints both whole, as two rects (Qt merges an item's repaints
    into one rect, which between two small instances far apart is most of the view)."""
    if old is new:
        return QRectF()
    if old is None or new is None or not _alike(old.rect, new.rect):
        return None
    box = changed_box(old.region, new.region)
    if box is None:
        return QRectF()
    x0, y0, x1, y1 = box
    return QRectF(x0, y0, x1 - x0, y1 - y0).adjusted(-pad - 1, -pad - 1, pad + 1, pad + 1)


def bounds_with_room(rect: QRectF) -> QRectF:
    """`rect` grown by EDIT_ROOM of its larger side on each side (at least 8 units)."""
    grow = max(8.0, EDIT_ROOM * max(rect.width(), rect.height()))
    return rect.adjusted(-grow, -grow, grow, grow)


def outgrown_bounds(item, rect: QRectF) -> QRectF:
    """New bounds for an item whose shape an edit outgrew: the whole scene (the image), so that the
    strokes that follow never outgrow it again. Each outgrowing repaints both rects whole: the whole view
    for a stroke leaving the largest instance's box at 2x (one release in two of bench/edit.py's)."""
    scene = item.scene()
    area = QRectF() if scene is None else scene.sceneRect()
    return area.united(rect) if not area.isEmpty() else bounds_with_room(rect)


def _alike(a: QRectF, b: QRectF) -> bool:
    """Boxes that overlap by at least half their union: an edit, worth comparing pixel by pixel."""
    both = a.intersected(b)
    inter = both.width() * both.height()
    union = a.width() * a.height() + b.width() * b.height() - inter
    return union > 0 and inter >= 0.5 * union
