"""Scene items: the selected instance drawn with vectors, all labels, and the hover/selection marks.

Every other instance is drawn in the overlay (`gui.canvas.compose`), not by an item. An item mirrors one
`Instance`; it never changes the dataset. The selected instance's fill is a 1-bit image in the class
colour and its outline a cosmetic path, so a tool can preview a new geometry on it live
(`InstanceItem.set_instance`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPen, QTransform
from PySide6.QtWidgets import QGraphicsItem

from annotator.core.colors import category_rgb
from annotator.core.geometry import Mask
from annotator.core.model import Category, Instance, Review
from annotator.core.region import Crop, Region
from annotator.core.rules import is_unreviewed_prediction
from annotator.core.session import ViewStyle
from annotator.gui.canvas.outline import PARTS_FROM, Outline, bounds_with_room, edited_area, outgrown_bounds
from annotator.gui.canvas.render import mono_image, set_mono_color

# A mask's outline with more vertices than this is drawn without antialiasing: it is all horizontal and
# vertical steps along pixel edges, and antialiasing cost 6x the stroke (11 ms for the 4800 vertices of
# a large mask at 2x) while showing little; small masks keep the smoother look (docs/decisions/0020).
STAIRCASE_VERTICES = 1000
SELECTED_Z = 1.0  # the selected instance, over the overlay (drawn as the view's background)
LABEL_Z = 1e7
HOVER_Z = 2e7
SELECTION_Z = 2e7 + 1
DASH_PX = 8  # the selection outline's dashes, screen pixels


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
    """One instance: its pycocotools-exact fill (alpha-blended) and its outline in the class colour.

    An edit repaints only where the new shape differs from the old one, while the shape stays inside the
    item's bounding rect: a changed rect (prepareGeometryChange) repaints both rects whole, 16 ms at 2x
    for a brush dab on the largest instance. An edit that outgrows it takes the whole scene
    (`outline.outgrown_bounds`). A repaint draws only the exposed part of the fill and of the outline
    (`outline.Outline`); docs/decisions/0020.
    """

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
        self._image_size = image_size  # (width, height)
        self._style = style
        self._margin = 1.0
        self.instance = instance
        self._category = category
        self._override_color: QColor | None = None
        self._fill_color = QColor(0, 0, 0, 0)
        self._look: tuple | None = None  # what the last style gave: a change repaints
        self._bounds = QRectF()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        mode = QGraphicsItem.CacheMode.DeviceCoordinateCache
        self.setCacheMode(mode if cached else QGraphicsItem.CacheMode.NoCache)
        self._build_geometry(region)
        self._bounds = self._roomy_bounds()
        self._apply_style()

    # -- mirroring the model ----------------------------------------------------------------------
    def set_instance(
        self, instance: Instance, category: Category | None, region: Region | None = None
    ) -> None:
        geometry_changed = instance.geometry is not self.instance.geometry
        self.instance, self._category = instance, category
        if geometry_changed:
            before = self.outline
            if region is not None:
                region.outline_edited_from(before.region)
            self._build_geometry(region)
            # a dash pattern runs along the whole outline: it moves everywhere past a change
            solid = self._pen.style() == Qt.PenStyle.SolidLine
            edited = edited_area(before, self.outline, self._margin) if solid else None
            room = len(self.outline) >= PARTS_FROM
            self._bounds = _show_change(self, self._bounds, self._shape_rect(), edited, room=room)
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
            self._bounds = self._roomy_bounds()

    def _roomy_bounds(self) -> QRectF:
        """Room for a large outline (a mask a brush edits) to grow without a new rect; a small one's
        exact (a larger rect is repainted whole at each selection)."""
        shape = self._shape_rect()
        return bounds_with_room(shape) if len(self.outline) >= PARTS_FROM else shape

    def _shape_rect(self) -> QRectF:
        """The outline's rect and the fill's pixels (a polygon's can reach past its vertices), with the
        pen's margin."""
        m = self._margin
        rect = self.outline.rect
        for fill in self.fills:
            height, width = fill.mask.shape
            rect = rect.united(QRectF(fill.x0, fill.y0, width, height))
        return rect.adjusted(-m, -m, m, m)

    def _build_geometry(self, region: Region | None) -> None:
        width, height = self._image_size
        if region is None or region.geometry is not self.instance.geometry:
            region = Region(self.instance.geometry, height, width)
        # one crop, or a sparse mask's groups of parts: never an image-sized fill for dots far apart
        self.fills: tuple[Crop, ...] = region.crops
        self.outline = Outline(region)
        self._staircase = is_staircase(self.instance.geometry, region.outline)
        self._fill_images = [mono_image(fill.mask, self._fill_color) for fill in self.fills]

    def _apply_style(self) -> None:
        self.color = self._override_color or instance_color(self._category, self.instance.category_id)
        fill = QColor(self.color)
        fill.setAlphaF(max(0.0, min(1.0, self._style.opacity)))
        if self.instance.review is Review.REJECTED:
            fill.setAlphaF(fill.alphaF() * 0.3)
        self._pen = outline_pen(self.instance, self.color, self._style.outline_width)
        look = (fill.rgba(), self._pen.style(), self._pen.widthF(), self.color.rgba())
        if look != self._look:
            for image in self._fill_images:
                set_mono_color(image, fill)
            self._fill_color, self._look = fill, look
            self.update()

    # -- QGraphicsItem ----------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return QRectF(self._bounds)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        exposed = option.exposedRect
        for fill, image in zip(self.fills, self._fill_images, strict=True):
            height, width = fill.mask.shape
            part = exposed.intersected(QRectF(fill.x0, fill.y0, width, height)).toAlignedRect()
            part = part.intersected(QRect(fill.x0, fill.y0, width, height))
            if part.isEmpty():
                continue
            if part.width() * part.height() < width * height:
                # a copy of the part: Qt converts a 1-bit image whole before drawing any of it
                image = image.copy(part.translated(-fill.x0, -fill.y0))
                painter.drawImage(part.topLeft(), image)
            else:
                painter.drawImage(QPointF(fill.x0, fill.y0), image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, not self._staircase)
        painter.setPen(self._pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        self.outline.draw(painter, exposed, self._margin)


@dataclass(frozen=True)
class Label:
    """A label to place: class name (and score) for the instance whose box starts at `anchor`."""

    anchor: QPointF  # the instance box's top-left corner, scene coordinates
    text: str
    color: QColor


class LabelLayer(QGraphicsItem):
    """Every label in one item, at constant screen size, placed so none overlaps another: front
    instances first, each just above its box's top-left corner (when inside the image) or else just
    inside it; a label with no free place is left out (zoom in to see it). Cached in device pixels like
    the instances were."""

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
            top = self._bounds.top() * scale
            for dy in (-height, 0.0):
                x0, y0, x1, y1 = x, y + dy, x + width, y + dy + height
                if dy and y0 < top:  # above the image it would be cut off at fit: inside the box
                    continue
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
    """The outline of the hovered or the selected instance, drawn over everything: white on black when
    hovered, yellow on black when selected.

    A separate item, so hovering repaints only this outline's rectangle and never invalidates an
    instance's cache. Like `InstanceItem`, an edit of its instance repaints only where the outline
    changed (a brush dab on the largest instance at 2x repainted the whole view, twice). Solid pens, so
    that a repaint of a part of the outline matches the rest of it: the selection's dashes are a pattern
    fixed on the screen, not a dash pattern (that runs along the whole path and shifts everywhere past a
    change).
    """

    def __init__(self, *, selected: bool) -> None:
        super().__init__()
        self._selected = selected
        self._outline: Outline | None = None
        self._margin = 0.0
        self._staircase = False
        self._bounds = QRectF()
        self.setZValue(SELECTION_Z if selected else HOVER_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self.setVisible(False)

    def set_target(self, outline: Outline | None, margin: float, *, staircase: bool = False) -> None:
        """`staircase`: the outline runs along pixel edges (a mask's), drawn without antialiasing."""
        if outline is self._outline and margin == self._margin and staircase == self._staircase:
            return
        edited = None
        if margin == self._margin and staircase == self._staircase and not self._dash_line(outline):
            edited = edited_area(self._outline, outline, margin)
        self._outline, self._margin, self._staircase = outline, margin, staircase
        self.setVisible(outline is not None)
        shape = QRectF() if outline is None else outline.rect.adjusted(-margin, -margin, margin, margin)
        room = self._selected and outline is not None and len(outline) >= PARTS_FROM
        self._bounds = _show_change(self, self._bounds, shape, edited, room=room)

    def _dash_line(self, outline: Outline | None) -> bool:
        """The selection of a small outline is dashed with Qt's dash pattern (the screen-fixed stripes cost
        twice its stroke: 2.0 against 1.0 ms for the largest polygon at 2x) and repainted whole when it
        changes; large outlines, drawn in parts, have the stripes."""
        return self._selected and outline is not None and len(outline) < PARTS_FROM

    def boundingRect(self) -> QRectF:
        return QRectF(self._bounds)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        outline = self._outline
        if outline is None:
            return
        exposed = option.exposedRect
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, not self._staircase)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        wide = QPen(QColor(0, 0, 0, 160), 5 if self._selected else 4)
        wide.setCosmetic(True)
        painter.setPen(wide)
        outline.draw(painter, exposed, self._margin)
        if self._dash_line(outline):
            thin = QPen(QColor(255, 230, 0), 2)
            thin.setStyle(Qt.PenStyle.DashLine)
        elif self._selected:  # yellow dashes as a pattern fixed on the screen (see the class's docstring)
            brush = QBrush(_dashes())
            scale = painter.worldTransform().m11() or 1.0
            brush.setTransform(QTransform.fromScale(1 / scale, 1 / scale))
            thin = QPen(brush, 2)
        else:
            thin = QPen(QColor(255, 255, 255), 2)
        thin.setCosmetic(True)
        painter.setPen(thin)
        outline.draw(painter, exposed, self._margin)


def _show_change(
    item: QGraphicsItem, bounds: QRectF, shape: QRectF, edited: QRectF | None, *, room: bool
) -> QRectF:
    """Repaint what changed for an item whose shape is now `shape` (scene units, pen included) and
    return its new bounding rect. `edited`: where an edit changed it (None: another shape, repainted
    whole). Inside the bounds only the edited area repaints; a shape that outgrew them gets new bounds,
    and both rects repaint. `room`: new bounds leave room for edits to grow (the selected instance's
    items when its outline is large; others are exact); bounds that an edit outgrew become the whole
    scene (`outline.outgrown_bounds`)."""
    if edited is not None and bounds.contains(shape):
        if not edited.isEmpty():
            item.update(edited)
        return bounds
    item.prepareGeometryChange()  # Qt repaints the old bounds and, with update(), the new
    item.update()
    if shape.isEmpty():
        return shape
    if edited is not None:
        return outgrown_bounds(item, shape)
    return bounds_with_room(shape) if room else shape


@functools.cache
def _dashes() -> QImage:
    """Diagonal yellow stripes, DASH_PX wide with gaps of half that, repeating: a horizontal or vertical
    line through them shows dashes as Qt's DashLine draws them."""
    period = DASH_PX + DASH_PX // 2
    image = QImage(period, period, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    yellow = QColor(255, 230, 0).rgba()
    for y in range(period):
        for x in range(period):
            if (x + y) % period < DASH_PX:
                image.setPixel(x, y, yellow)
    return image
