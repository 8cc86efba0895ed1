"""A small square of a colour, for the lists' rows."""

from __future__ import annotations

from PySide6.QtGui import QColor, QIcon, QPixmap


def swatch(color: QColor) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(color)
    return QIcon(pixmap)
