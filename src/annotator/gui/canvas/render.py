"""Turn core geometry and pixels into Qt drawing objects, once per change.

Fills are bit masks rasterised by pycocotools inside the instance's bounding box, so the canvas shows
exactly the pixels `annToMask` gives back on export (holes included, polygons as a union). They are kept
as 1-bit QImages whose colour table carries the class colour and opacity: recolouring is free, and 500
instances of a 4000x3000 image cost megabytes, not gigabytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainterPath, QPolygonF

from annotator.core.geometry import Geometry, Mask, Polygons


@dataclass(frozen=True)
class FillMask:
    """A region's pixels inside its box: `mask[y, x]` is pixel `(x0 + x, y0 + y)` of the image."""

    x0: int
    y0: int
    mask: np.ndarray  # (h, w) uint8, 0 or 1

    @property
    def empty(self) -> bool:
        return self.mask.size == 0 or not self.mask.any()


def fill_mask(geometry: Geometry, height: int, width: int) -> FillMask:
    """The pixels pycocotools gives this geometry, cropped to its box."""
    if isinstance(geometry, Mask):
        full = geometry.to_array()
        ys, xs = np.nonzero(full.any(axis=1))[0], np.nonzero(full.any(axis=0))[0]
        if not len(ys):
            return FillMask(0, 0, np.zeros((0, 0), np.uint8))
        y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
        return FillMask(int(x0), int(y0), np.ascontiguousarray(full[y0:y1, x0:x1]))
    return _polygon_fill(geometry, height, width)


def _polygon_fill(polygons: Polygons, height: int, width: int) -> FillMask:
    # pycocotools scales vertices by 5 and rounds, so an integer shift of all vertices shifts the
    # raster exactly: rasterising in a window that only the image border clips gives the same pixels.
    points = np.concatenate(polygons.rings)
    x0 = int(np.clip(np.floor(points[:, 0].min()) - 1, 0, width))
    y0 = int(np.clip(np.floor(points[:, 1].min()) - 1, 0, height))
    x1 = int(np.clip(np.ceil(points[:, 0].max()) + 2, 0, width))
    y1 = int(np.clip(np.ceil(points[:, 1].max()) + 2, 0, height))
    w, h = x1 - x0, y1 - y0
    if w <= 0 or h <= 0:
        return FillMask(0, 0, np.zeros((0, 0), np.uint8))
    shifted = [(ring - (x0, y0)).ravel().tolist() for ring in polygons.rings]
    # pycocotools clips at the window; where the window edge is not the image edge nothing is outside.
    rles = mask_utils.frPyObjects(shifted, h, w)
    merged = mask_utils.merge(rles) if len(rles) > 1 else rles[0]
    return FillMask(x0, y0, np.ascontiguousarray(mask_utils.decode(merged)))


def mono_image(mask: np.ndarray, color: QColor) -> QImage:
    """A 1-bit image of `mask`: set pixels in `color` (with its alpha), others transparent."""
    h, w = mask.shape
    packed = np.packbits(mask.astype(bool), axis=1, bitorder="little")
    stride = (w + 31) // 32 * 4  # QImage wants 32-bit aligned lines
    lines = np.zeros((h, stride), np.uint8)
    lines[:, : packed.shape[1]] = packed
    image = QImage(lines.data, w, h, stride, QImage.Format.Format_MonoLSB).copy()
    image.setColorTable([0, color.rgba()])
    return image


def set_mono_color(image: QImage, color: QColor) -> None:
    image.setColorTable([0, color.rgba()])


def outline_path(geometry: Geometry, fill: FillMask) -> QPainterPath:
    """The outline to stroke: the polygon rings, or a mask's traced boundary (holes included)."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.WindingFill)  # COCO polygons are a union of rings
    if isinstance(geometry, Polygons):
        for ring in geometry.rings:
            path.addPolygon(_polygon(ring))
            path.closeSubpath()
        return path
    for ring in mask_rings(fill):
        path.addPolygon(_polygon(ring))
        path.closeSubpath()
    return path


def mask_rings(fill: FillMask) -> list[np.ndarray]:
    """A mask's boundary (holes included) as rings in image coordinates, along pixel edges."""
    if fill.empty:
        return []
    # Trace on a 2x upsampled mask so the line runs along pixel edges, not through pixel centres.
    up = cv2.resize(fill.mask, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(up, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    rings = [(contour.reshape(-1, 2) + 0.5) / 2.0 + (fill.x0, fill.y0) for contour in contours]
    return [ring for ring in rings if len(ring) >= 2]


def _polygon(ring: np.ndarray) -> QPolygonF:
    return QPolygonF([QPointF(float(x), float(y)) for x, y in ring])


def rgb_image(rgb: np.ndarray) -> QImage:
    """An (H, W, 3) uint8 array as a QImage that owns its pixels."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def rgb_array(image: QImage) -> np.ndarray:
    """An (H, W, 3) uint8 RGB copy of a QImage (the inverse of `rgb_image`)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    height, width, stride = rgb.height(), rgb.width(), rgb.bytesPerLine()
    data = np.frombuffer(rgb.constBits(), np.uint8, count=rgb.sizeInBytes()).reshape(height, stride)
    return data[:, : width * 3].reshape(height, width, 3).copy()


def pyramid(image: QImage, *, smallest: int = 256) -> list[QImage]:
    """The image and its halvings (area-averaged), so a zoomed-out view never samples a huge image."""
    levels = [image]
    while min(levels[-1].width(), levels[-1].height()) > 2 * smallest:
        last = levels[-1]
        levels.append(
            last.scaled(
                last.width() // 2,
                last.height() // 2,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
    return levels


def rings_path(rings) -> QPainterPath:
    """Closed rings (image coordinates) as one path, rings united."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.WindingFill)
    for ring in rings:
        path.addPolygon(_polygon(ring))
        path.closeSubpath()
    return path
