"""Brush (B) and eraser (E): paint or erase discs on the selected instance's mask.

The brush works on any instance: a polygon instance becomes a mask on its first stroke, holes and all.
With nothing selected the brush starts a new instance of the current class, and the eraser works on the
instance under the mouse. Radius: [ and ], or Ctrl/Shift + wheel. A stroke paints into a working bitmap
shown by the tool's own preview item and becomes one `MaskStroke` (a packed-bit delta) on release.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor

from annotator.core import edits, shape_edit
from annotator.core.colors import category_color
from annotator.core.mask_edit import MaskStroke, stamp_disc, stamp_segment, union_box
from annotator.core.model import Instance
from annotator.core.region import EMPTY_CROP, Crop, Region
from annotator.gui.tools.base import Tool, ToolKind, has_modifier, left_button
from annotator.gui.tools.previews import BrushCursorItem, MaskPreviewItem

MIN_RADIUS, MAX_RADIUS = 0.5, 500.0


WINDOW_MARGIN = 128  # image pixels the working window reaches past the instance and each dab


class _Stroke:
    """One press-drag-release of the brush or eraser on one instance (or on a new one).

    The stroke works in a window of the image, not on the whole of it: the instance's box and the dabs
    so far, with a margin, grown when a dab leaves it. Pressing on a 4000x3000 image decoded and copied
    two image-sized masks (56-74 ms); the instance's mask crop is at hand (the canvas keeps it), and a
    window costs what the instance and the stroke cover (docs/decisions/0020-exact-picture-sooner.md)."""

    def __init__(self, tool: BrushTool, target: Instance | None, start: tuple[float, float]) -> None:
        editor = tool.editor
        image = editor.image
        self.tool, self.target, self.image_id = tool, target, image.id
        self.size = (image.width, image.height)
        self.crop = EMPTY_CROP if target is None else _crop_of(tool.canvas, target, self.size)
        self.window = (0, 0, 0, 0)  # x0, y0, x1, y1 of `before` and `working`, image pixels
        self.before = self.working = np.zeros((0, 0), np.uint8)
        h, w = self.crop.mask.shape
        self._cover((self.crop.x0, self.crop.y0, self.crop.x0 + w, self.crop.y0 + h))
        category_id = target.category_id if target is not None else editor.current_category
        self.preview = tool.preview
        self.preview.begin(image.height, image.width, _color(editor, category_id))
        self.box = (0, 0, 0, 0)
        self.last = start
        self._stamp(start, start)

    def move(self, point: tuple[float, float]) -> None:
        self._stamp(self.last, point)
        self.last = point

    def _stamp(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        radius = self.tool.editor.brush_radius
        self._cover(
            (
                math.floor(min(start[0], end[0]) - radius) - 1,
                math.floor(min(start[1], end[1]) - radius) - 1,
                math.ceil(max(start[0], end[0]) + radius) + 2,
                math.ceil(max(start[1], end[1]) + radius) + 2,
            )
        )
        x0, y0 = self.window[:2]
        local = (start[0] - x0, start[1] - y0), (end[0] - x0, end[1] - y0)
        if start == end:
            box = stamp_disc(self.working, local[0], radius, erase=self.tool.erase)
        else:
            box = stamp_segment(self.working, *local, radius, erase=self.tool.erase)
        if box[2] <= box[0]:
            return
        box = (box[0] + x0, box[1] + y0, box[2] + x0, box[3] + y0)
        self.box = union_box(self.box, box)
        self.preview.show_region(self.before, self.working, box, origin=(x0, y0))

    def _cover(self, rect: tuple[int, int, int, int]) -> None:
        """Grow the window, by a margin, to hold `rect` (clipped to the image)."""
        width, height = self.size
        rect = (max(rect[0], 0), max(rect[1], 0), min(rect[2], width), min(rect[3], height))
        if rect[2] <= rect[0] or rect[3] <= rect[1]:
            return
        old = self.window
        if (
            old[2] > old[0]
            and old[0] <= rect[0]
            and old[1] <= rect[1]
            and rect[2] <= old[2]
            and rect[3] <= old[3]
        ):
            return
        m = WINDOW_MARGIN
        grown = union_box(old, (rect[0] - m, rect[1] - m, rect[2] + m, rect[3] + m))
        grown = (max(grown[0], 0), max(grown[1], 0), min(grown[2], width), min(grown[3], height))
        before = np.zeros((grown[3] - grown[1], grown[2] - grown[0]), np.uint8)
        crop = self.crop
        h, w = crop.mask.shape
        _paste(before, grown, crop.mask, (crop.x0, crop.y0, crop.x0 + w, crop.y0 + h))
        working = before.copy()
        _paste(working, grown, self.working, old)
        self.window, self.before, self.working = grown, before, working

    def full(self, pixels: np.ndarray) -> np.ndarray:
        """`pixels` (of the window) placed in an image-sized mask."""
        width, height = self.size
        mask = np.zeros((height, width), np.uint8)
        _paste(mask, (0, 0, width, height), pixels, self.window)
        return mask

    def finish(self):
        editor = self.tool.editor
        x0, y0, x1, y1 = self.box
        if x1 <= x0 or self.image_id != self.tool.editor.session.image_id:
            return None
        ox, oy = self.window[:2]
        changed = (slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox))
        if np.array_equal(self.before[changed], self.working[changed]):
            return None
        if self.target is None:
            category = editor.class_for_new_shape()
            if category is None:
                return None
            return shape_edit.add_mask(editor.dataset, self.image_id, category, self.full(self.working))
        if not self.working.any():  # erased to nothing: the instance is gone, not an empty mask
            return edits.RemoveInstances((self.target,), text="Erase")
        text = "Erase" if self.tool.erase else "Brush"
        return MaskStroke.from_masks(
            self.target, self.before, self.working, self.box, text=text, origin=(ox, oy)
        )


def _crop_of(canvas, target: Instance, size: tuple[int, int]) -> Crop:
    """The instance's exact pixels in its box: the canvas layer's (decoded already), else decoded now."""
    layer = canvas.layers.get(target.id) if canvas is not None else None
    if layer is not None and layer.geometry is target.geometry:
        return layer.fill
    width, height = size
    return Region(target.geometry, height, width).crop


def _paste(dst: np.ndarray, dst_rect, src: np.ndarray, src_rect) -> None:
    """Copy the overlap of two arrays placed at `dst_rect` and `src_rect` (image pixels)."""
    x0, y0 = max(dst_rect[0], src_rect[0]), max(dst_rect[1], src_rect[1])
    x1, y1 = min(dst_rect[2], src_rect[2]), min(dst_rect[3], src_rect[3])
    if x0 < x1 and y0 < y1 and src.size:
        dst[y0 - dst_rect[1] : y1 - dst_rect[1], x0 - dst_rect[0] : x1 - dst_rect[0]] = src[
            y0 - src_rect[1] : y1 - src_rect[1], x0 - src_rect[0] : x1 - src_rect[0]
        ]


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
        self.preview = MaskPreviewItem()  # in the scene while the tool is active; empty between strokes
        self._cursor_item = BrushCursorItem()
        self._mouse: QPointF | None = None

    @property
    def busy(self) -> bool:
        return self._stroke is not None

    def activate(self) -> None:
        super().activate()
        for item in (self.preview, self._cursor_item):
            if item.scene() is None:
                self.canvas.scene().addItem(item)

    def deactivate(self) -> None:
        super().deactivate()
        for item in (self.preview, self._cursor_item):
            if item.scene() is not None:
                item.scene().removeItem(item)

    def cancel(self) -> None:
        self._stroke = None
        self.preview.clear()
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

    def mouse_left(self) -> None:
        self._mouse = None
        self._cursor_item.setVisible(False)

    def mouse_release(self, event, pos: QPointF) -> bool:
        if self._stroke is None or not left_button(event):
            return self._stroke is not None
        stroke, self._stroke = self._stroke, None
        edit = stroke.finish()
        self.preview.clear()
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
