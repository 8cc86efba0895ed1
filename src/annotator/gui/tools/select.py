"""The select tool (V): pick instances, move them, and edit the selected polygon's vertices.

Click an instance to select it, Shift+click (or Ctrl+click) to add or remove one more, drag to move the
selection. On the selected polygon: drag a handle to move a vertex, press on an edge to insert a vertex
there (and drag it), Alt+click a handle or Backspace to delete the last touched vertex. Each instance part
(ring) is edited on its own. Every drag is one undo step, committed on release.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt

from annotator.core import shape_edit
from annotator.core.geometry import Mask, Polygons
from annotator.core.model import Instance
from annotator.gui.tools.base import Tool, ToolKind, has_modifier, left_button
from annotator.gui.tools.previews import EdgeItem, HandlesItem, geometry_path, outline_item

DRAG_START_PX = 3.0


class _VertexDrag:
    """One vertex following the mouse; `inserting` when it was made by pressing on an edge. The vertex's
    two edges follow it in the edit colour, over the instance as it was: only they and the handle
    repaint at each step (the whole ring as a preview repainted its box, the whole view at every step
    for a large instance at 2x)."""

    def __init__(self, tool: SelectTool, instance: Instance, ring: int, index: int, *, inserting: bool):
        self.tool, self.instance, self.ring, self.inserting = tool, instance, ring, inserting
        self.rings = [r.copy() for r in instance.geometry.rings]
        self.index = index + 1 if inserting else index
        self.moved = False
        self._show_edges()

    def _show_edges(self) -> None:
        """The dragged vertex's two edges."""
        ring = self.rings[self.ring]
        count = len(ring)
        self.tool.show_edges(ring[[(self.index - 1) % count, self.index % count, (self.index + 1) % count]])

    def start(self, point: tuple[float, float]) -> None:
        if self.inserting:
            self.rings[self.ring] = np.insert(self.rings[self.ring], self.index, point, axis=0)
            self._show()

    def move(self, point: tuple[float, float]) -> None:
        self.moved = True
        self.rings[self.ring][self.index] = point
        self._show()

    def _show(self) -> None:
        self._show_edges()
        self.tool.show_handles(self.rings, (self.ring, self.index))

    def finish(self):
        point = tuple(float(v) for v in self.rings[self.ring][self.index])
        if self.inserting:
            return shape_edit.insert_vertex(self.instance, self.ring, self.index - 1, point)
        if not self.moved:
            return None
        return shape_edit.move_vertex(self.instance, self.ring, self.index, point)


class _MoveDrag:
    """The selected instances following the mouse; masks move by whole pixels."""

    def __init__(self, tool: SelectTool, instances: list[Instance], start: QPointF) -> None:
        self.tool, self.instances, self.start = tool, instances, QPointF(start)
        self.whole_pixels = any(isinstance(i.geometry, Mask) for i in instances)
        self.offset = (0.0, 0.0)
        self.outlines = None

    def move(self, pos: QPointF) -> None:
        if self.outlines is None:
            image = self.tool.editor.image
            self.outlines = [
                self.tool.add_preview(outline_item(geometry_path(i.geometry, image.height, image.width)))
                for i in self.instances
            ]
            self.tool.show_handles(())
        dx, dy = pos.x() - self.start.x(), pos.y() - self.start.y()
        if self.whole_pixels:
            dx, dy = float(round(dx)), float(round(dy))
        self.offset = (dx, dy)
        for item in self.outlines:
            item.setPos(dx, dy)

    def finish(self):
        return shape_edit.move(self.instances, *self.offset)


