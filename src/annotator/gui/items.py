"""Scene items: one per instance (its cached fill and outline), its label, and the hover/selection marks.

An item mirrors one `Instance`; it never changes the dataset. Fills are drawn from a 1-bit image in the
class colour, outlines with a cosmetic pen, and Qt caches each item's rendering in device pixels, so a
repaint is mostly pixmap blits; only an item whose instance changed is drawn again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from annotator.core.colors import category_color
from annotator.core.model import Category, Instance, Review
from annotator.gui.render import FillMask, fill_mask, mono_image, outline_path, set_mono_color

LABEL_Z = 1e7
HOVER_Z = 2e7
SELECTION_Z = 2e7 + 1


@dataclass(frozen=True)
class CanvasStyle:
    """How instances look; shared by all items of a canvas."""

    opacity: float = 0.5
    show_labels: bool = True
    show_scores: bool = True
    outline_width: float = 2.0
    cached: bool = True  # per-item device pixmap cache (off only to measure the naive baseline)


def instance_color(category: Category | None, category_id: int) -> QColor:
    rgb = category.color if category is not None and category.color is not None else None
    return QColor(*(rgb or category_color(category_id)))


def outline_pen(instance: Instance, color: QColor, width: float) -> QPen:
    """Solid for people's work, dashed for model predictions nobody has reviewed, dotted if rejected."""
    pen = QPen(color, width)
    pen.setCosmetic(True)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    if instance.review is Review.REJECTED:
        pen.setStyle(Qt.PenStyle.DotLine)
    elif instance.source.is_model and instance.review is Review.UNREVIEWED:
        pen.setStyle(Qt.PenStyle.DashLine)
    return pen


class InstanceItem(QGraphicsItem):
    """One instance: its pycocotools-exact fill (alpha-blended) and its outline in the class colour."""

    def __init__(
        self, instance: Instance, category: Category | None, image_size: tuple[int, int], style: CanvasStyle
    ) -> None:
        super().__init__()
        self._image_size = image_size  # (width, height)
        self._style = style
        self._margin = 1.0
        self.instance = instance
        self._category = category
        self._build_geometry()
        self._apply_style()

    # -- mirroring the model ----------------------------------------------------------------------
    def set_instance(self, instance: Instance, category: Category | None) -> None:
        geometry_changed = instance.geometry is not self.instance.geometry
        self.instance, self._category = instance, category
        if geometry_changed:
            self.prepareGeometryChange()
            self._build_geometry()
        self._apply_style()

    def set_style(self, style: CanvasStyle) -> None:
        self._style = style
        self._apply_style()

    def set_margin(self, margin: float) -> None:
        """Room around the shape for the cosmetic outline, in scene units (depends on the zoom)."""
        if margin != self._margin:
            self.prepareGeometryChange()
            self._margin = margin

    def _build_geometry(self) -> None:
        width, height = self._image_size
        self.fill: FillMask = fill_mask(self.instance.geometry, height, width)
        self.outline: QPainterPath = outline_path(self.instance.geometry, self.fill)
        self._shape_rect = self.outline.boundingRect()
        self._fill_image = None if self.fill.empty else mono_image(self.fill.mask, QColor(0, 0, 0, 0))
        if self._fill_image is not None:
            h, w = self.fill.mask.shape
            self._shape_rect = self._shape_rect.united(QRectF(self.fill.x0, self.fill.y0, w, h))

    def _apply_style(self) -> None:
        self.color = instance_color(self._category, self.instance.category_id)
        fill = QColor(self.color)
        fill.setAlphaF(max(0.0, min(1.0, self._style.opacity)))
        if self.instance.review is Review.REJECTED:
            fill.setAlphaF(fill.alphaF() * 0.3)
        if self._fill_image is not None:
            set_mono_color(self._fill_image, fill)
        self._pen = outline_pen(self.instance, self.color, self._style.outline_width)
        mode = QGraphicsItem.CacheMode.DeviceCoordinateCache
        self.setCacheMode(mode if self._style.cached else QGraphicsItem.CacheMode.NoCache)
        self.update()

    # -- queries ----------------------------------------------------------------------------------
    def covers(self, point: QPointF) -> bool:
        """Whether the image pixel under `point` belongs to this instance (as exported)."""
        x, y = int(np.floor(point.x())) - self.fill.x0, int(np.floor(point.y())) - self.fill.y0
        h, w = self.fill.mask.shape
        return 0 <= x < w and 0 <= y < h and bool(self.fill.mask[y, x])

    @property
    def shape_rect(self) -> QRectF:
        return QRectF(self._shape_rect)

    # -- QGraphicsItem ----------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        m = self._margin
        return self._shape_rect.adjusted(-m, -m, m, m)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._fill_image is not None:
            painter.drawImage(QPointF(self.fill.x0, self.fill.y0), self._fill_image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(self._pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.outline)


class LabelItem(QGraphicsItem):
    """Class name (and score) in a small tag at constant screen size, just outside the instance's
    top-left corner so it never hides a small object."""

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._text = ""
        self._color = QColor(0, 0, 0)
        self._font = QFont()
        self._font.setPixelSize(12)
        self._rect = QRectF()

    def set_label(self, text: str, color: QColor, anchor: QPointF, *, below: bool) -> None:
        metrics = QFontMetricsF(self._font)
        width, height = metrics.horizontalAdvance(text) + 8, metrics.height() + 2
        self.prepareGeometryChange()
        self._text, self._color = text, QColor(color)
        self._rect = QRectF(0, 0 if below else -height, width, height)
        self.setPos(anchor)
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self._rect)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        background = QColor(self._color)
        background.setAlpha(220)
        painter.setBrush(background)
        painter.drawRect(self._rect)
        luminance = 0.299 * self._color.red() + 0.587 * self._color.green() + 0.114 * self._color.blue()
        painter.setPen(QColor(0, 0, 0) if luminance > 150 else QColor(255, 255, 255))
        painter.setFont(self._font)
        painter.drawText(self._rect.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter, self._text)


class MarkItem(QGraphicsItem):
    """The outline of the hovered or the selected instance, drawn over everything.

    A separate item, so hovering repaints only this outline's rectangle and never invalidates an
    instance's cache. Editing handles for the selected instance will live here.
    """

    def __init__(self, *, selected: bool) -> None:
        super().__init__()
        self._selected = selected
        self._path = QPainterPath()
        self._rect = QRectF()
        self.setZValue(SELECTION_Z if selected else HOVER_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_target(self, item: InstanceItem | None, margin: float) -> None:
        self.prepareGeometryChange()
        self._path = QPainterPath() if item is None else item.outline
        self._rect = self._path.boundingRect().adjusted(-margin, -margin, margin, margin)
        self.setVisible(item is not None)
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self._rect)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        wide = QPen(QColor(0, 0, 0, 160), 5 if self._selected else 4)
        wide.setCosmetic(True)
        painter.setPen(wide)
        painter.drawPath(self._path)
        thin = QPen(QColor(255, 230, 0) if self._selected else QColor(255, 255, 255), 2)
        thin.setCosmetic(True)
        if self._selected:
            thin.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(thin)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
