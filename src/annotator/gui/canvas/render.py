"""Turn core results into Qt drawing objects: a region's pixels as a 1-bit image, rings as a path.

What to draw comes from `core.region.Region` (pycocotools-exact pixels, outlines along pixel edges);
this module only changes its type. Fills are 1-bit QImages whose colour table carries the class colour
and opacity: recolouring is free, and 500 instances of a 4000x3000 image cost megabytes, not gigabytes.
"""

from __future__ import annotations

import ctypes

import numpy as np
import shiboken6
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainterPath, QPolygonF

# The bounding rect of an item that may draw anywhere on any image and so never changes it (adding,
# removing or resizing an item repaints its whole rect). Wider than any image side the canvas shows,
# and at the 64x zoom limit still within Qt's int device coordinates.
ANY_SCENE = float(1 << 24)


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


def rings_path(rings, *, closed: bool = True) -> QPainterPath:
    """Rings (image coordinates) as one path, united as COCO polygons are (winding fill)."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.WindingFill)
    for ring in rings:
        path.addPolygon(polygon_of(ring))
        if closed:
            path.closeSubpath()
    return path


def polygon_of(ring) -> QPolygonF:
    """An (N, 2) array as a QPolygonF, its points copied in one block (QPointF is two doubles, as the
    array's rows): a QPointF per vertex cost 2 us each, 20-50 ms on the GUI thread for the traced
    outline of a large mask after each brush stroke (docs/decisions/0020-exact-picture-sooner.md)."""
    points = np.ascontiguousarray(ring, dtype=np.float64).reshape(-1, 2)
    polygon = QPolygonF()
    if not len(points):
        return polygon
    polygon.resize(len(points))
    address = shiboken6.getCppPointer(polygon.data())[0]
    if address != shiboken6.getCppPointer(polygon.constData())[0]:  # not its own storage: the slow way
        return QPolygonF([QPointF(float(x), float(y)) for x, y in points])
    ctypes.memmove(address, points.ctypes.data, points.nbytes)
    return polygon
