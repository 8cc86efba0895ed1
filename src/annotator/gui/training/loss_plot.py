"""The live plot of a training round, drawn with QPainter: the loss of each step (faint) and its moving
average (solid) against the step, and each epoch's validation mask AP50 and AP (dots, right axis 0-1).

Points are kept as plain lists and the widget repaints at most every `REPAINT_MS`, so a fast run does
not spend the GUI thread on drawing.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

LOSS = QColor(33, 150, 243)
AP50 = QColor(67, 160, 71)
AP = QColor(255, 112, 67)
SMOOTHING = 0.9  # exponential moving average of the loss
REPAINT_MS = 200


class LossPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.steps: list[tuple[int, float]] = []  # (step, loss)
        self.smoothed: list[float] = []
        self.epochs: list[tuple[int, float | None, float | None]] = []  # (step, AP, AP50)
        self.total_steps: int | None = None
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._repaint = QTimer(self, singleShot=True, interval=REPAINT_MS)
        self._repaint.timeout.connect(self.update)

    def sizeHint(self) -> QSize:
        return QSize(520, 240)

    def clear(self, *, total_steps: int | None = None) -> None:
        self.steps, self.smoothed, self.epochs = [], [], []
        self.total_steps = total_steps
        self.update()

    def add_step(self, step: int, loss: float) -> None:
        if not math.isfinite(loss):
            return
        previous = self.smoothed[-1] if self.smoothed else loss
        self.steps.append((step, loss))
        self.smoothed.append(SMOOTHING * previous + (1 - SMOOTHING) * loss if self.smoothed else loss)
        self._schedule()

    def add_epoch(self, step: int, ap: float | None, ap50: float | None) -> None:
        self.epochs.append((step, ap, ap50))
        self._schedule()

    def _schedule(self) -> None:
        if not self._repaint.isActive():
            self._repaint.start()

    # -- drawing ----------------------------------------------------------------------------------
    def plot_rect(self) -> QRectF:
        return QRectF(self.rect()).adjusted(46, 24, -40, -30)

    def _x_range(self) -> float:
        last = max([self.steps[-1][0] if self.steps else 0, *(s for s, _, _ in self.epochs)])
        return float(max(1, self.total_steps or 0, last))

    def _loss_top(self) -> float:
        if not self.steps:
            return 1.0
        # the first steps' loss dwarfs the rest: scale to what the curve shows after them
        values = sorted(loss for _, loss in self.steps[len(self.steps) // 10 :])
        high = values[min(len(values) - 1, int(len(values) * 0.98))]
        return _nice_ceiling(max(high, max(self.smoothed), 1e-3))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        plot = self.plot_rect()
        text = palette.text().color()
        x_max, loss_top = self._x_range(), self._loss_top()
        self._draw_axes(painter, plot, text, x_max, loss_top)
        if self.steps:
            self._draw_loss(painter, plot, x_max, loss_top)
        else:
            painter.setPen(text)
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "The loss of each step appears here")
        self._draw_epochs(painter, plot, x_max)
        self._draw_legend(painter, plot, text)
        painter.end()

    def _draw_axes(self, painter: QPainter, plot: QRectF, text: QColor, x_max: float, top: float) -> None:
        grid = QColor(text)
        grid.setAlpha(40)
        for tick in range(5):
            fraction = tick / 4
            y = plot.bottom() - fraction * plot.height()
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text)
            painter.drawText(QRectF(2, y - 7, plot.left() - 6, 14), Qt.AlignmentFlag.AlignRight,
                             _short(top * fraction))  # fmt: skip
            painter.drawText(QRectF(plot.right() + 4, y - 7, 36, 14), Qt.AlignmentFlag.AlignLeft,
                             f"{fraction:.2f}")  # fmt: skip
        painter.setPen(text)
        for step in _step_ticks(x_max):
            x = plot.left() + step / x_max * plot.width()
            painter.drawText(
                QRectF(x - 30, plot.bottom() + 2, 60, 14), Qt.AlignmentFlag.AlignCenter, str(step)
            )
        painter.setPen(QPen(text, 1))
        painter.drawRect(plot)
        painter.drawText(QRectF(plot.left(), plot.bottom() + 14, plot.width(), 14),
                         Qt.AlignmentFlag.AlignCenter, "step")  # fmt: skip
        painter.save()
        painter.translate(10, plot.center().y())
        painter.rotate(-90)
        painter.drawText(QRectF(-40, -8, 80, 14), Qt.AlignmentFlag.AlignCenter, "loss")
        painter.restore()

    def _point(self, plot: QRectF, x_max: float, step: float, value: float, top: float) -> QPointF:
        y = min(max(value / top, 0.0), 1.0)
        return QPointF(plot.left() + step / x_max * plot.width(), plot.bottom() - y * plot.height())

    def _draw_loss(self, painter: QPainter, plot: QRectF, x_max: float, top: float) -> None:
        raw, smooth = QPainterPath(), QPainterPath()
        for index, ((step, loss), average) in enumerate(zip(self.steps, self.smoothed, strict=True)):
            a, b = self._point(plot, x_max, step, loss, top), self._point(plot, x_max, step, average, top)
            (raw.moveTo(a), smooth.moveTo(b)) if index == 0 else (raw.lineTo(a), smooth.lineTo(b))
        faint = QColor(LOSS)
        faint.setAlpha(70)
        painter.setPen(QPen(faint, 1))
        painter.drawPath(raw)
        painter.setPen(QPen(LOSS, 2))
        painter.drawPath(smooth)

    def _draw_epochs(self, painter: QPainter, plot: QRectF, x_max: float) -> None:
        for color, column in ((AP50, 2), (AP, 1)):
            points = [
                self._point(plot, x_max, e[0], e[column], 1.0) for e in self.epochs if e[column] is not None
            ]
            painter.setPen(QPen(color, 1.5, Qt.PenStyle.DashLine))
            for a, b in zip(points, points[1:], strict=False):
                painter.drawLine(a, b)
            painter.setPen(QPen(color, 1))
            painter.setBrush(color)
            for point in points:
                painter.drawEllipse(point, 3.5, 3.5)
            painter.setBrush(Qt.BrushStyle.NoBrush)

    def _draw_legend(self, painter: QPainter, plot: QRectF, text: QColor) -> None:
        x = plot.left()
        for label, color in (("loss (average)", LOSS), ("validation AP50", AP50), ("AP .50:.95", AP)):
            painter.setPen(QPen(color, 2))
            painter.drawLine(QPointF(x, 12), QPointF(x + 16, 12))
            painter.setPen(text)
            width = painter.fontMetrics().horizontalAdvance(label) + 8
            painter.drawText(QRectF(x + 20, 4, width, 16), Qt.AlignmentFlag.AlignLeft, label)
            x += 20 + width + 10


def _nice_ceiling(value: float) -> float:
    """The next of 1, 2, 2.5, 5 x 10^k at or above `value`, so the ticks read well."""
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= value:
            return factor * power
    return 10 * power


def _step_ticks(x_max: float) -> list[int]:
    """Whole steps at a round spacing, about five of them up to `x_max`."""
    spacing = max(1, int(_nice_ceiling(max(x_max / 5, 1.0))))
    return list(range(0, int(x_max) + 1, spacing))


def _short(value: float) -> str:
    return f"{value:.3g}"