class SelectTool(Tool):
    kind = ToolKind.SELECT
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, editor) -> None:
        super().__init__(editor)
        self._gesture: _VertexDrag | _MoveDrag | None = None
        self._press_view: QPointF | None = None
        self._handles = HandlesItem()
        self._edges = (EdgeItem(), EdgeItem())  # a dragged vertex's; in the scene while the tool is active
        self.active_vertex: tuple[int, int, int] | None = None  # (instance id, ring, index)

    # -- life cycle -------------------------------------------------------------------------------
    def activate(self) -> None:
        super().activate()
        for edge in self._edges:
            if edge.scene() is None:
                self.canvas.scene().addItem(edge)
        self.document_changed()

    def deactivate(self) -> None:
        super().deactivate()
        for item in (self._handles, *self._edges):
            if item.scene() is not None:
                item.scene().removeItem(item)

    def clear_previews(self) -> None:
        super().clear_previews()
        for edge in self._edges:
            edge.set_line(None, self.canvas.scale_factor)

    def show_edges(self, points) -> None:
        """The edges through `points` (three: a dragged vertex and its neighbours)."""
        for edge, line in zip(self._edges, zip(points[:-1], points[1:], strict=True), strict=True):
            edge.set_line(line, self.canvas.scale_factor)

    def cancel(self) -> None:
        self._gesture = None
        super().cancel()
        self.document_changed()

    @property
    def busy(self) -> bool:
        return self._gesture is not None

    def document_changed(self) -> None:
        if self._gesture is not None:
            return
        instance = self.editor.selected_instance
        editable = instance is not None and isinstance(instance.geometry, Polygons)
        if not editable or (self.active_vertex and self.active_vertex[0] != instance.id):
            self.active_vertex = None
        active = self.active_vertex[1:] if self.active_vertex else None
        self.show_handles(instance.geometry.rings if editable else (), active)

    def show_handles(self, rings, active: tuple[int, int] | None = None) -> None:
        if self._handles.scene() is None:
            self.canvas.scene().addItem(self._handles)
        self._handles.set_rings(rings, self.canvas.scale_factor, active)

    # -- events -----------------------------------------------------------------------------------
    def mouse_press(self, event, pos: QPointF) -> bool:
        if not left_button(event):
            return False
        if self._press_on_polygon(event, pos):
            return True
        target = self.canvas.instance_at(pos)
        if _adds_to_selection(event):
            self.editor.toggle_selected(target)
            return True
        if target is None:
            self.editor.select(None)
            return True
        if target not in self.editor.selected_ids:
            self.editor.select(target)
        self._gesture = _MoveDrag(self, self.editor.selected_instances, pos)
        self._press_view = event.position()
        return True

    def _press_on_polygon(self, event, pos: QPointF) -> bool:
        instance = self.editor.selected_instance
        if instance is None or not isinstance(instance.geometry, Polygons):
            return False
        if not self.canvas.is_shown(instance.id):
            return False
        point = (pos.x(), pos.y())
        ring, index, distance = shape_edit.nearest_vertex(instance.geometry, point)
        if distance <= self.pick_distance:
            if has_modifier(event, Qt.KeyboardModifier.AltModifier):
                self.active_vertex = None
                self.editor.push(shape_edit.delete_vertex(instance, ring, index))
                return True
            self.active_vertex = (instance.id, ring, index)
            self._gesture = _VertexDrag(self, instance, ring, index, inserting=False)
            self.show_handles(self._gesture.rings, (ring, index))
            return True
        hit = shape_edit.nearest_edge(instance.geometry, point)
        if hit.distance <= self.pick_distance and not _adds_to_selection(event):
            self._gesture = _VertexDrag(self, instance, hit.ring, hit.index, inserting=True)
            self._gesture.start(self.clamped(pos))
            self.active_vertex = (instance.id, hit.ring, hit.index + 1)
            return True
        return False

    def mouse_move(self, event, pos: QPointF) -> bool:
        gesture = self._gesture
        if gesture is None:
            return False
        if isinstance(gesture, _MoveDrag):
            if gesture.outlines is None and self._press_view is not None:
                travelled = event.position() - self._press_view
                if max(abs(travelled.x()), abs(travelled.y())) < DRAG_START_PX:
                    return True  # a click, not yet a drag
            gesture.move(pos)
        else:
            gesture.move(self.clamped(pos))
        return True

    def mouse_release(self, event, pos: QPointF) -> bool:
        gesture = self._gesture
        if gesture is None or not left_button(event):
            return gesture is not None
        self._gesture = None
        edit = gesture.finish() if not isinstance(gesture, _MoveDrag) or gesture.outlines else None
        self.clear_previews()
        self.editor.push(edit)
        self.document_changed()
        return True

    def key_press(self, event) -> bool:
        if event.key() == Qt.Key.Key_Backspace and self.active_vertex and not self.busy:
            instance_id, ring, index = self.active_vertex
            instance = self.editor.selected_instance
            if instance is not None and instance.id == instance_id:
                self.active_vertex = None
                self.editor.push(shape_edit.delete_vertex(instance, ring, index))
                return True
        return super().key_press(event)


def _adds_to_selection(event) -> bool:
    """Shift+click, or Ctrl+click as in most desktop tools (it did nothing): the instance joins the
    selection, or leaves it."""
    return has_modifier(event, Qt.KeyboardModifier.ShiftModifier) or has_modifier(
        event, Qt.KeyboardModifier.ControlModifier
    )
