"""The canvas: a QGraphicsView that mirrors one image of a Dataset, back to front by z-order.

The scene never owns the document. It subscribes to `Dataset` change events and redraws only where an
instance changed. Instances are drawn as one composited overlay (`gui.canvas.overlay`), the selected one
also as a vector item a tool can preview edits on; see docs/decisions/0003-canvas-rendering.md. The
z-order changes it offers ("bring to front", "send to back") are `core.operations` edits handed to
`apply_edit`, so the project store saves them and the undo stack wraps them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

from annotator.core import operations
from annotator.core.edits import Edit
from annotator.core.model import Change, ChangeKind, Dataset, Instance
from annotator.gui.canvas.compose import Layer
from annotator.gui.canvas.items import CanvasStyle, InstanceItem, MarkItem
from annotator.gui.canvas.overlay import InstanceOverlay, InstanceOverride

MIN_SCALE, MAX_SCALE = 0.01, 64.0
GESTURE_SETTLE_MS = 180
PAN_SETTLE_MS = 40


class Canvas(QGraphicsView):
    """Shows one image and its instances; zoom to the cursor, pan, fit, 1:1; hover and select."""

    hovered_changed = Signal(object)  # instance id or None
    selection_changed = Signal(object)  # instance id or None
    cursor_moved = Signal(object)  # QPointF in image coordinates, or None when the cursor leaves
    zoom_changed = Signal(float)
    render_error = Signal(str)  # building the overlay failed (a bug): shown in the status bar

    def __init__(self, parent=None, *, style: CanvasStyle | None = None) -> None:
        super().__init__(parent)
        self._fit_mode = False  # True after fit(): resizing the window fits again, until the user zooms
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.style_options = style or CanvasStyle()
        # No background cache: image and overlay are two unscaled-or-pyramid blits (about 3 ms for the
        # whole view); caching them in one more pixmap made a full repaint slower, not faster.
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.backdrop = QColor(60, 60, 60)
        self.placeholder = "No image"
        self.dataset: Dataset | None = None
        self.image_id: int | None = None
        self._levels: list[QImage] = []
        self._image_rect = QRectF()
        self.hidden_instances: set[int] = set()
        self.hidden_categories: set[int] = set()
        self.all_hidden = False
        self.min_score = 0.0  # unreviewed predictions scoring less are hidden (the review slider)
        self.overrides: dict[int, InstanceOverride] = {}  # instance id -> colour and note (evaluation)
        self.hovered_id: int | None = None
        self.selected_id: int | None = None
        self.overlay = InstanceOverlay(self)
        self._hover_mark = MarkItem(selected=False)
        self._selection_mark = MarkItem(selected=True)
        for mark in (self._hover_mark, self._selection_mark):
            mark.setVisible(False)
            self.scene().addItem(mark)
        self.outline_margin = 1.0
        self._pan_from: QPointF | None = None
        self._space_held = False
        self._snapshot: QPixmap | None = None
        self._snapshot_transform = QTransform()
        self._gesture_timer = QTimer(self, singleShot=True, interval=GESTURE_SETTLE_MS)
        self._gesture_timer.timeout.connect(self._end_gesture)
        self._view_timer = QTimer(self, singleShot=True, interval=PAN_SETTLE_MS)
        self._view_timer.timeout.connect(self._ensure_tile)
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
        """Switch to an image; its pixels may come later through `set_pixels` (decoded off-thread),
        and so may its overlay (masks are decoded and composited in a worker when there are many)."""
        self._set_hovered(None)
        self.select(None)
        self.image_id = image_id
        self._levels = []
        if image_id is None or self.dataset is None:
            self.overlay.clear()
            self._image_rect = QRectF()
            self.setSceneRect(QRectF(0, 0, 1, 1))
            self.invalidate_background()
            return
        image = self.dataset.images[image_id]
        self._image_rect = QRectF(0, 0, image.width, image.height)
        self.overlay.set_image(image, self.dataset.instances_of(image_id))
        self.set_pixels(image_id, levels)
        self.fit()

    def set_pixels(self, image_id: int, levels: list[QImage] | None) -> None:
        """The decoded image as a pyramid (full size first); ignored if the canvas moved on."""
        if image_id != self.image_id:
            return
        self._levels = list(levels or [])
        self.invalidate_background()

    def full_image(self) -> QImage | None:
        """The decoded image at full size; None while it is still loading."""
        return self._levels[0] if self._levels else None

    @property
    def has_pixels(self) -> bool:
        return bool(self._levels)

    @property
    def items_by_id(self) -> dict[int, Layer]:
        """The shown image's instances by id (their overlay layers: box, mask crop, colour)."""
        return self.overlay.layers

    @property
    def selected_item(self) -> InstanceItem | None:
        """The selected instance's vector item: `set_instance` on it previews a geometry live."""
        return self.overlay.selected_item

    def _apply_directly(self, edit: Edit) -> None:
        edit.apply(self.dataset)

    def _on_change(self, change: Change) -> None:
        if self.image_id is None:
            return
        kind = change.kind
        if kind in (ChangeKind.INSTANCES_ADDED, ChangeKind.INSTANCES_CHANGED):
            self._put(change.items)
        elif kind is ChangeKind.INSTANCES_REMOVED:
            self._drop([instance.id for instance in change.items])
        elif kind is ChangeKind.CATEGORIES_CHANGED:
            ids = {category.id for category in change.items}
            self._put(
                self.dataset.instances[layer.instance_id]
                for layer in self.overlay.order
                if layer.category_id in ids
            )

    def _put(self, instances: Iterable[Instance]) -> None:
        here, gone = [], []
        for instance in instances:
            if instance.image_id == self.image_id:
                here.append(instance)
            elif instance.id in self.overlay.layers:
                gone.append(instance.id)  # moved to another image
        if gone:
            self._drop(gone)
        if here:
            self.overlay.put(here)
            if self.hovered_id in {i.id for i in here} or self.selected_id in {i.id for i in here}:
                self._refresh_marks()

    def _drop(self, instance_ids: list[int]) -> None:
        if self.hovered_id in instance_ids:
            self._set_hovered(None)
        if self.selected_id in instance_ids:
            self.select(None)
        self.overlay.remove(instance_ids)

    # -- view options -----------------------------------------------------------------------------
    def set_style(self, style: CanvasStyle) -> None:
        self.style_options = style
        self.overlay.restyle()

    def layer_visible(self, layer: Layer) -> bool:
        return (
            not self.all_hidden
            and layer.instance_id not in self.hidden_instances
            and layer.category_id not in self.hidden_categories
            and (layer.pending_score is None or layer.pending_score >= self.min_score)
        )

    def set_min_score(self, score: float) -> None:
        """Hide unreviewed predictions scoring less than `score`; anything a person judged stays."""
        if score != self.min_score:
            self.min_score = score
            self._refresh_all_visibility()

    def set_overrides(self, overrides: dict[int, InstanceOverride]) -> None:
        """Colours (and label notes) that replace the class colour of these instances; {} for none."""
        if overrides != self.overrides:
            self.overrides = dict(overrides)
            self.overlay.restyle()

    def set_instance_visible(self, instance_id: int, visible: bool) -> None:
        (self.hidden_instances.discard if visible else self.hidden_instances.add)(instance_id)
        layer = self.overlay.layers.get(instance_id)
        if layer is not None:
            self.overlay.sync_selected_item()
            self.overlay.redraw([layer.box])
            self.overlay.refresh_labels()
            self._after_visibility()

    def set_category_visible(self, category_id: int, visible: bool) -> None:
        (self.hidden_categories.discard if visible else self.hidden_categories.add)(category_id)
        self._refresh_all_visibility()

    def set_all_hidden(self, hidden: bool) -> None:
        self.all_hidden = hidden
        self._refresh_all_visibility()

    def is_shown(self, instance_id: int) -> bool:
        layer = self.overlay.layers.get(instance_id)
        return layer is not None and self.layer_visible(layer)

    def _refresh_all_visibility(self) -> None:
        self.overlay.sync_selected_item()
        self.overlay.refresh()
        self.overlay.refresh_labels()
        self._after_visibility()

    def _after_visibility(self) -> None:
        if self.hovered_id is not None and not self.is_shown(self.hovered_id):
            self._set_hovered(None)
        self._refresh_marks()

    # -- z-order edits ----------------------------------------------------------------------------
    def bring_to_front(self, instance_ids: Iterable[int] | None = None) -> None:
        self._restack_edit(instance_ids, operations.bring_to_front)

    def send_to_back(self, instance_ids: Iterable[int] | None = None) -> None:
        self._restack_edit(instance_ids, operations.send_to_back)

    def _restack_edit(self, instance_ids: Iterable[int] | None, operation) -> None:
        if self.dataset is None or self.image_id is None:
            return
        ids = list(instance_ids) if instance_ids is not None else [self.selected_id]
        instances = [self.dataset.instances[i] for i in ids if i in self.overlay.layers]
        if instances:
            self.apply_edit(operation(self.dataset, instances))

    # -- hover and selection ----------------------------------------------------------------------
    def instance_at(self, scene_pos: QPointF) -> int | None:
        """The front-most visible instance whose pixels include `scene_pos`."""
        return self.overlay.instance_at(scene_pos.x(), scene_pos.y())

    def select(self, instance_id: int | None) -> None:
        if instance_id == self.selected_id:
            return
        old, self.selected_id = self.selected_id, instance_id
        self.overlay.selection_changed(old, instance_id)
        self._refresh_marks()
        self.selection_changed.emit(instance_id)

    def _set_hovered(self, instance_id: int | None) -> None:
        if instance_id == self.hovered_id:
            return
        self.hovered_id = instance_id
        self._refresh_marks()
        self.hovered_changed.emit(instance_id)

    def _refresh_marks(self) -> None:
        margin = self.outline_margin
        hovered = None if self.hovered_id == self.selected_id else self.hovered_id
        self._hover_mark.set_target(self.overlay.path_of(hovered), margin)
        shown = self.selected_id is not None and self.is_shown(self.selected_id)
        self._selection_mark.set_target(self.overlay.path_of(self.selected_id) if shown else None, margin)

    # -- zoom and pan -----------------------------------------------------------------------------
    @property
    def scale_factor(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        if self._image_rect.isEmpty():
            return
        self._update_scene_rect(fitting=True)
        self.fitInView(self._image_rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._update_scene_rect()
        self._after_zoom()
        self._fit_mode = True

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
        self._fit_mode = False
        anchor = QPointF(self.viewport().rect().center()) if anchor is None else QPointF(anchor)
        before = self.mapToScene(anchor.toPoint())
        self.scale(factor, factor)
        self._update_scene_rect()
        after = self.mapFromScene(before)
        shift = after - anchor.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + shift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + shift.y())
        self._after_zoom()

    def _update_scene_rect(self, *, fitting: bool = False) -> None:
        """The image, plus room to bring any of its points to the centre once it overflows the view;
        no room while it fits, so no scroll bars show at fit."""
        if self._image_rect.isEmpty():
            return
        scale = self.scale_factor
        view = self.viewport().size()
        width, height = self._image_rect.width(), self._image_rect.height()
        mx = 0.0 if fitting or width * scale <= view.width() else view.width() / scale / 2
        my = 0.0 if fitting or height * scale <= view.height() else view.height() / scale / 2
        self.setSceneRect(self._image_rect.adjusted(-mx, -my, mx, my))

    def _after_zoom(self) -> None:
        scale = self.scale_factor
        # Outline room in scene units, in powers of two so items move only when the zoom doubles.
        margin = (self.style_options.outline_width + 3) * 2.0 ** math.ceil(math.log2(1.0 / scale))
        if margin != self.outline_margin:
            self.outline_margin = margin
            if self.selected_item is not None:
                self.selected_item.set_margin(margin)
            self._refresh_marks()
        self.invalidate_background()
        if not self.in_gesture:
            self.overlay.labels.layout(scale)
            self.overlay.refresh()
        self.zoom_changed.emit(scale)

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        if not self.in_gesture and not self.overlay.covers_view():
            self._view_timer.start()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()
        self._update_scene_rect()
        if not self.in_gesture and not self.overlay.covers_view():
            self._view_timer.start()

    def _ensure_tile(self) -> None:
        if not self.in_gesture and not self.overlay.covers_view():
            self.overlay.refresh()

    def invalidate_background(self, rect: QRectF | None = None) -> None:
        """Redraw the image and overlay (the view's background) in `rect` (scene), or all of it."""
        if rect is None:
            self.viewport().update()
        else:
            self.updateScene([rect])

    def render_failed(self, error: Exception) -> None:
        self.render_error.emit(f"drawing the instances failed: {type(error).__name__}: {error}")

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
        self.overlay.labels.layout(self.scale_factor)
        self.overlay.refresh()
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
            painter.fillRect(self._image_rect.intersected(rect), QColor(90, 90, 90))
        self.overlay.draw(painter, rect)

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
