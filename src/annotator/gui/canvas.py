"""The canvas: a QGraphicsView that mirrors one image of a Dataset, back to front by z-order.

The scene never owns the document. It subscribes to `Dataset` change events and rebuilds only the items
whose instance changed; the z-order changes it offers ("bring to front", "send to back") are
`core.edits.ReplaceInstances` edits handed to `apply_edit`, so the project store saves them and an undo
stack can wrap them later.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QPixmapCache, QTransform
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

from annotator.core.edits import Edit, ReplaceInstances
from annotator.core.model import Change, ChangeKind, Dataset, Instance
from annotator.gui.items import LABEL_Z, CanvasStyle, InstanceItem, LabelItem, MarkItem

MIN_SCALE, MAX_SCALE = 0.01, 64.0
GESTURE_SETTLE_MS = 180
_PIXMAP_CACHE_KB = 256 * 1024  # item caches of 500 instances on a large image need more than Qt's 10 MB


class Canvas(QGraphicsView):
    """Shows one image and its instances; zoom to the cursor, pan, fit, 1:1; hover and select."""

    hovered_changed = Signal(object)  # instance id or None
    selection_changed = Signal(object)  # instance id or None
    cursor_moved = Signal(object)  # QPointF in image coordinates, or None when the cursor leaves
    zoom_changed = Signal(float)

    def __init__(self, parent=None, *, style: CanvasStyle | None = None) -> None:
        super().__init__(parent)
        QPixmapCache.setCacheLimit(max(QPixmapCache.cacheLimit(), _PIXMAP_CACHE_KB))
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.style_options = style or CanvasStyle()
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.backdrop = QColor(60, 60, 60)
        self.placeholder = "No image"
        self.dataset: Dataset | None = None
        self.image_id: int | None = None
        self.items_by_id: dict[int, InstanceItem] = {}
        self._labels: dict[int, LabelItem] = {}
        self._levels: list[QImage] = []
        self._image_rect = QRectF()
        self.hidden_instances: set[int] = set()
        self.hidden_categories: set[int] = set()
        self.all_hidden = False
        self.hovered_id: int | None = None
        self.selected_id: int | None = None
        self._hover_mark = MarkItem(selected=False)
        self._selection_mark = MarkItem(selected=True)
        for mark in (self._hover_mark, self._selection_mark):
            mark.setVisible(False)
            self.scene().addItem(mark)
        self._margin_bucket = 0.0
        self._pan_from: QPointF | None = None
        self._space_held = False
        self._snapshot: QPixmap | None = None
        self._snapshot_transform = QTransform()
        self._gesture_timer = QTimer(self, singleShot=True, interval=GESTURE_SETTLE_MS)
        self._gesture_timer.timeout.connect(self._end_gesture)
        self.apply_edit: Callable[[Edit], None] = self._apply_directly
        self.tool = None  # the active editing tool (gui.tools); sees mouse, key and wheel events first

    # -- document ---------------------------------------------------------------------------------
    def set_dataset(self, dataset: Dataset | None) -> None:
        if self.dataset is not None:
            self.dataset.unsubscribe(self._on_change)
        self.dataset = dataset
        self.hidden_instances.clear()
        if dataset is not None:
            dataset.subscribe(self._on_change)
        self.show_image(None)

    def show_image(self, image_id: int | None, levels: list[QImage] | None = None) -> None:
        """Switch to an image; its pixels may come later through `set_pixels` (decoded off-thread)."""
        self._clear_items()
        self.image_id = image_id
        self._levels = []
        if image_id is None or self.dataset is None:
            self._image_rect = QRectF()
            self.scene().setSceneRect(QRectF(0, 0, 1, 1))
            self.resetCachedContent()
            self.viewport().update()
            return
        image = self.dataset.images[image_id]
        self._image_rect = QRectF(0, 0, image.width, image.height)
        margin = max(image.width, image.height) * 0.5
        self.scene().setSceneRect(self._image_rect.adjusted(-margin, -margin, margin, margin))
        for instance in self.dataset.instances_of(image_id):
            self._add_item(instance)
        self._restack()
        self.set_pixels(image_id, levels)
        self.fit()

    def set_pixels(self, image_id: int, levels: list[QImage] | None) -> None:
        """The decoded image as a pyramid (full size first); ignored if the canvas moved on."""
        if image_id != self.image_id:
            return
        self._levels = list(levels or [])
        self.resetCachedContent()
        self.viewport().update()

    @property
    def has_pixels(self) -> bool:
        return bool(self._levels)

    def _apply_directly(self, edit: Edit) -> None:
        edit.apply(self.dataset)

    def _on_change(self, change: Change) -> None:
        if self.image_id is None:
            return
        kind = change.kind
        if kind is ChangeKind.INSTANCES_ADDED:
            for instance in change.items:
                if instance.image_id == self.image_id:
                    self._add_item(instance)
            self._restack()
        elif kind is ChangeKind.INSTANCES_REMOVED:
            for instance in change.items:
                self._remove_item(instance.id)
        elif kind is ChangeKind.INSTANCES_CHANGED:
            self._update_items(change.items)
        elif kind is ChangeKind.CATEGORIES_CHANGED:
            ids = {category.id for category in change.items}
            self._update_items(
                item.instance for item in self.items_by_id.values() if item.instance.category_id in ids
            )

    def _update_items(self, instances: Iterable[Instance]) -> None:
        restack = False
        for instance in instances:
            item = self.items_by_id.get(instance.id)
            if item is None:
                if instance.image_id == self.image_id:
                    self._add_item(instance)
                    restack = True
                continue
            if instance.image_id != self.image_id:
                self._remove_item(instance.id)
                continue
            restack |= item.instance.z != instance.z
            item.set_instance(instance, self.dataset.categories.get(instance.category_id))
            self._refresh_label(instance.id)
            self._refresh_visibility(instance.id)
            if instance.id in (self.hovered_id, self.selected_id):
                self._refresh_marks()
        if restack:
            self._restack()

    # -- items ------------------------------------------------------------------------------------
    def _add_item(self, instance: Instance) -> None:
        image = self.dataset.images[instance.image_id]
        category = self.dataset.categories.get(instance.category_id)
        item = InstanceItem(instance, category, (image.width, image.height), self.style_options)
        item.set_margin(self._margin_bucket or 1.0)
        self.items_by_id[instance.id] = item
        self.scene().addItem(item)
        label = LabelItem()
        self._labels[instance.id] = label
        self.scene().addItem(label)
        self._refresh_label(instance.id)
        self._refresh_visibility(instance.id)

    def _remove_item(self, instance_id: int) -> None:
        item = self.items_by_id.pop(instance_id, None)
        if item is None:
            return
        self.scene().removeItem(item)
        self.scene().removeItem(self._labels.pop(instance_id))
        if self.hovered_id == instance_id:
            self._set_hovered(None)
        if self.selected_id == instance_id:
            self.select(None)

    def _clear_items(self) -> None:
        for instance_id in list(self.items_by_id):
            self._remove_item(instance_id)
        self._set_hovered(None)
        self.select(None)

    def _restack(self) -> None:
        """Painter's algorithm: z-values follow the dataset's back-to-front order."""
        if self.dataset is None or self.image_id is None:
            return
        for rank, instance in enumerate(self.dataset.instances_of(self.image_id)):
            item = self.items_by_id.get(instance.id)
            if item is not None:
                item.setZValue(rank)
                self._labels[instance.id].setZValue(LABEL_Z + rank)

    def _refresh_label(self, instance_id: int) -> None:
        item, label = self.items_by_id[instance_id], self._labels[instance_id]
        instance = item.instance
        category = self.dataset.categories.get(instance.category_id)
        text = category.name if category is not None else f"class {instance.category_id}"
        if self.style_options.show_scores and instance.score is not None:
            text += f" {instance.score:.2f}"
        rect = item.shape_rect
        label.set_label(text, item.color, rect.topLeft(), below=rect.top() < 1)

    def _refresh_visibility(self, instance_id: int) -> None:
        item = self.items_by_id[instance_id]
        visible = not self.all_hidden and instance_id not in self.hidden_instances
        visible = visible and item.instance.category_id not in self.hidden_categories
        item.setVisible(visible)
        self._labels[instance_id].setVisible(visible and self.style_options.show_labels)

    # -- view options -----------------------------------------------------------------------------
    def set_style(self, style: CanvasStyle) -> None:
        self.style_options = style
        for instance_id, item in self.items_by_id.items():
            item.set_style(style)
            self._refresh_label(instance_id)
            self._refresh_visibility(instance_id)

    def set_instance_visible(self, instance_id: int, visible: bool) -> None:
        (self.hidden_instances.discard if visible else self.hidden_instances.add)(instance_id)
        if instance_id in self.items_by_id:
            self._refresh_visibility(instance_id)

    def set_category_visible(self, category_id: int, visible: bool) -> None:
        (self.hidden_categories.discard if visible else self.hidden_categories.add)(category_id)
        self._refresh_all_visibility()

    def set_all_hidden(self, hidden: bool) -> None:
        self.all_hidden = hidden
        self._refresh_all_visibility()

    def is_shown(self, instance_id: int) -> bool:
        item = self.items_by_id.get(instance_id)
        return item is not None and item.isVisible()

    def _refresh_all_visibility(self) -> None:
        for instance_id in self.items_by_id:
            self._refresh_visibility(instance_id)
        if self.hovered_id is not None and not self.is_shown(self.hovered_id):
            self._set_hovered(None)

    # -- z-order edits ----------------------------------------------------------------------------
    def bring_to_front(self, instance_ids: Iterable[int] | None = None) -> None:
        self._restack_edit(instance_ids, front=True)

    def send_to_back(self, instance_ids: Iterable[int] | None = None) -> None:
        self._restack_edit(instance_ids, front=False)

    def _restack_edit(self, instance_ids: Iterable[int] | None, *, front: bool) -> None:
        if self.dataset is None or self.image_id is None:
            return
        ids = list(instance_ids) if instance_ids is not None else [self.selected_id]
        old = tuple(self.dataset.instances[i] for i in ids if i in self.items_by_id)
        if not old:
            return
        zs = [inst.z for inst in self.dataset.instances_of(self.image_id)]
        start = max(zs) + 1 if front else min(zs) - len(old)
        new = tuple(inst.with_changes(z=start + k) for k, inst in enumerate(old))
        text = "Bring to front" if front else "Send to back"
        self.apply_edit(ReplaceInstances(old, new, text=text))

    # -- hover and selection ----------------------------------------------------------------------
    def instance_at(self, scene_pos: QPointF) -> int | None:
        """The front-most visible instance whose pixels include `scene_pos`."""
        for item in self.scene().items(
            scene_pos, Qt.ItemSelectionMode.IntersectsItemBoundingRect, Qt.SortOrder.DescendingOrder
        ):
            if isinstance(item, InstanceItem) and item.isVisible() and item.covers(scene_pos):
                return item.instance.id
        return None

    def select(self, instance_id: int | None) -> None:
        if instance_id == self.selected_id:
            return
        self.selected_id = instance_id
        self._refresh_marks()
        self.selection_changed.emit(instance_id)

    def _set_hovered(self, instance_id: int | None) -> None:
        if instance_id == self.hovered_id:
            return
        self.hovered_id = instance_id
        self._refresh_marks()
        self.hovered_changed.emit(instance_id)

    def _refresh_marks(self) -> None:
        margin = self._margin_bucket or 1.0
        hovered = None if self.hovered_id == self.selected_id else self.items_by_id.get(self.hovered_id)
        self._hover_mark.set_target(hovered, margin)
        self._selection_mark.set_target(self.items_by_id.get(self.selected_id), margin)

    # -- zoom and pan -----------------------------------------------------------------------------
    @property
    def scale_factor(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        if self._image_rect.isEmpty():
            return
        self.fitInView(self._image_rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._after_zoom()

    def zoom_1_1(self) -> None:
        self.set_zoom(1.0)

    def set_zoom(self, scale: float, anchor: QPointF | None = None) -> None:
        self.zoom_by(scale / self.scale_factor, anchor)

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the scene point under `anchor` (viewport coordinates; default the centre) still."""
        target = max(MIN_SCALE, min(MAX_SCALE, self.scale_factor * factor))
        factor = target / self.scale_factor
        if abs(factor - 1.0) < 1e-9:
            return
        anchor = QPointF(self.viewport().rect().center()) if anchor is None else QPointF(anchor)
        before = self.mapToScene(anchor.toPoint())
        self.scale(factor, factor)
        after = self.mapFromScene(before)
        shift = after - anchor.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + shift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + shift.y())
        self._after_zoom()

    def _after_zoom(self) -> None:
        scale = self.scale_factor
        # Outline room in scene units, in powers of two so items move only when the zoom doubles.
        bucket = (self.style_options.outline_width + 3) * 2.0 ** math.ceil(math.log2(1.0 / scale))
        if bucket != self._margin_bucket:
            self._margin_bucket = bucket
            for item in self.items_by_id.values():
                item.set_margin(bucket)
            self._refresh_marks()
        self.resetCachedContent()
        self.zoom_changed.emit(scale)

    def wheelEvent(self, event) -> None:
        if self.tool is not None and self.tool.wheel(event):
            event.accept()
            return
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta:
            return
        self._begin_gesture()
        self.zoom_by(1.0015**delta, event.position())
        event.accept()

    def _begin_gesture(self) -> None:
        """While a zoom gesture runs, show the last full frame transformed; render properly after."""
        if self._snapshot is None and self.has_pixels:
            self._snapshot = self.viewport().grab()
            self._snapshot_transform = self.viewportTransform()
        self._gesture_timer.start()

    def _end_gesture(self) -> None:
        self._snapshot = None
        self.viewport().update()

    @property
    def in_gesture(self) -> bool:
        return self._snapshot is not None

    def paintEvent(self, event) -> None:
        if self._snapshot is None:
            super().paintEvent(event)
            return
        painter = QPainter(self.viewport())
        painter.fillRect(self.viewport().rect(), self.backdrop)
        painter.setTransform(self.viewportTransform())
        self._draw_image(painter, self.mapToScene(self.viewport().rect()).boundingRect(), smooth=False)
        inverse, _ = self._snapshot_transform.inverted()
        painter.setTransform(inverse * self.viewportTransform())
        painter.drawPixmap(0, 0, self._snapshot)
        painter.end()

    def keyPressEvent(self, event) -> None:
        if self.tool is not None and self.tool.key_press(event):
            return
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self.viewport().unsetCursor()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event) -> None:
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space_held
        ):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self.tool is not None and self.tool.mouse_press(event, self.scene_point(event)):
            pass
        elif button == Qt.MouseButton.LeftButton:
            self.select(self.instance_at(self.mapToScene(event.position().toPoint())))
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:
        self.mousePressEvent(event)  # a tool sees the second click of a double click as a press

    def scene_point(self, event) -> QPointF:
        """The image point under a mouse event, unrounded (tools place vertices with it)."""
        return self.viewportTransform().inverted()[0].map(event.position())

    def mouseMoveEvent(self, event) -> None:
        position = event.position()
        if self._pan_from is not None:
            delta = position - self._pan_from
            self._pan_from = position
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            return
        scene_pos = self.mapToScene(position.toPoint())
        self.cursor_moved.emit(scene_pos if self._image_rect.contains(scene_pos) else None)
        if self.tool is not None and self.tool.mouse_move(event, self.scene_point(event)):
            return
        self._set_hovered(self.instance_at(scene_pos))

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            if self._space_held:
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            else:
                self.viewport().unsetCursor()
        elif self.tool is not None:
            self.tool.mouse_release(event, self.scene_point(event))
        event.accept()

    def leaveEvent(self, event) -> None:
        self.cursor_moved.emit(None)
        self._set_hovered(None)
        super().leaveEvent(event)

    # -- drawing ----------------------------------------------------------------------------------
    def pixel_at(self, scene_pos: QPointF) -> tuple[int, int, int] | None:
        if not self._levels or not self._image_rect.contains(scene_pos):
            return None
        color = self._levels[0].pixelColor(int(scene_pos.x()), int(scene_pos.y()))
        return (color.red(), color.green(), color.blue())

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, self.backdrop)
        if self._levels:
            self._draw_image(painter, rect, smooth=True)
        elif not self._image_rect.isEmpty():
            painter.fillRect(self._image_rect, QColor(90, 90, 90))

    def _draw_image(self, painter: QPainter, rect: QRectF, *, smooth: bool) -> None:
        """The exposed part of the image from the pyramid level nearest above the screen resolution."""
        target = rect.intersected(self._image_rect)
        if target.isEmpty() or not self._levels:
            return
        scale = painter.worldTransform().m11()
        level = 0 if scale >= 1 else min(int(math.floor(math.log2(1.0 / scale))), len(self._levels) - 1)
        image = self._levels[level]
        factor = image.width() / self._image_rect.width()
        source = QRectF(
            target.x() * factor, target.y() * factor, target.width() * factor, target.height() * factor
        )
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth and scale < 1)
        painter.drawImage(target, image, source)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if self._levels:
            return
        text = self.placeholder if self._image_rect.isEmpty() else "Loading…"
        painter.save()
        painter.resetTransform()
        painter.setPen(QColor(200, 200, 200))
        font = painter.font()
        font.setPixelSize(18)
        painter.setFont(font)
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()
