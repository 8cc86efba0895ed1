"""The Qt side of the overlay: a built tile as a QImage blitted pixel for pixel, the item that shows the
patch above the selected instance, and the worker that builds tiles off the GUI thread."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from PySide6.QtCore import QObject, QPoint, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QTransform
from PySide6.QtWidgets import QGraphicsItem

from annotator.gui.canvas.compose import (
    Rect,
    TileSpec,
    build_first,
    build_rest,
    build_tile,
    rect_minus,
    warm_up,
)
from annotator.gui.canvas.outline import outgrown_bounds
from annotator.gui.workers import BackgroundWorker

PATCH_Z = 2.0  # over the selected instance's item (z 1), under labels and marks


@dataclass(eq=False)
class Tile:
    """Premultiplied ARGB pixels of `area` (global device pixels at `scale`); the QImage shares them, so
    a partial redraw of `pixels` shows on the next paint."""

    area: Rect
    scale: float
    pixels: np.ndarray
    image: QImage

    @classmethod
    def of(cls, area: Rect, scale: float, pixels: np.ndarray) -> Tile:
        """`pixels` may be a view of a larger buffer (rows apart by its stride)."""
        h, w = pixels.shape[:2]
        stride = pixels.strides[0]
        if pixels.flags.c_contiguous:
            data = pixels.data
        else:  # the bytes from its first pixel to its last, as one run the QImage reads by stride
            data = np.lib.stride_tricks.as_strided(pixels, ((h - 1) * stride + 4 * w,), (1,)).data
        image = QImage(data, w, h, stride, QImage.Format.Format_ARGB32_Premultiplied)
        return cls(area, scale, pixels, image)

    def scene_rect(self) -> QRectF:
        x0, y0, x1, y1 = self.area
        s = self.scale
        return QRectF(x0 / s, y0 / s, (x1 - x0) / s, (y1 - y0) / s)

    def draw(self, painter: QPainter, exposed: QRectF) -> None:
        """One drawImage: unscaled at this tile's zoom, stretched at another (while its successor is
        being built)."""
        transform = painter.worldTransform()
        s = self.scale
        x0, y0, x1, y1 = self.area
        same_scale = (
            transform.type().value <= QTransform.TransformationType.TxScale.value
            and abs(transform.m11() - s) <= 1e-9 * s
            and abs(transform.m22() - s) <= 1e-9 * s
        )
        dx, dy = transform.dx(), transform.dy()
        if same_scale and abs(dx - round(dx)) < 1e-6 and abs(dy - round(dy)) < 1e-6:
            dx, dy = round(dx), round(dy)
            seen = (
                transform.mapRect(exposed)
                .toAlignedRect()
                .intersected(QRect(x0 + dx, y0 + dy, x1 - x0, y1 - y0))
            )
            if seen.isEmpty():
                return
            painter.save()
            painter.resetTransform()
            source = QRect(seen.x() - dx - x0, seen.y() - dy - y0, seen.width(), seen.height())
            painter.drawImage(QPoint(seen.x(), seen.y()), self.image, source)
            painter.restore()
            return
        target = self.scene_rect().intersected(exposed)
        if target.isEmpty():
            return
        source = QRectF(target.x() * s - x0, target.y() * s - y0, target.width() * s, target.height() * s)
        painter.drawImage(target, self.image, source)


class PatchItem(QGraphicsItem):
    """What lies above the selected instance, inside its box, so painter's order holds while the
    selected instance is drawn with vectors (see docs/decisions/0003-canvas-rendering.md).

    An edit's new patch repaints only where it does not hold the old one's pixels, while it stays inside
    the item's bounding rect (a changed rect repaints both rects whole); one that outgrew it takes the
    whole scene (`outline.outgrown_bounds`)."""

    def __init__(self) -> None:
        super().__init__()
        self.tile: Tile | None = None
        self._bounds = QRectF()
        self.setZValue(PATCH_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def set_tile(self, tile: Tile | None, *, alike: Rect | None = None) -> None:
        """`alike`: device pixels (at both tiles' scale) where the new tile holds the old one's pixels."""
        old, self.tile = self.tile, tile
        self.setVisible(tile is not None)
        rect = QRectF() if tile is None else tile.scene_rect()
        edit = old is not None and tile is not None and alike is not None and old.scale == tile.scale
        if edit and self._bounds.contains(rect):
            s = tile.scale
            for area in (old.area, tile.area):
                for x0, y0, x1, y1 in rect_minus(area, alike):
                    self.update(QRectF(x0 / s, y0 / s, (x1 - x0) / s, (y1 - y0) / s))
            return
        self.prepareGeometryChange()  # Qt repaints the old bounds and, with update(), the new
        self._bounds = outgrown_bounds(self, rect) if edit and not rect.isEmpty() else rect
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self._bounds)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self.tile is not None:
            self.tile.draw(painter, option.exposedRect)


WARM_UP = -1  # the generation of the warm-up build (`compose.warm_up`)
KEEP_PATCH = object()  # the whole tile after its first part: the patch came with the first part


@dataclass(frozen=True)
class FirstPart:
    """The part of a tile the view shows, built first; the rest follows in the same buffer."""

    buffer: np.ndarray
    area: Rect  # global device pixels
    patch: tuple[Rect, np.ndarray] | None


class TileBuilder(QObject):
    """`build(generation, spec)` makes `built(generation, (spec, result))` follow in the GUI thread (the
    result an Exception if building failed); the canvas drops results whose generation is not its
    latest."""

    built = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = BackgroundWorker(self)
        self.worker.done.connect(lambda tag, result: self.built.emit(tag[0], (tag[1], result)))
        self.worker.failed.connect(lambda tag, error: self.built.emit(tag[0], (tag[1], error)))
        self.worker.submit(warm_up, (WARM_UP, None))  # no canvas generation is WARM_UP: dropped

    def build(self, generation: int, spec: TileSpec, *, bands: int = 1, first: Rect | None = None) -> None:
        """With `first` (the part the view shows), two results follow: `FirstPart` for it, then the
        whole tile."""
        # queued builds are stale now; a running one finishes and is dropped by its generation
        if first is None:
            job = partial(build_tile, spec, bands=bands)
            self.worker.submit(job, (generation, spec), replace_queued=True)
            return
        x0, y0, x1, y1 = spec.area
        buffer = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
        shown = partial(build_first, buffer, spec, first, bands=bands)
        self.worker.submit(lambda: FirstPart(buffer, *shown()), (generation, spec), replace_queued=True)
        rest = partial(build_rest, buffer, spec, first, bands=bands)
        self.worker.submit(lambda: (rest(), KEEP_PATCH), (generation, spec))

    def wait(self) -> None:
        self.worker.wait()
