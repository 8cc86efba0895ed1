"""The polygon tool (P): click points; close on the first point, by double click or Enter; Esc cancels;
Backspace takes back the last point. Started with Shift on a selected polygon instance, the new ring
becomes another part of it instead of a new instance."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt

from annotator.core import shape_edit
from annotator.core.geometry import Polygons
from annotator.gui.canvas.render import rings_path
from annotator.gui.tools.base import Tool, ToolKind, has_modifier, left_button
from annotator.gui.tools.previews import HandlesItem, outline_item


class _Drawing:
    """The points clicked so far, with a rubber band to the mouse."""

    def __init__(self, tool: PolygonTool, first: tuple[float, float], part_of: int | None) -> None:
        self.tool, self.points, self.part_of = tool, [first], part_of
        self.image_id = tool.editor.session.image_id
        self.band = tool.add_preview(outline_item(rings_path([self.points], closed=False)))
        self.handles = tool.add_preview(HandlesItem())
        self.mouse = first
        self._show()

    def add(self, point: tuple[float, float]) -> None:
        self.points.append(point)
        self._show()

    def take_back(self) -> bool:
        """Drop the last point; False when none would be left."""
        if len(self.points) <= 1:
            return False
        self.points.pop()
        self._show()
        return True

    def hover(self, point: tuple[float, float]) -> None:
        self.mouse = point
        self.band.setPath(rings_path([[*self.points, point]], closed=False))

    def _show(self) -> None:
        self.band.setPath(rings_path([[*self.points, self.mouse]], closed=False))
        self.handles.set_rings([np.asarray(self.points)], self.tool.canvas.scale_factor, (0, 0))

    def near_first(self, point: tuple[float, float], distance: float) -> bool:
        x, y = self.points[0]
        return len(self.points) >= 3 and np.hypot(point[0] - x, point[1] - y) <= distance

    def finish(self):
        editor = self.tool.editor
        if (
            len(self.points) < 3
            or editor.dataset is None
            or self.image_id != self.tool.editor.session.image_id
        ):
            return None
        if self.part_of is not None and self.part_of in editor.dataset.instances:
            return shape_edit.add_ring(editor.dataset.instances[self.part_of], np.asarray(self.points))
        category = editor.class_for_new_shape()  # may ask for a name: the outline stays shown meanwhile
        if category is None:
            return None
        return shape_edit.add_polygon(editor.dataset, self.image_id, category, self.points)


class PolygonTool(Tool):
    kind = ToolKind.POLYGON

    def __init__(self, editor) -> None:
        super().__init__(editor)
        self._drawing: _Drawing | None = None

    @property
    def busy(self) -> bool:
        return self._drawing is not None

    def cancel(self) -> None:
        self._drawing = None
        super().cancel()

    def keep(self) -> None:
        """A polygon of three points or more becomes an instance, as Enter would make it (one undo step),
        rather than being lost to a key that shows the next image or a project opened meanwhile."""
        drawing = self._drawing
        if drawing is None or len(drawing.points) < 3:
            self.cancel()
            return
        if self.commit() is not None:
            self.editor.message.emit("The polygon being drawn was kept as an instance (Ctrl+Z takes it away)")

    def mouse_press(self, event, pos: QPointF) -> bool:
        if not left_button(event):
            return False
        if self._drawing is None and not self.inside_image(pos):
            return True
        point = self.clamped(pos)
        if self._drawing is None:
            self._drawing = _Drawing(self, point, self._part_target(event))
        elif (
            self._drawing.near_first(point, self.tool_distance)
            or event.type() == event.Type.MouseButtonDblClick
        ):
            self.commit()
        else:
            self._drawing.add(point)
        return True

    @property
    def tool_distance(self) -> float:
        return self.pick_distance * 1.5

    def _part_target(self, event) -> int | None:
        instance = self.editor.selected_instance
        shift = has_modifier(event, Qt.KeyboardModifier.ShiftModifier)
        if shift and instance is not None and isinstance(instance.geometry, Polygons):
            return instance.id
        return None

    def mouse_move(self, event, pos: QPointF) -> bool:
        if self._drawing is None:
            return False
        self._drawing.hover(self.clamped(pos))
        return True

    def mouse_release(self, event, pos: QPointF) -> bool:
        return self._drawing is not None and left_button(event)

    def key_press(self, event) -> bool:
        if self._drawing is None:
            return super().key_press(event)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.commit()
            return True
        if event.key() == Qt.Key.Key_Backspace:
            if not self._drawing.take_back():
                self.cancel()
            return True
        return super().key_press(event)

    def commit(self):
        """The polygon drawn so far as an instance, or a ring of the instance it is a part of; the edit
        made, if any."""
        drawing, self._drawing = self._drawing, None
        edit = drawing.finish() if drawing is not None else None
        self.clear_previews()
        self.editor.push(edit)
        if edit is not None and shape_edit.added_instances(edit):
            self.editor.select(shape_edit.added_instances(edit)[0].id)
        return edit
