"""The box-to-mask tool (G): drag a box around an object; OpenCV's GrabCut finds it (no model needed).

GrabCut takes a fraction of a second, so it runs in a worker thread on a copy of the image's pixels; the
result becomes one new mask instance (one undo step) if the user is still on that image.
"""

from __future__ import annotations

from functools import partial

from annotator.core import shape_edit
from annotator.core.grabcut import segment_box
from annotator.gui.images import rgb_array
from annotator.gui.tools.base import ToolKind
from annotator.gui.tools.rectangle import RectangleTool
from annotator.gui.workers import BackgroundWorker


class BoxSegmentTool(RectangleTool):
    """The rectangle tool's gesture; the box goes to GrabCut instead of becoming a polygon."""

    kind = ToolKind.BOX_SEGMENT

    def __init__(self, editor) -> None:
        super().__init__(editor)
        self.worker = BackgroundWorker(editor)
        self.worker.done.connect(self._done)
        self.worker.failed.connect(
            lambda _tag, error: self.editor.message.emit(
                f"Could not segment the box: {type(error).__name__}: {error}"
            )
        )

    def box_drawn(self, corner: tuple[float, float], other: tuple[float, float], image_id: int) -> None:
        image = self.canvas.full_image()
        if image is None:
            self.editor.message.emit("The image is still loading: draw the box again in a moment")
            return
        category = self.editor.class_for_new_shape()  # asked now, while the box is on the screen
        if category is None:
            return
        self.editor.message.emit("Finding the object in the box…")
        self.worker.submit(partial(segment_box, rgb_array(image), (*corner, *other)), (image_id, category))

    def _done(self, tag: tuple[int, shape_edit.ClassChoice], mask) -> None:
        editor = self.editor
        image_id, category = tag
        if image_id != self.editor.session.image_id or editor.dataset is None:
            return  # the user moved on: nothing lands on another image
        if mask is None or not mask.any():
            editor.message.emit("Nothing found in the box: try a box closer around the object")
            return
        if isinstance(category, int) and category not in editor.dataset.categories:
            category = editor.current_category  # the class went (an undo) while GrabCut ran
            if category is None:
                return
        edit = shape_edit.add_mask(editor.dataset, image_id, category, mask)
        editor.push(edit)
        editor.select(shape_edit.added_instances(edit)[0].id)
        editor.message.emit("Added the object in the box as a mask (Ctrl+Z takes it back)")

    def wait(self) -> None:
        """Block until running segmentations finish (tests, closing)."""
        self.worker.pool.waitForDone()
