"""Scene items: the selected instance drawn with vectors, all labels, and the hover/selection marks.

Every other instance is drawn in the overlay (`gui.canvas.compose`), not by an item. An item mirrors one
`Instance`; it never changes the dataset. The selected instance's fill is a 1-bit image in the class
colour and its outline a cosmetic path, so a tool can preview a new geometry on it live
(`InstanceItem.set_instance`).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import QGraphicsItem

from annotator.core.colors import category_rgb
from annotator.core.geometry import Mask
from annotator.core.model import Category, Instance, Review
from annotator.core.region import Crop, Region
from annotator.core.rules import is_unreviewed_prediction
from annotator.core.session import ViewStyle
from annotator.gui.canvas.render import mono_image, rings_path, set_mono_color

# A mask's outline with more vertices than this is drawn without antialiasing: it is all horizontal and
# vertical steps along pixel edges, and antialiasing cost 6x the stroke (11 ms for the 4800 vertices of
# a large mask at 2x) while showing little; small masks keep the smoother look (docs/decisions/0020).
STAIRCASE_VERTICES = 1000
SELECTED_Z = 1.0  # the selected instance, over the overlay (drawn as the view's background)
LABEL_Z = 1e7
HOVER_Z = 2e7
SELECTION_Z = 2e7 + 1


def is_staircase(geometry, rings) -> bool:
    """A mask whose traced outline has more than STAIRCASE_VERTICES vertices."""
    return isinstance(geometry, Mask) and sum(len(ring) for ring in rings) > STAIRCASE_VERTICES


def instance_color(category: Category | None, category_id: int) -> QColor:
    return QColor(*category_rgb(category, category_id))


def outline_pen(instance: Instance, color: QColor, width: float) -> QPen:
    """Solid for people's work, dashed for model predictions nobody has reviewed, dotted if rejected."""
    pen = QPen(color, width)
    pen.setCosmetic(True)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    if instance.review is Review.REJECTED:
        pen.setStyle(Qt.PenStyle.DotLine)
    elif is_unreviewed_prediction(instance):
        pen.setStyle(Qt.PenStyle.DashLine)
    return pen


class InstanceItem(QGraphicsItem):
    """One instance: its pycocotools-exact fill (alpha-blended) and its outline in the class colour."""

    def __init__(
        self,
        instance: Instance,
        category: Category | None,
        image_size: tuple[int, int],
        style: ViewStyle,
        *,
        cached: bool = True,
        region: Region | None = None,
    ) -> None:
        """`cached`: a device pixmap cache (off while a tool drags it, and for the benchmark's baseline).
        `region`: the instance's region if one is at hand (the canvas layer's: crop and outline made once)."""
        super().__init__()
        self._region = region
        self._image_size = image_size  # (width, height)
        self._style = style
        self._cached = cached
        self._margin = 1.0
        self.instance = instance
        self._category = category
        self._override_color: QColor | None = None
        self._build_geometry()
        self._apply_style()

    # -- mirroring the model ----------------------------------------------------------------------
    def set_instance(
        self, instance: Instance, category: Category | None, region: Region | None = None
    ) -> None:
        geometry_changed = instance.geometry is not self.instance.geometry
        self.instance, self._category, self._region = instance, category, region
        if geometry_changed:
            self.prepareGeometryChange()
            self._build_geometry()
        self._apply_style()

    def set_style(self, style: ViewStyle) -> None:
        self._style = style
        self._apply_style()

    def set_override_color(self, color: QColor | None) -> None:
        """Drawn in `color` instead of the class colour (None: the class colour again)."""
        if color != self._override_color:
            self._override_color = color
            self._apply_style()

    def set_margin(self, margin: float) -> None:
        """Room around the shape for the cosmetic outline, in scene units (depends on the zoom)."""
        if margin != self._margin:
            self.prepareGeometryChange()
            self._margin = margin

    def _build_geometry(self) -> None:
        width, height = self._image_size
        region = self._region
        if region is None or region.geometry is not self.instance.geometry:
            region = Region(self.instance.geometry, height, width)
        # one crop, or a sparse mask's groups of parts: never an image-sized fill for dots far apart
        self.fills: tuple[Crop, ...] = region.crops
        self.outline: QPainterPath = rings_path(region.outline)
        self._staircase = is_staircase(self.instance.geometry, region.outline)
        self._shape_rect = self.outline.boundingRect()
        self._fill_images = [mono_image(fill.mask, QColor(0, 0, 0, 0)) for fill in self.fills]
        for fill in self.fills:
            h, w = fill.mask.shape
            self._shape_rect = self._shape_rect.united(QRectF(fill.x0, fill.y0, w, h))

    def _apply_style(self) -> None:
        self.color = self._override_color or instance_color(self._category, self.instance.category_id)
        fill = QColor(self.color)
        fill.setAlphaF(max(0.0, min(1.0, self._style.opacity)))
        if self.instance.review is Review.REJECTED:
            fill.setAlphaF(fill.alphaF() * 0.3)
        for image in self._fill_images:
            set_mono_color(image, fill)
        self._pen = outline_pen(self.instance, self.color, self._style.outline_width)
        mode = QGraphicsItem.CacheMode.DeviceCoordinateCache
        self.setCacheMode(mode if self._cached else QGraphicsItem.CacheMode.NoCache)
        self.update()

    # -- QGraphicsItem ----------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        m = self._margin
        return self._shape_rect.adjusted(-m, -m, m, m)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        for fill, image in zip(self.fills, self._fill_images, strict=True):
            painter.drawImage(QPointF(fill.x0, fill.y0), image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, not self._staircase)
        painter.setPen(self._pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.outline)


