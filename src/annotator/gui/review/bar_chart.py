"""A small horizontal bar chart drawn with QPainter (as the precision-recall plot is): a title, then one
row per bar with its label, the bar scaled to the largest value, and the value. No plotting library:
a few dozen rectangles do not need one."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

PADDING = 6
BAR_GAP = 3
MAX_LABEL_SHARE = 0.45  # of the width; longer labels are elided


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    color: QColor


class BarChart(QWidget):
    def __init__(self, title: str = "", parent=None) -> None:
        super().__init__(parent)
        self.title = title
        self.bars: tuple[Bar, ...] = ()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_bars(self, bars: list[Bar] | tuple[Bar, ...]) -> None:
        self.bars = tuple(bars)
        self.updateGeometry()
        self.update()

    def _row_height(self) -> int:
        return QFontMetrics(self.font()).height() + BAR_GAP

    def sizeHint(self) -> QSize:
        rows = max(len(self.bars), 1)
        return QSize(260, PADDING * 2 + self._row_height() * (rows + 1))

    def minimumSizeHint(self) -> QSize:
        return QSize(160, self.sizeHint().height())

    def bar_rect(self, index: int) -> QRectF:
        """Where bar `index` is drawn (the part of its row a value of the largest bar would fill)."""
        metrics, row = QFontMetrics(self.font()), self._row_height()
        label_width = min(
            max((metrics.horizontalAdvance(b.label) for b in self.bars), default=0) + 2 * PADDING,
            int(self.width() * MAX_LABEL_SHARE),
        )
        value_width = max((metrics.horizontalAdvance(str(b.value)) for b in self.bars), default=0) + PADDING
        left = PADDING + label_width
        top = PADDING + row * (index + 1)
        return QRectF(left, top + 1, max(self.width() - left - value_width - PADDING, 1), row - BAR_GAP - 1)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        text = palette.text().color()
        metrics, row = QFontMetrics(self.font()), self._row_height()
        painter.setPen(text)
        title = QRectF(PADDING, PADDING, self.width() - 2 * PADDING, row)
        painter.drawText(title, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.title)
        if not self.bars:
            painter.drawText(title, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, "none")
        largest = max((b.value for b in self.bars), default=0) or 1
        for index, bar in enumerate(self.bars):
            full = self.bar_rect(index)
            label = QRectF(0, full.top(), full.left() - PADDING, full.height())
            elided = metrics.elidedText(bar.label, Qt.TextElideMode.ElideRight, int(label.width()))
            painter.setPen(text)
            painter.drawText(label, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, elided)
            filled = QRectF(full.left(), full.top(), full.width() * bar.value / largest, full.height())
            painter.fillRect(filled, bar.color)
            value = QRectF(
                filled.right() + 3, full.top(), metrics.horizontalAdvance(str(bar.value)) + 4, full.height()
            )
            painter.drawText(
                value, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, str(bar.value)
            )
        painter.end()
