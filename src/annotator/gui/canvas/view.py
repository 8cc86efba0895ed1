"""The canvas: a QGraphicsView that mirrors the session's image, back to front by z-order.

The scene never owns the document. It follows the `Session` (which image, what is selected, hidden or
recoloured) and the `Dataset`'s change events, and redraws only where an instance changed. Instances are
drawn as one composited overlay (`gui.canvas.overlay`), the selected one also as a vector item a tool
can preview edits on; see docs/decisions/0003-canvas-rendering.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

from annotator.core.model import Change, ChangeKind, Dataset, Instance
from annotator.core.session import Session, SessionChange, SessionEvent
from annotator.gui.canvas.adjust import ImageAdjuster
from annotator.gui.canvas.compose import Layer
from annotator.gui.canvas.items import InstanceItem, MarkItem
from annotator.gui.canvas.overlay import InstanceOverlay

MIN_SCALE, MAX_SCALE = 0.01, 64.0
WHEEL_STEP = 1.0015  # zoom factor per unit of wheel angle (1/8 degree)
WHEEL_NOTCH = 120  # the angle one notch of a mouse wheel turns
NOTCH = WHEEL_STEP**WHEEL_NOTCH  # one notch's zoom factor: the wheel's, and the + and - keys'
RECENT_SCALES = 8  # zooms just left that a zoom step lands on exactly when it comes within SNAP of one
SNAP = 1e-9  # relative: zooming in a notch and out again ends a rounding error off the zoom it left
MANY_CHANGED = 12  # more instances than this changing visibility at once: rebuild the tile
GESTURE_SETTLE_MS = 180
PAN_SETTLE_MS = 40


class Canvas(QGraphicsView):
    """Shows the session's image and its instances; zoom to the cursor, pan, fit, 1:1; hover and select.

    What is shown (document, image, selection, hidden instances and classes, score filter, colours,
    style) is the `Session`'s: the canvas follows its events and keeps only what is its own, the view
    transform and the hovered instance.
    """

    hovered_changed = Signal(object)  # instance id or None
    cursor_moved = Signal(object)  # QPointF in image coordinates, or None when the cursor leaves
    zoom_changed = Signal(float)
    render_error = Signal(str)  # building the overlay failed (a bug): shown in the status bar

    def __init__(self, parent=None, *, session: Session | None = None) -> None:
        super().__init__(parent)
        self.session = session if session is not None else Session()
        self._fit_mode = False  # True after fit(): resizing the window fits again, until the user zooms
        self._recent_scales: list[float] = []  # zooms left by a zoom step, newest last
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
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
        self.failure: str | None = None  # why the shown image cannot be decoded (drawn instead of it)
        self._dataset: Dataset | None = None
        self._image_id: int | None = None
        self._selected_id: int | None = None
        self._levels: list[QImage] = []  # what is drawn: the decoded pyramid, adjusted if asked
        self._raw_levels: list[QImage] = []  # the decoded pyramid (the file's pixels)
        self._adjuster = ImageAdjuster(self)
        self._adjuster.adjusted.connect(self._adjusted)
        self._image_rect = QRectF()
        self.hovered_id: int | None = None
        self.outline_margin = 1.0
        self.overlay = InstanceOverlay(self, self.session, self)
        self._hover_mark = MarkItem(selected=False)
        self._selection_mark = MarkItem(selected=True)
        for mark in (self._hover_mark, self._selection_mark):
            mark.setVisible(False)
            self.scene().addItem(mark)
        self._pan_from: QPointF | None = None
        self._space_held = False
        self._snapshot: QPixmap | None = None
        self._snapshot_transform = QTransform()
        self._gesture_timer = QTimer(self, singleShot=True, interval=GESTURE_SETTLE_MS)
        self._gesture_timer.timeout.connect(self._end_gesture)
        self._view_timer = QTimer(self, singleShot=True, interval=PAN_SETTLE_MS)
        self._view_timer.timeout.connect(self._ensure_tile)
        self.tool = None  # the active editing tool (gui.tools); sees mouse, key and wheel events first
        self.session.subscribe(self._on_session)
        self._follow_document()

    # -- following the session --------------------------------------------------------------------
    def _on_session(self, change: SessionChange) -> None:
        kind = change.kind
        if kind is SessionEvent.DOCUMENT:
            self._follow_document()
        elif kind is SessionEvent.IMAGE:
            self._show_image(self.session.image_id)
        elif kind is SessionEvent.SELECTION:
            old, self._selected_id = self._selected_id, self.session.selected_id
            if old != self._selected_id:
                self.overlay.selection_changed(old, self._selected_id)
            self._refresh_marks()
        elif kind is SessionEvent.VISIBILITY:
            self._visibility_changed(change.ids)
        elif kind is SessionEvent.ADJUST:
            self._adjust_pixels()
        elif kind in (SessionEvent.STYLE, SessionEvent.OVERRIDES):
            self.overlay.restyle()
            if kind is SessionEvent.STYLE:
                self._after_zoom()  # the outline width changes the outline margin

    def _follow_document(self) -> None:
        if self._dataset is not None:
            self._dataset.unsubscribe(self._on_change)
        self._dataset = self.session.dataset
        self.overlay.forget_ahead()  # made for the other document's images
        if self._dataset is not None:
            self._dataset.subscribe(self._on_change)
        self._show_image(self.session.image_id)

    def _show_image(self, image_id: int | None) -> None:
        """Switch to an image; its pixels come later through `set_pixels` (decoded off-thread), and so
        may its overlay (masks are decoded and composited in a worker when there are many)."""
        self._set_hovered(None)
        self._selected_id = self.session.selected_id
        self._image_id = image_id
        self._levels, self._raw_levels = [], []
        self.failure = None
        dataset = self._dataset
        if image_id is None or dataset is None:
            self.overlay.clear()
            self._image_rect = QRectF()
            self.setSceneRect(QRectF(0, 0, 1, 1))
            self._refresh_marks()
            self.invalidate_background()
            return
        image = dataset.images[image_id]
        self._image_rect = QRectF(0, 0, image.width, image.height)
        self.overlay.set_image(image, dataset.instances_of(image_id))
        self._refresh_marks()
        self.invalidate_background()
        self.fit()

    def prefetch(self, image_id: int | None) -> None:
        """The image likely shown next (the following one): its masks are decoded while idle."""
        dataset = self._dataset
        if image_id is None or dataset is None or image_id == self._image_id:
            return
        if image_id in dataset.images:
            self.overlay.prefetch(dataset.images[image_id], dataset.instances_of(image_id))

    def set_pixels(self, image_id: int, levels: list[QImage] | None) -> None:
        """The decoded image as a pyramid (full size first); ignored if the canvas moved on."""
        if image_id != self._image_id:
            return
        self._levels = self._raw_levels = list(levels or [])
        self.failure = None
        self._adjust_pixels()
        self.invalidate_background()

    def _adjust_pixels(self) -> None:
        """Show the image with the session's brightness, contrast and gamma: the file's pixels at once
        when there is none, otherwise once the adjuster has made them (off the GUI thread)."""
        adjust = self.session.image_adjust
        if adjust.identity or not self._raw_levels:
            if self._levels is not self._raw_levels:
                self._levels = self._raw_levels
                self.invalidate_background()
        else:
            self._adjuster.request(self._image_id, self._raw_levels, adjust)

    def _adjusted(self, image_id: int, adjust, levels: list[QImage]) -> None:
        if image_id == self._image_id and adjust == self.session.image_adjust and self._raw_levels:
            self._levels = levels
            self.invalidate_background()

    def set_failure(self, image_id: int, message: str) -> None:
        """The image cannot be decoded: say why where it would be, instead of "Loading…" forever."""
        if image_id == self._image_id:
            self.failure = message
            self.invalidate_background()
            self.viewport().update()

    def full_image(self) -> QImage | None:
        """The decoded image at full size, as in the file (no brightness or contrast); None while it
        is still loading."""
        return self._raw_levels[0] if self._raw_levels else None

    @property
    def has_pixels(self) -> bool:
        return bool(self._levels)

    @property
    def layers(self) -> dict[int, Layer]:
        """The shown image's instances by id (their overlay layers: box, mask crop, colour)."""
        return self.overlay.layers

    @property
    def selected_item(self) -> InstanceItem | None:
        """The selected instance's vector item: `set_instance` on it previews a geometry live."""
        return self.overlay.selected_item

    def _on_change(self, change: Change) -> None:
        if self._image_id is None:
            return
        kind = change.kind
        if kind in (ChangeKind.INSTANCES_ADDED, ChangeKind.INSTANCES_CHANGED):
            self._put(change.items)
        elif kind is ChangeKind.INSTANCES_REMOVED:
            self._drop([instance.id for instance in change.items])
        elif kind is ChangeKind.CATEGORIES_CHANGED:
            self.overlay.restyle()  # colours, names, and classes that went

    def _put(self, instances: Iterable[Instance]) -> None:
        here, gone = [], []
        for instance in instances:
            if instance.image_id == self._image_id:
                here.append(instance)
            elif instance.id in self.overlay.layers:
                gone.append(instance.id)  # moved to another image
        if gone:
            self._drop(gone)
        if here:
            self.overlay.put(here)
            ids = {i.id for i in here}
            if self.hovered_id in ids or self._selected_id in ids:
                self._refresh_marks()

    def _drop(self, instance_ids: list[int]) -> None:
        if self.hovered_id in instance_ids:
            self._set_hovered(None)
        self.overlay.remove(instance_ids)
        if self._selected_id in instance_ids:
            self._refresh_marks()

    # -- visibility -------------------------------------------------------------------------------
    def is_shown(self, instance_id: int) -> bool:
        layer = self.overlay.layers.get(instance_id)
        return layer is not None and self.overlay.shown(layer)

    def _visibility_changed(self, ids: tuple[int, ...]) -> None:
        self.overlay.sync_selected_item()
        layers = [self.overlay.layers[i] for i in ids if i in self.overlay.layers]
        if ids and len(layers) <= MANY_CHANGED:
            self.overlay.redraw([layer.box for layer in layers])
        else:
            self.overlay.refresh()
        self.overlay.refresh_labels()
        if self.hovered_id is not None and not self.is_shown(self.hovered_id):
            self._set_hovered(None)
        self._refresh_marks()

    # -- hover and selection ----------------------------------------------------------------------
    def instance_at(self, scene_pos: QPointF) -> int | None:
        """The front-most visible instance whose pixels include `scene_pos`."""
        return self.overlay.instance_at(scene_pos.x(), scene_pos.y())

    def _set_hovered(self, instance_id: int | None) -> None:
        if instance_id == self.hovered_id:
            return
        self.hovered_id = instance_id
        self._refresh_marks()
        self.hovered_changed.emit(instance_id)

    def _refresh_marks(self) -> None:
        margin, selected = self.outline_margin, self._selected_id
        hovered = None if self.hovered_id == selected else self.hovered_id
        overlay = self.overlay
        self._hover_mark.set_target(overlay.outline_of(hovered), margin, staircase=overlay.staircase(hovered))
        shown = selected is not None and self.is_shown(selected)
        self._selection_mark.set_target(
            overlay.outline_of(selected) if shown else None, margin, staircase=overlay.staircase(selected)
        )

    # -- zoom and pan -----------------------------------------------------------------------------
    @property
    def scale_factor(self) -> float:
        return self.transform().m11()

    def fit_scale(self, width: float, height: float) -> float | None:
        """The zoom at which an image of this size fits the viewport, as `QGraphicsView.fitInView` picks it
        (a 2 px margin), but computed alone: the overlay makes the next image's tile at it ahead."""
        view = self.viewport().rect().adjusted(2, 2, -2, -2)
        if view.isEmpty() or width <= 0 or height <= 0:
            return None
        return min(view.width() / width, view.height() / height)

    def notch_scale(self, *, out: bool = False) -> float:
        """The zoom one notch of a mouse wheel in (or `out`) gives from here, to the last bit as `zoom_by`
        makes it (the overlay composites those tiles ahead)."""
        return self._target_scale(1 / NOTCH if out else NOTCH)

    def _target_scale(self, factor: float) -> float:
        """The zoom a step by `factor` lands on: within the limits, and exactly a zoom just left when it
        comes within SNAP of one (so the overlay's tile of that zoom is shown again at once)."""
        current = self.scale_factor
        target = max(MIN_SCALE, min(MAX_SCALE, current * factor))
        return next((s for s in reversed(self._recent_scales) if abs(target - s) <= SNAP * s), target)

    def fit(self) -> None:
        if self._image_rect.isEmpty():
            return
        self._update_scene_rect(fitting=True)
        scale = self.fit_scale(self._image_rect.width(), self._image_rect.height())
        if scale is None:
            return
        self.setTransform(QTransform.fromScale(scale, scale))  # exactly that scale (fitInView multiplies)
        self.centerOn(self._image_rect.center())
        self._update_scene_rect()
        self._after_zoom()
        self._fit_mode = True

    def zoom_1_1(self) -> None:
        self.set_zoom(1.0)

    def set_zoom(self, scale: float, anchor: QPointF | None = None) -> None:
        self._zoom_to(max(MIN_SCALE, min(MAX_SCALE, scale)), anchor)

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the scene point under `anchor` (viewport coordinates; default the centre) still."""
        self._zoom_to(self._target_scale(factor), anchor)

    def _zoom_to(self, target: float, anchor: QPointF | None) -> None:
        current = self.scale_factor
        if abs(target / current - 1.0) < SNAP:
            return
        self._fit_mode = False
        self._recent_scales = [s for s in self._recent_scales if s != current][-(RECENT_SCALES - 1) :]
        self._recent_scales.append(current)
        anchor = QPointF(self.viewport().rect().center()) if anchor is None else QPointF(anchor)
        before = self.mapToScene(anchor.toPoint())
        self.setTransform(QTransform.fromScale(target, target))  # exactly the target (`scale` multiplies)
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
        margin = (self.session.style.outline_width + 3) * 2.0 ** math.ceil(math.log2(1.0 / scale))
        if margin != self.outline_margin:
            self.outline_margin = margin
            if self.selected_item is not None:
                self.selected_item.set_margin(margin)
            self._refresh_marks()
        self.invalidate_background()
        if not self.in_gesture:
            self.overlay.labels.layout(scale)
            self.overlay.refresh()
        elif self.overlay.show_ready():  # this notch's exact picture is at hand: no need to settle first
            self._gesture_timer.stop()
            self._snapshot = None
            self.overlay.labels.layout(scale)
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

    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def invalidate_background(self, rect: QRectF | None = None) -> None:
        """Redraw the image and overlay (the view's background) in `rect` (scene), or all of it."""
        if rect is None:
            self.viewport().update()
        else:
            self.updateScene([rect])

    def render_failed(self, error: Exception) -> None:
        self.render_error.emit(f"drawing the instances failed: {type(error).__name__}: {error}")

    def wheelEvent(self, event) -> None:
        self.overlay.hold_ahead()
        if self.tool is not None and self.tool.wheel(event):
            event.accept()
            return
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta:
            return
        self._begin_gesture()
        self.zoom_by(WHEEL_STEP**delta, event.position())
        scene_pos = self.mapToScene(event.position().toPoint())  # the pointer may now be over another
        self.cursor_moved.emit(scene_pos if self._image_rect.contains(scene_pos) else None)
        if self.tool is None or not self.tool.busy:
            self._set_hovered(self.instance_at(scene_pos))
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
        if not self.overlay.covers_view():  # else the tile shown (made ahead, kept) is this zoom's
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
        self.overlay.hold_ahead()
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space_held
        ):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self.tool is not None and self.tool.mouse_press(event, self.scene_point(event)):
            pass
        elif button == Qt.MouseButton.LeftButton:
            self.session.select(self.instance_at(self.mapToScene(event.position().toPoint())))
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:
        self.mousePressEvent(event)  # a tool sees the second click of a double click as a press

    def scene_point(self, event) -> QPointF:
        """The image point under a mouse event, unrounded (tools place vertices with it)."""
        return self.viewportTransform().inverted()[0].map(event.position())

    def mouseMoveEvent(self, event) -> None:
        if event.buttons():
            self.overlay.hold_ahead()  # a drag or a stroke
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
        if self.tool is not None:
            self.tool.mouse_left()
        self.cursor_moved.emit(None)
        self._set_hovered(None)
        super().leaveEvent(event)

    # -- drawing ----------------------------------------------------------------------------------
    def pixel_at(self, scene_pos: QPointF) -> tuple[int, int, int] | None:
        if not self._raw_levels or not self._image_rect.contains(scene_pos):
            return None
        color = self._raw_levels[0].pixelColor(int(scene_pos.x()), int(scene_pos.y()))
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
        if self._image_rect.isEmpty():
            text = self.placeholder
        elif self.failure is not None:
            text = f"This image cannot be shown:\n{self.failure}"
        else:
            text = "Loading…"
        painter.save()
        painter.resetTransform()
        painter.setPen(QColor(200, 200, 200))
        font = painter.font()
        font.setPixelSize(18)
        painter.setFont(font)
        painter.drawText(
            self.viewport().rect().adjusted(20, 0, -20, 0),
            Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
            text,
        )
        painter.restore()
