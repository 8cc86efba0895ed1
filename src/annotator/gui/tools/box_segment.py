"""The box-to-mask tool (G): drag a box around an object; OpenCV's GrabCut finds it (no model needed).

GrabCut takes a fraction of a second, so it runs in a worker thread on a copy of the image's pixels; the
result becomes one new mask instance (one undo step) if the user is still on that image.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from annotator.core import shape_edit
from annotator.core.grabcut import segment_box
from annotator.gui.canvas.render import rgb_array
from annotator.gui.tools.base import ToolKind
from annotator.gui.tools.rectangle import RectangleTool


class _Signals(QObject):
    done = Signal(int, object, str)  # image id, mask (or None), error ("" when none)


class _GrabCutJob(QRunnable):
    def __init__(
        self, pixels: np.ndarray, box: tuple[float, float, float, float], image_id: int, signals
    ) -> None:
        super().__init__()
        self.pixels, self.box, self.image_id, self.signals = pixels, box, image_id, signals

    def run(self) -> None:
        try:
            mask = segment_box(self.pixels, self.box)
        except Exception as exc:  # noqa: BLE001 - OpenCV errors go to the status bar, not the void
            self.signals.done.emit(self.image_id, None, f"{type(exc).__name__}: {exc}")
            return
        self.signals.done.emit(self.image_id, mask, "")


class BoxSegmentTool(RectangleTool):
    """The rectangle tool's gesture; the box goes to GrabCut instead of becoming a polygon."""

    kind = ToolKind.BOX_SEGMENT

    def __init__(self, editor) -> None:
        super().__init__(editor)
        self.pool = QThreadPool(editor)
        self.pool.setMaxThreadCount(1)
        self.signals = _Signals(editor)
        self.signals.done.connect(self._done)

    def box_drawn(self, corner: tuple[float, float], other: tuple[float, float], image_id: int) -> None:
        image = self.canvas.full_image()
        if image is None:
            self.editor.message.emit("The image is still loading: draw the box again in a moment")
            return
        self.editor.message.emit("Finding the object in the box…")
        self.pool.start(_GrabCutJob(rgb_array(image), (*corner, *other), image_id, self.signals))

    def _done(self, image_id: int, mask, error: str) -> None:
        editor = self.editor
        if error:
            editor.message.emit(f"Could not segment the box: {error}")
            return
        if image_id != self.canvas.image_id or editor.dataset is None:
            return  # the user moved on: nothing lands on another image
        if mask is None or not mask.any():
            editor.message.emit("Nothing found in the box: try a box closer around the object")
            return
        edit = shape_edit.add_mask(editor.dataset, image_id, editor.current_category, mask)
        editor.push(edit)
        editor.select(shape_edit.added_instances(edit)[0].id)
        editor.message.emit("Added the object in the box as a mask (Ctrl+Z takes it back)")

    def wait(self) -> None:
        """Block until running segmentations finish (tests, closing)."""
        self.pool.waitForDone()
