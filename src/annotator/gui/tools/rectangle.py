"""The rectangle tool (R): press at one corner, drag, release at the other; Esc while dragging cancels."""

from __future__ import annotations

from PySide6.QtCore import QPointF

from annotator.core import shape_edit
from annotator.gui.canvas.render import rings_path
from annotator.gui.tools.base import Tool, ToolKind, left_button
from annotator.gui.tools.previews import outline_item

MIN_SIDE_PX = 3.0  # a smaller drag is a slip, not a rectangle


class _Dragging:
    def __init__(self, tool: RectangleTool, corner: tuple[float, float]) -> None:
        self.tool, self.corner, self.other = tool, corner, corner
        self.image_id = tool.editor.session.image_id
        self.outline = tool.add_preview(outline_item(rings_path([]), dashed=True))

    def move(self, point: tuple[float, float]) -> None:
        self.other = point
        (x0, y0), (x1, y1) = self.corner, point
        self.outline.setPath(rings_path([[(x0, y0), (x1, y0), (x1, y1), (x0, y1)]]))

    def drawn(self) -> bool:
        """A real box on the image still shown, not a slip of the hand."""
        editor, canvas = self.tool.editor, self.tool.canvas
        smallest = MIN_SIDE_PX / max(canvas.scale_factor, 1e-6)
        width, height = abs(self.other[0] - self.corner[0]), abs(self.other[1] - self.corner[1])
        return (
            min(width, height) >= smallest
            and self.image_id == editor.session.image_id
            and editor.dataset is not None
        )


class RectangleTool(Tool):
    """Drag a box; `box_drawn` decides what it becomes (here a rectangle polygon)."""

    kind = ToolKind.RECTANGLE

    def __init__(self, editor) -> None:
        super().__init__(editor)
        self._drag: _Dragging | None = None

    @property
    def busy(self) -> bool:
        return self._drag is not None

    def cancel(self) -> None:
        self._drag = None
        super().cancel()

    def mouse_press(self, event, pos: QPointF) -> bool:
        if not left_button(event):
            return False
        if self.inside_image(pos):
            self._drag = _Dragging(self, self.clamped(pos))
        return True

    def mouse_move(self, event, pos: QPointF) -> bool:
        if self._drag is None:
            return False
        self._drag.move(self.clamped(pos))
        return True

    def mouse_release(self, event, pos: QPointF) -> bool:
        if self._drag is None or not left_button(event):
            return self._drag is not None
        drag, self._drag = self._drag, None
        drag.move(self.clamped(pos))
        if drag.drawn():
            self.box_drawn(drag.corner, drag.other, drag.image_id)  # the box stays shown while it asks
        self.clear_previews()
        return True

    def box_drawn(self, corner: tuple[float, float], other: tuple[float, float], image_id: int) -> None:
        editor = self.editor
        category = editor.class_for_new_shape()
        if category is None:
            return
        edit = shape_edit.add_rectangle(editor.dataset, image_id, category, corner, other)
        editor.push(edit)
        editor.select(shape_edit.added_instances(edit)[0].id)
