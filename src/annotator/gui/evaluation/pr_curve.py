"""A small precision-recall plot drawn with QPainter: COCOeval's interpolated precision of one class at
IoU 0.50 and 0.75 (and the mean over 0.50:0.95), recall on x, precision on y."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from annotator.core.evaluation import IOU_THRESHOLDS, RECALL_THRESHOLDS

CURVES = (  # label, row of the precision array (None: mean of defined rows), colour
    ("IoU .50", 0, QColor(33, 150, 243)),
    ("IoU .75", 5, QColor(255, 112, 67)),
    ("IoU .50:.95", None, QColor(120, 120, 120)),
)


def curve_points(precision: np.ndarray, row: int | None) -> np.ndarray | None:
    """(recall, precision) points of one curve, or None where COCOeval has no value (-1)."""
    if row is None:
        defined = precision[(precision > -1).all(axis=1)]
        if not len(defined):
            return None
        values = defined.mean(axis=0)
    else:
        values = precision[row]
        if (values <= -1).all():
            return None
    return np.stack([RECALL_THRESHOLDS, np.clip(values, 0.0, 1.0)], axis=1)


class PrCurve(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.precision: np.ndarray | None = None  # (len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS))
        self.title = ""
        self.setMinimumSize(220, 170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(320, 220)

    def set_curve(self, title: str, precision: np.ndarray | None) -> None:
        assert precision is None or precision.shape == (len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS))
        self.title, self.precision = title, precision
        self.update()

    def plot_rect(self) -> QRectF:
        return QRectF(self.rect()).adjusted(40, 22, -10, -34)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        plot = self.plot_rect()
        text = palette.text().color()
        grid = QColor(text)
        grid.setAlpha(40)
        for step in range(6):
            value = step / 5
            x = plot.left() + value * plot.width()
            y = plot.bottom() - value * plot.height()
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text)
            painter.drawText(
                QRectF(x - 15, plot.bottom() + 2, 30, 14), Qt.AlignmentFlag.AlignCenter, f"{value:.1f}"
            )
            painter.drawText(
                QRectF(plot.left() - 34, y - 7, 30, 14), Qt.AlignmentFlag.AlignRight, f"{value:.1f}"
            )
        painter.setPen(QPen(text, 1))
        painter.drawRect(plot)
        painter.drawText(
            QRectF(plot.left(), plot.bottom() + 14, plot.width(), 14), Qt.AlignmentFlag.AlignCenter, "recall"
        )
        painter.save()
        painter.translate(10, plot.center().y())
        painter.rotate(-90)
        painter.drawText(QRectF(-40, -8, 80, 14), Qt.AlignmentFlag.AlignCenter, "precision")
        painter.restore()
        painter.drawText(
            QRectF(0, 2, self.width(), 18), Qt.AlignmentFlag.AlignCenter, self.title or "Select a class"
        )
        if self.precision is not None:
            self._draw_curves(painter, plot)
        painter.end()

    def _draw_curves(self, painter: QPainter, plot: QRectF) -> None:
        legend_y = plot.top() + 4
        for label, row, color in CURVES:
            points = curve_points(self.precision, row)
            if points is None:
                continue
            path = QPainterPath()
            for index, (recall, precision) in enumerate(points):
                point = QPointF(
                    plot.left() + recall * plot.width(), plot.bottom() - precision * plot.height()
                )
                path.moveTo(point) if index == 0 else path.lineTo(point)
            pen = QPen(color, 2)
            pen.setStyle(Qt.PenStyle.DashLine if row is None else Qt.PenStyle.SolidLine)
            painter.setPen(pen)
            painter.drawPath(path)
            ap = float(points[:, 1].mean())
            painter.drawLine(
                QPointF(plot.right() - 168, legend_y + 7), QPointF(plot.right() - 150, legend_y + 7)
            )
            painter.setPen(self.palette().text().color())
            painter.drawText(
                QRectF(plot.right() - 146, legend_y, 144, 14),
                Qt.AlignmentFlag.AlignLeft,
                f"{label}  AP {ap:.3f}",
            )
            legend_y += 15
