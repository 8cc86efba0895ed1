"""What every editing tool shares: the canvas events it may take, and how it reaches the document.

The canvas hands mouse, key and wheel events to the active tool first; a tool returns True when it used
the event. A gesture (a drag, a stroke, a polygon being drawn) is its own small state object inside the
tool, previewed with the tool's own scene items, and hands exactly one edit to the undo stack at its end.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QGraphicsItem

if TYPE_CHECKING:
    from annotator.gui.canvas.view import Canvas
    from annotator.gui.tools.editor import Editor


class ToolKind(StrEnum):
    SELECT = "select"
    POLYGON = "polygon"
    RECTANGLE = "rectangle"
    BRUSH = "brush"
    ERASER = "eraser"
    BOX_SEGMENT = "box_segment"


PICK_PX = 7.0  # how near, in screen pixels, the mouse must be to a vertex or an edge


class Tool:
    kind: ToolKind
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, editor: Editor) -> None:
        self.editor = editor
        self._items: list[QGraphicsItem] = []

    @property
    def canvas(self) -> Canvas:
        return self.editor.canvas

    # -- life cycle -------------------------------------------------------------------------------
    def activate(self) -> None:
        self.canvas.viewport().setCursor(self.cursor)

    def deactivate(self) -> None:
        self.cancel()
        self.canvas.viewport().unsetCursor()

    def cancel(self) -> None:
        """Drop the gesture in progress (Esc, another image, an undo) without editing anything."""
        self.clear_previews()

    def keep(self) -> None:
        """Its image or document is about to go: keep what the gesture in progress made, where there is
        something worth keeping (a polygon of three points), else drop it."""
        self.cancel()

    def document_changed(self) -> None:
        """The dataset or the selection changed under the tool."""

    # -- events (return True when used) -----------------------------------------------------------
    def mouse_press(self, event, pos: QPointF) -> bool:
        return False

    def mouse_move(self, event, pos: QPointF) -> bool:
        return False

    def mouse_release(self, event, pos: QPointF) -> bool:
        return False

    def mouse_left(self) -> None:
        """The pointer left the canvas: what follows it (the brush's circle) goes."""

    def key_press(self, event) -> bool:
        """Esc cancels the gesture in progress, or else lets go of the selection (in every tool: the
        shape just drawn stays selected, and the next class key or C would rename it)."""
        if event.key() == Qt.Key.Key_Escape and self.busy:
            self.cancel()
            return True
        if event.key() == Qt.Key.Key_Escape and self.editor.selected_ids:
            self.editor.select(None)
            return True
        return False

    def wheel(self, event) -> bool:
        return False

    @property
    def busy(self) -> bool:
        """True while a gesture is in progress."""
        return False

    # -- helpers ----------------------------------------------------------------------------------
    def add_preview(self, item: QGraphicsItem) -> QGraphicsItem:
        self.canvas.scene().addItem(item)
        self._items.append(item)
        return item

    def clear_previews(self) -> None:
        for item in self._items:
            if item.scene() is not None:
                item.scene().removeItem(item)
        self._items.clear()

    @property
    def pick_distance(self) -> float:
        """PICK_PX in image units at the current zoom."""
        return PICK_PX / max(self.canvas.scale_factor, 1e-6)

    def inside_image(self, pos: QPointF) -> bool:
        image = self.editor.image
        return image is not None and 0 <= pos.x() < image.width and 0 <= pos.y() < image.height

    def clamped(self, pos: QPointF) -> tuple[float, float]:
        """A point kept on the image (vertices may sit on the border, not beyond it)."""
        image = self.editor.image
        if image is None:
            return (pos.x(), pos.y())
        return (min(max(pos.x(), 0.0), float(image.width)), min(max(pos.y(), 0.0), float(image.height)))


def left_button(event) -> bool:
    return event.button() == Qt.MouseButton.LeftButton


def has_modifier(event, modifier: Qt.KeyboardModifier) -> bool:
    return bool(event.modifiers() & modifier)
