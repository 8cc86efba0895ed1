"""Pixels between numpy and Qt, and the display pyramid: what the loader and the tools hand the canvas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from annotator.io.images import load_rgb


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


def decode_levels(path: Path) -> list[QImage]:
    """Decode and build the display pyramid; runs in a worker thread (QImage is thread-safe)."""
    image = rgb_image(load_rgb(path)).convertToFormat(QImage.Format.Format_RGB32)
    return pyramid(image)
