"""Brightness, contrast and gamma on the displayed image pyramid (`core.session.ImageAdjust`), off the
GUI thread: one cv2.LUT pass over a 4000x3000 image's pyramid took 200-500 ms on this 2-core machine,
far too long for a slider to stay live if it ran on the GUI thread."""

from __future__ import annotations

from functools import partial

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from annotator.core.session import ImageAdjust
from annotator.gui.workers import BackgroundWorker


def adjusted_levels(levels: list[QImage], adjust: ImageAdjust) -> list[QImage]:
    """New RGB32 images: each pyramid level with `adjust`'s table applied to R, G and B."""
    lut = adjust.lut()
    table = np.stack([lut, lut, lut, np.arange(256, dtype=np.uint8)], axis=1).reshape(1, 256, 4)
    out = []
    for level in levels:
        source = level.convertToFormat(QImage.Format.Format_RGB32)
        target = QImage(source.width(), source.height(), QImage.Format.Format_RGB32)
        cv2.LUT(_pixels(source, source.constBits()), table, dst=_pixels(target, target.bits()))
        out.append(target)
    return out


def _pixels(image: QImage, bits) -> np.ndarray:
    """An (H, W, 4) view of an RGB32 image's memory `bits` (constBits, or bits to write into it)."""
    height, width = image.height(), image.width()
    rows = np.frombuffer(bits, np.uint8, count=image.sizeInBytes()).reshape(height, image.bytesPerLine())
    return rows[:, : 4 * width].reshape(height, width, 4)


class ImageAdjuster(QObject):
    """`request(image_id, levels, adjust)`; `adjusted(image_id, adjust, levels)` follows on the GUI
    thread, unless a newer request replaced it first."""

    adjusted = Signal(object, object, object)  # tag[0] is an image id (64-bit)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker = BackgroundWorker(self)
        self._worker.done.connect(lambda tag, levels: self.adjusted.emit(tag[0], tag[1], levels))

    def request(self, image_id: int, levels: list[QImage], adjust: ImageAdjust) -> None:
        self._worker.submit(partial(adjusted_levels, levels, adjust), (image_id, adjust), replace_queued=True)

    def wait(self) -> None:
        self._worker.wait()
