"""PySide6 6.12.0 on Python 3.11 drops a reference to None on each QPainter.setPen call, until the
interpreter aborts (none_dealloc). We pin 6.11.3; this test fails if a build with that bug comes back."""

from __future__ import annotations

import sys

from PySide6.QtGui import QColor, QImage, QPainter, QPen


def test_set_pen_keeps_none_alive(qapp):
    image = QImage(8, 8, QImage.Format.Format_ARGB32_Premultiplied)
    painter = QPainter(image)
    pen = QPen(QColor(255, 0, 0), 2)
    before = sys.getrefcount(None)
    for _ in range(100_000):
        painter.setPen(pen)
    after = sys.getrefcount(None)
    painter.end()
    assert after >= before - 100, f"None lost {before - after} references over 100,000 setPen calls"
