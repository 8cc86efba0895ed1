"""A large outline drawn in part (the runs near a repainted area) looks exactly as drawn whole there."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QTransform

from annotator.core.geometry import Mask
from annotator.core.region import Region
from annotator.gui.canvas.outline import PARTS_FROM, Outline


def _blob(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros((300, 400), np.uint8)
    for _ in range(40):
        x, y, r = rng.integers(40, 360), rng.integers(40, 260), rng.integers(5, 40)
        yy, xx = np.ogrid[:300, :400]
        mask[(xx - x) ** 2 + (yy - y) ** 2 <= r * r] = 1
    return mask


def _draw(outline: Outline, exposed: QRectF, scale: float, width: int) -> np.ndarray:
    image = QImage(int(400 * scale), int(300 * scale), QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    painter.setTransform(QTransform.fromScale(scale, scale))
    painter.setClipRect(exposed)
    pen = QPen(QColor(0, 0, 0, 160), width)  # translucent: a spot drawn twice would show darker
    pen.setCosmetic(True)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    outline.draw(painter, exposed, pad=width / scale)
    painter.end()
    bits = image.constBits()
    return np.frombuffer(bits, np.uint8).reshape(image.height(), image.width(), 4).copy()


def test_a_part_of_the_outline_draws_the_same_pixels_as_the_whole():
    for seed in range(3):
        region = Region(Mask.from_array(_blob(seed)), 300, 400)
        outline = Outline(region)
        assert len(outline) >= PARTS_FROM  # drawn in runs, not whole
        for scale, width in ((1.0, 5), (2.0, 2), (3.0, 5)):
            everything = QRectF(0, 0, 400, 300)
            whole = _draw(outline, everything, scale, width)
            for area in (QRectF(100, 80, 60, 40), QRectF(210.5, 33.25, 91, 70), QRectF(0, 0, 30, 300)):
                part = _draw(outline, area, scale, width)
                x0, y0 = math.ceil(area.left() * scale), math.ceil(area.top() * scale)  # whole pixels inside
                x1, y1 = math.floor(area.right() * scale), math.floor(area.bottom() * scale)
                assert np.array_equal(part[y0:y1, x0:x1], whole[y0:y1, x0:x1]), (seed, scale, area)
                assert (part[y0:y1, x0:x1] != 255).any() or not (whole[y0:y1, x0:x1] != 255).any()