@dataclass(frozen=True)
class Label:
    """A label to place: class name (and score) for the instance whose box starts at `anchor`."""

    anchor: QPointF  # the instance box's top-left corner, scene coordinates
    text: str
    color: QColor


class LabelLayer(QGraphicsItem):
    """Every label in one item, at constant screen size, placed so none overlaps another: front
    instances first, each just above its box's top-left corner or else just inside it; a label with
    no free place is left out (zoom in to see it). Cached in device pixels like the instances were."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(LABEL_Z)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self._font = QFont()
        self._font.setPixelSize(12)
        self._metrics = QFontMetricsF(self._font)
        self._widths: dict[str, float] = {}
        self._labels: list[Label] = []
        self._placed: list[tuple[Label, QRectF]] = []  # rect in screen pixels, relative to the anchor
        self._bounds = QRectF()
        self._scale = 1.0

    def set_labels(self, labels: list[Label], bounds: QRectF, scale: float) -> None:
        """`labels` front first; `bounds` the image rectangle (scene)."""
        self._labels = labels
        if bounds != self._bounds:
            self.prepareGeometryChange()
            self._bounds = QRectF(bounds)
        self.layout(scale)

    def layout(self, scale: float) -> None:
        """Place the labels for this zoom; repaint only the labels that appeared, moved or went."""
        height = self._metrics.height() + 2
        cell = 64.0
        grid: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}
        placed = []
        for label in self._labels:
            width = self._widths.get(label.text)
            if width is None:
                width = self._widths[label.text] = self._metrics.horizontalAdvance(label.text) + 8
            x, y = label.anchor.x() * scale, label.anchor.y() * scale
            for dy in (-height, 0.0):
                x0, y0, x1, y1 = x, y + dy, x + width, y + dy + height
                cells = [
                    (cx, cy)
                    for cx in range(int(x0 // cell), int(x1 // cell) + 1)
                    for cy in range(int(y0 // cell), int(y1 // cell) + 1)
                ]
                if any(
                    x0 < o[2] and o[0] < x1 and y0 < o[3] and o[1] < y1
                    for key in cells
                    for o in grid.get(key, ())
                ):
                    continue
                for key in cells:
                    grid.setdefault(key, []).append((x0, y0, x1, y1))
                placed.append((label, QRectF(0, dy, width, height)))
                break
        before = {_label_key(label, rect): (label, rect) for label, rect in self._placed}
        after = {_label_key(label, rect): (label, rect) for label, rect in placed}
        rescaled = scale != self._scale
        if rescaled:
            self.prepareGeometryChange()
            self._scale = scale
        self._placed = placed
        if rescaled:
            self.update()
            return
        for key in before.keys() ^ after.keys():
            label, rect = before.get(key) or after[key]
            self.update(self._scene_rect(label, rect).adjusted(-1, -1, 1, 1))

    def _scene_rect(self, label: Label, rect: QRectF) -> QRectF:
        scale = max(self._scale, 1e-6)
        return QRectF(
            label.anchor.x(),
            label.anchor.y() + rect.top() / scale,
            rect.width() / scale,
            rect.height() / scale,
        )

    def boundingRect(self) -> QRectF:
        if self._bounds.isEmpty():
            return QRectF()
        room = 40.0 / max(self._scale, 1e-6)
        return self._bounds.adjusted(-room, -room, room, room)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        transform = painter.worldTransform()
        exposed = option.exposedRect
        painter.setFont(self._font)
        for label, rect in self._placed:
            if not exposed.intersects(self._scene_rect(label, rect)):
                continue
            at = transform.map(label.anchor)
            painter.setTransform(QTransform.fromTranslate(round(at.x()), round(at.y())))
            painter.setPen(Qt.PenStyle.NoPen)
            background = QColor(label.color)
            background.setAlpha(220)
            painter.setBrush(background)
            painter.drawRect(rect)
            color = label.color
            luminance = 0.299 * color.red() + 0.587 * color.green() + 0.114 * color.blue()
            painter.setPen(QColor(0, 0, 0) if luminance > 150 else QColor(255, 255, 255))
            painter.drawText(rect.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter, label.text)
        painter.setTransform(transform)


def _label_key(label: Label, rect: QRectF) -> tuple:
    return (label.anchor.x(), label.anchor.y(), label.text, label.color.rgba(), rect.top(), rect.width())


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
        self._staircase = False
        self.setZValue(SELECTION_Z if selected else HOVER_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_target(self, path: QPainterPath | None, margin: float, *, staircase: bool = False) -> None:
        """`staircase`: the path runs along pixel edges (a mask's outline), drawn without antialiasing."""
        self._staircase = staircase
        self.prepareGeometryChange()
        self._path = QPainterPath() if path is None else path
        self._rect = self._path.boundingRect().adjusted(-margin, -margin, margin, margin)
        self.setVisible(path is not None)
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self._rect)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, not self._staircase)
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
