"""Brush (B) and eraser (E): paint or erase discs on the selected instance's mask.

The brush works on any instance: a polygon instance becomes a mask on its first stroke, holes and all.
With nothing selected the brush starts a new instance of the current class, and the eraser works on the
instance under the mouse. Radius: [ and ], or Ctrl/Shift + wheel. A stroke paints into a working bitmap
shown by the tool's own preview item and becomes one `MaskStroke` (a packed-bit delta) on release.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor

from annotator.core import edits, shape_edit
from annotator.core.colors import category_color
from annotator.core.mask_edit import MaskStroke, stamp_disc, stamp_segment, union_box
from annotator.core.model import Instance
from annotator.gui.tools.base import Tool, ToolKind, has_modifier, left_button
from annotator.gui.tools.previews import BrushCursorItem, MaskPreviewItem

MIN_RADIUS, MAX_RADIUS = 0.5, 500.0


class _Stroke:
    """One press-drag-release of the brush or eraser on one instance (or on a new one)."""

    def __init__(self, tool: BrushTool, target: Instance | None, start: tuple[float, float]) -> None:
        editor = tool.editor
        image = editor.image
        self.tool, self.target, self.image_id = tool, target, image.id
        if target is None:
            self.before = np.zeros((image.height, image.width), np.uint8)
        else:
            self.before = shape_edit.mask_of(editor.dataset, target)
        self.working = self.before.copy()
        category_id = target.category_id if target is not None else editor.current_category
        self.preview = tool.add_preview(
            MaskPreviewItem(image.height, image.width, _color(editor, category_id))
        )
        self.box = (0, 0, 0, 0)
        self.last = start
        self._paint(stamp_disc(self.working, start, editor.brush_radius, erase=tool.erase))

    def move(self, point: tuple[float, float]) -> None:
        radius = self.tool.editor.brush_radius
        self._paint(stamp_segment(self.working, self.last, point, radius, erase=self.tool.erase))
        self.last = point

    def _paint(self, box: tuple[int, int, int, int]) -> None:
        self.box = union_box(self.box, box)
        self.preview.show_region(self.before, self.working, box)

    def finish(self):
        editor = self.tool.editor
        x0, y0, x1, y1 = self.box
        if x1 <= x0 or self.image_id != self.tool.editor.session.image_id:
            return None
        if np.array_equal(self.before[y0:y1, x0:x1], self.working[y0:y1, x0:x1]):
            return None
        if self.target is None:
            category = editor.class_for_new_shape()
            if category is None:
                return None
            return shape_edit.add_mask(editor.dataset, self.image_id, category, self.working)
        if not self.working.any():  # erased to nothing: the instance is gone, not an empty mask
            return edits.RemoveInstances((self.target,), text="Erase")
        text = "Erase" if self.tool.erase else "Brush"
        return MaskStroke.from_masks(self.target, self.before, self.working, self.box, text=text)


def _color(editor, category_id: int | None) -> QColor:
    if category_id is None:  # no class yet: the first stroke is named when it ends
        return QColor(160, 160, 160)
    category = editor.dataset.categories.get(category_id) if editor.dataset is not None else None
    rgb = category.color if category is not None and category.color is not None else None
    return QColor(*(rgb or category_color(category_id)))


class BrushTool(Tool):
    kind = ToolKind.BRUSH
    erase = False
    cursor = Qt.CursorShape.BlankCursor  # the footprint circle is the cursor

    def __init__(self, editor) -> None:
        super().__init__(editor)
        self._stroke: _Stroke | None = None
        self._cursor_item = BrushCursorItem()
        self._mouse: QPointF | None = None

    @property
    def busy(self) -> bool:
        return self._stroke is not None

    def activate(self) -> None:
        super().activate()
        if self._cursor_item.scene() is None:
            self.canvas.scene().addItem(self._cursor_item)

    def deactivate(self) -> None:
        super().deactivate()
        if self._cursor_item.scene() is not None:
            self._cursor_item.scene().removeItem(self._cursor_item)

    def cancel(self) -> None:
        self._stroke = None
        super().cancel()

    def radius_changed(self) -> None:
        if self._mouse is not None:
            self._cursor_item.place(self._mouse, self.editor.brush_radius)

    def _target(self, pos: QPointF) -> Instance | None:
        instance = self.editor.selected_instance
        if instance is None and self.erase:
            hit = self.canvas.instance_at(pos)
            instance = None if hit is None else self.editor.dataset.instances[hit]
        return instance

    def mouse_press(self, event, pos: QPointF) -> bool:
        if not left_button(event):
            return False
        if self.editor.image is None or self.editor.dataset is None:
            return True
        target = self._target(pos)
        if target is None and self.erase:
            return True
        self._stroke = _Stroke(self, target, (pos.x(), pos.y()))
        return True

    def mouse_move(self, event, pos: QPointF) -> bool:
        self._mouse = QPointF(pos)
        self._cursor_item.place(pos, self.editor.brush_radius)
        if self._stroke is None:
            return False
        self._stroke.move((pos.x(), pos.y()))
        return True

    def mouse_release(self, event, pos: QPointF) -> bool:
        if self._stroke is None or not left_button(event):
            return self._stroke is not None
        stroke, self._stroke = self._stroke, None
        edit = stroke.finish()
        self.clear_previews()
        self.editor.push(edit)
        if edit is not None and stroke.target is None:
            self.editor.select(shape_edit.added_instances(edit)[0].id)
        return True

    def wheel(self, event) -> bool:
        modifiers = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        if not has_modifier(event, modifiers):
            return False
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.editor.set_brush_radius(self.editor.brush_radius * 1.1 ** (delta / 120))
        return True


class EraserTool(BrushTool):
    kind = ToolKind.ERASER
    erase = True
