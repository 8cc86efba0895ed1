"""Scene items the tools draw while a gesture runs: handles, outlines, rubber bands, the brush's working
mask and cursor. They belong to the tools, not to the renderer, which only ever sees finished edits."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsPathItem

from annotator.core.geometry import Geometry, Polygons, to_mask_array
from annotator.gui.canvas.outline import outgrown_bounds
from annotator.gui.canvas.render import ANY_SCENE, rings_path

PREVIEW_Z = 3e7  # above instances, labels and the hover/selection marks
HANDLE_PX = 7  # handle side on screen, in pixels
EDIT_COLOR = QColor(255, 230, 0)


def geometry_path(geometry: Geometry, height: int, width: int) -> QPainterPath:
    """An outline to preview a geometry with: its rings, or a mask's traced boundary (holes too)."""
    if isinstance(geometry, Polygons):
        return rings_path(geometry.rings)
    mask = to_mask_array(geometry, height, width)
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not len(ys):
        return QPainterPath()
    y0, x0 = int(ys[0]), int(xs[0])
    crop = np.ascontiguousarray(mask[y0 : ys[-1] + 1, x0 : xs[-1] + 1])
    contours, _ = cv2.findContours(crop, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    rings = [c.reshape(-1, 2) + (x0 + 0.5, y0 + 0.5) for c in contours if len(c) >= 2]
    return rings_path(rings)


def outline_item(
    path: QPainterPath, color: QColor = EDIT_COLOR, *, dashed: bool = False
) -> QGraphicsPathItem:
    item = QGraphicsPathItem(path)
    pen = QPen(color, 2)
    pen.setCosmetic(True)
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    item.setPen(pen)
    item.setZValue(PREVIEW_Z)
    item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
    return item


class HandlesItem(QGraphicsItem):
    """Square vertex handles at constant screen size, all in one item (an instance may have hundreds).

    A vertex dragged, or another one highlighted, repaints only the handles that changed while they stay
    inside the item's rect: the whole rect, a large instance's at 2x, was the whole view at every step
    of a vertex drag and at its press (docs/decisions/0020)."""

    def __init__(self) -> None:
        super().__init__()
        self.rings: tuple[np.ndarray, ...] = ()
        self.active: tuple[int, int] | None = None  # (ring, index) drawn highlighted
        self._rect = QRectF()
        self._margin = 10.0
        self.setZValue(PREVIEW_Z + 1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_rings(self, rings, scale: float, active: tuple[int, int] | None = None) -> None:
        # copies: a tool moves the vertices of its own arrays
        rings = tuple(np.array(ring, dtype=np.float64).reshape(-1, 2) for ring in rings)
        margin = HANDLE_PX / max(scale, 1e-6)
        rect = _points_rect(rings)
        same = margin == self._margin and self._same_shape(rings)  # the same handles, some maybe moved
        moved = self._moved_handles(rings) if same and self._rect.contains(rect) else None
        # a handle dragged out of the rect: the rest of the drag never repaints the whole rect again
        outgrown = moved is None and same and not rect.isEmpty()
        old_active = self._point(self.active)
        self.rings, self.active = rings, active
        if moved is None:
            self.prepareGeometryChange()
            self._margin = margin
            self._rect = outgrown_bounds(self, rect) if outgrown else rect
            self.update()
            return
        for x, y in [*moved, old_active, self._point(active)]:
            if x is not None:
                self.update(QRectF(x - margin, y - margin, 2 * margin, 2 * margin))

    def _same_shape(self, rings: tuple[np.ndarray, ...]) -> bool:
        return len(rings) == len(self.rings) and all(
            len(a) == len(b) for a, b in zip(rings, self.rings, strict=True)
        )

    def _moved_handles(self, rings: tuple[np.ndarray, ...]) -> list:
        """The old and new places of the handles that moved (the same handles, all inside the item's rect:
        else everything repaints)."""
        places = []
        for old, new in zip(self.rings, rings, strict=True):
            differ = np.flatnonzero(np.any(old != new, axis=1))
            places += [tuple(old[i]) for i in differ] + [tuple(new[i]) for i in differ]
        return places

    def _point(self, vertex: tuple[int, int] | None) -> tuple[float | None, float | None]:
        if vertex is None or vertex[0] >= len(self.rings) or vertex[1] >= len(self.rings[vertex[0]]):
            return (None, None)
        x, y = self.rings[vertex[0]][vertex[1]]
        return (float(x), float(y))

    def boundingRect(self) -> QRectF:
        m = self._margin
        return self._rect.adjusted(-m, -m, m, m)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        transform = painter.worldTransform()
        painter.save()
        painter.resetTransform()
        painter.setPen(QPen(QColor(0, 0, 0), 1))
        half = HANDLE_PX / 2
        for r, ring in enumerate(self.rings):
            for i, (x, y) in enumerate(ring):
                p = transform.map(QPointF(float(x), float(y)))
                painter.setBrush(QColor(255, 80, 0) if self.active == (r, i) else QColor(255, 255, 255))
                painter.drawRect(QRectF(p.x() - half, p.y() - half, HANDLE_PX, HANDLE_PX))
        painter.restore()


class EdgeItem(QGraphicsItem):
    """One edge in the edit colour (a dragged vertex's), kept in the scene while its tool is active. A move
    repaints the old and the new edge's box: a path item repaints the box of all its points, which for a
    rectangle's corner is the whole rectangle (the whole view zoomed in). One item per edge, since Qt
    unites an item's repaints in one rect."""

    def __init__(self) -> None:
        super().__init__()
        self.line: tuple[tuple[float, float], tuple[float, float]] | None = None
        self._pen = QPen(EDIT_COLOR, 2)
        self._pen.setCosmetic(True)
        self.setZValue(PREVIEW_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_line(self, line, scale: float) -> None:
        """Show the edge `((x0, y0), (x1, y1))` (image coordinates); None: nothing."""
        margin = 3.0 / max(scale, 1e-6)  # the pen's width and antialiasing, in scene units
        new = None if line is None else tuple((float(x), float(y)) for x, y in line)
        for edge in (self.line, new):
            if edge is not None:
                (x0, y0), (x1, y1) = edge
                box = QRectF(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
                self.update(box.adjusted(-margin, -margin, margin, margin))
        self.line = new

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, ANY_SCENE, ANY_SCENE)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self.line is None:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self._pen)
        (x0, y0), (x1, y1) = self.line
        painter.drawLine(QPointF(x0, y0), QPointF(x1, y1))


def _points_rect(rings: tuple[np.ndarray, ...]) -> QRectF:
    if not rings or not sum(len(ring) for ring in rings):
        return QRectF()
    points = np.concatenate(rings)
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    return QRectF(x0, y0, x1 - x0, y1 - y0)


class MaskPreviewItem(QGraphicsItem):
    """The brush's working mask over the image: painted pixels in the class colour, erased pixels dark.

    `display` is an image-sized uint8 array shared with an Indexed8 QImage (no copies): a dab writes the
    few pixels it changed and repaints only its box. One item per tool, kept in the scene between
    strokes and drawing only what the stroke touched: an image-sized item added at each press and
    removed at each release repainted the whole view twice (docs/decisions/0020).
    """

    def __init__(self) -> None:
        super().__init__()
        self._buffer = np.zeros((0, 0), np.uint8)
        self.display = self._buffer
        self._image = QImage()
        self._touched = QRectF()  # what the stroke has changed so far: the only part ever drawn
        self.setZValue(PREVIEW_Z - 1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def begin(self, height: int, width: int, color: QColor) -> None:
        """A new stroke on an image of this size, in this colour; nothing shown yet."""
        self.clear()
        if self.display.shape != (height, width):
            stride = (width + 3) // 4 * 4
            self._buffer = np.zeros((height, stride), np.uint8)
            self.display = self._buffer[:, :width]
            self._image = QImage(self._buffer.data, width, height, stride, QImage.Format.Format_Indexed8)
        fill = QColor(color)
        fill.setAlpha(150)
        self._image.setColorTable([0, fill.rgba(), QColor(0, 0, 0, 110).rgba()])

    def clear(self) -> None:
        """The stroke is over: what it showed goes, repainting only that."""
        if self._touched.isEmpty():
            return
        touched = self._touched.toAlignedRect()
        self.display[touched.top() : touched.bottom() + 1, touched.left() : touched.right() + 1] = 0
        self.update(self._touched)
        self._touched = QRectF()

    def show_region(
        self,
        before: np.ndarray,
        working: np.ndarray,
        box: tuple[int, int, int, int],
        *,
        origin: tuple[int, int] = (0, 0),
    ) -> None:
        """Refresh the box (image pixels) from the working mask, whose pixel (0, 0) is image pixel
        `origin`: only what the stroke changed shows, 1 where it painted new pixels, 2 where it erased
        some; the canvas still draws the instance as it was beneath."""
        x0, y0, x1, y1 = box
        if x1 <= x0 or y1 <= y0:
            return
        ox, oy = origin
        local = (slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox))
        now, was = working[local], before[local]
        self.display[y0:y1, x0:x1] = (now > was) + ((was > now) << 1).astype(np.uint8)
        box = QRectF(x0, y0, x1 - x0, y1 - y0)
        self._touched = self._touched.united(box) if not self._touched.isEmpty() else box
        self.update(box)

    def boundingRect(self) -> QRectF:
        # Any image's: a changing rect (prepareGeometryChange) repaints the whole scene in Qt 6.11.
        return QRectF(0, 0, ANY_SCENE, ANY_SCENE)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        exposed = option.exposedRect.intersected(self._touched).toAlignedRect()
        if exposed.isEmpty():
            return
        painter.drawImage(exposed, self._image, exposed)


class BrushCursorItem(QGraphicsEllipseItem):
    """The brush's footprint under the mouse: a circle of the brush radius, black and white."""

    def __init__(self) -> None:
        super().__init__()
        pen = QPen(QColor(255, 255, 255), 1.5)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setZValue(PREVIEW_Z + 2)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setVisible(False)

    def place(self, center: QPointF, radius: float) -> None:
        rect = QRectF(center.x() - radius, center.y() - radius, 2 * radius, 2 * radius)
        if rect != self.rect():
            self.setRect(rect)
        self.setVisible(True)
