"""The box-to-mask tool (G): drag a box around an object and get its mask; then click to refine it.

With a model (Model settings; the window hands the tool a `BoxModel`), the model's mask head segments the
box in the model process; without one, OpenCV's GrabCut does, in a worker thread. The result is one new
mask instance (one undo step), selected. Clicks on the image then refine it until another box is
drawn: a click marks object, Shift+click marks background, and the mask is computed again from the box
and all clicks so far (GrabCut seeded with the current mask; see bench/box_to_mask.py). Each refinement
is one undo step. The tool's menu text and the status bar say which of the two is in use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

from PySide6.QtCore import QPointF, Qt

from annotator.core import operations, shape_edit
from annotator.core.edits import ReplaceInstances
from annotator.core.geometry import Mask
from annotator.core.grabcut import refine_mask, segment_box
from annotator.core.model import Category
from annotator.core.predictor import BoxMask, BoxPrompt
from annotator.gui.images import rgb_array
from annotator.gui.tools.base import ToolKind, has_modifier, left_button
from annotator.gui.tools.rectangle import RectangleTool
from annotator.gui.workers import BackgroundWorker

GRABCUT_TEXT = "Box to mask (GrabCut)"  # what the History dock calls the step
MODEL_TEXT = "Box to mask (model)"
REFINE_TEXT = "Refine mask with a click"


@dataclass(frozen=True)
class _Refining:
    """The instance the last box made, and what made it: the next clicks refine it."""

    image_id: int
    instance_id: int
    prompt: BoxPrompt


class BoxSegmentTool(RectangleTool):
    """The rectangle tool's gesture; the box goes to the model or GrabCut instead of becoming a polygon."""

    kind = ToolKind.BOX_SEGMENT

    def __init__(self, editor) -> None:
        super().__init__(editor)
        self.worker = BackgroundWorker(editor)
        self.worker.done.connect(self._grabcut_done)
        self.worker.failed.connect(
            lambda _tag, error: self.editor.message.emit(
                f"Could not segment the box: {type(error).__name__}: {error}"
            )
        )
        self._waiting: dict[int, tuple] = {}  # model token -> what it was asked for
        self._refining: _Refining | None = None
        self._model_connected = None

    # -- which method -----------------------------------------------------------------------------
    @property
    def model(self):
        """The window's `BoxModel`, if it has one and it can be used."""
        model = getattr(self.editor, "box_model", None)
        if model is not None and model is not self._model_connected:
            model.answered.connect(self._model_done)
            model.usable_changed.connect(self._model_usable)
            self._model_connected = model
        return model if model is not None and model.usable else None

    @property
    def method(self) -> str:
        return "model" if self.model is not None else "GrabCut"

    def activate(self) -> None:
        super().activate()
        model = self.model
        if model is not None and not model.worker.has_model:
            model.warm()  # loading now: the first box need not wait, and its classes can be offered
        self.editor.message.emit(
            f"Box to mask with the {self.method}: drag a box around an object; then click to add to the "
            "mask, Shift+click to take away"
        )

    def cancel(self) -> None:
        self._refining = None
        super().cancel()

    # -- gestures ---------------------------------------------------------------------------------
    def mouse_release(self, event, pos: QPointF) -> bool:
        drag = self._drag
        if drag is not None and left_button(event) and not drag.drawn() and self._refining is not None:
            self._drag = None
            self.clear_previews()
            self._click(
                self.clamped(pos), positive=not has_modifier(event, Qt.KeyboardModifier.ShiftModifier)
            )
            return True
        return super().mouse_release(event, pos)

    def box_drawn(self, corner: tuple[float, float], other: tuple[float, float], image_id: int) -> None:
        model, dataset = self.model, self.editor.dataset
        offered, more = (), None
        if model is not None and dataset is not None and not dataset.categories:
            # a project without classes is offered the model's (a chosen one keeps the model's id); a
            # model still loading adds them to the picker once it has loaded
            offered, more = model.categories, model.categories_changed
        category = self.editor.class_for_new_shape(offered, more)  # asked now, while the box is on the screen
        if category is None:
            return
        self._refining = None
        (x0, x1), (y0, y1) = sorted((corner[0], other[0])), sorted((corner[1], other[1]))
        known = (
            category.id if isinstance(category, Category) else category if isinstance(category, int) else None
        )
        prompt = BoxPrompt((x0, y0, x1, y1), known, agnostic=getattr(self.model, "agnostic", False))
        self._segment(image_id, prompt, ("new", category))

    def _click(self, point: tuple[float, float], *, positive: bool) -> None:
        refining = self._refining
        dataset = self.editor.dataset
        if refining.image_id != self.editor.session.image_id or refining.instance_id not in dataset.instances:
            self._refining = None
            return
        prompt = refining.prompt
        prompt = replace(
            prompt,
            positive=prompt.positive + ((point,) if positive else ()),
            negative=prompt.negative + (() if positive else (point,)),
        )
        self._refining = replace(refining, prompt=prompt)
        self._segment(refining.image_id, prompt, ("refine", refining.instance_id))

    def _segment(self, image_id: int, prompt: BoxPrompt, purpose: tuple) -> None:
        model = self.model
        if model is not None:
            self.editor.message.emit("Segmenting with the model…")
            self._waiting[model.segment(image_id, prompt)] = (image_id, prompt, purpose)
            return
        image = self.canvas.full_image()
        if image is None:
            self.editor.message.emit("The image is still loading: try again in a moment")
            return
        pixels = rgb_array(image)
        if purpose[0] == "refine":
            current = self.editor.dataset.instances[purpose[1]].geometry
            work = partial(_grabcut_refine, pixels, prompt, current.to_rle(*pixels.shape[:2]))
        else:
            work = partial(segment_box, pixels, prompt.box)
            self.editor.message.emit("Finding the object in the box…")
        self.worker.submit(work, (image_id, prompt, purpose))

    # -- answers ----------------------------------------------------------------------------------
    def _model_usable(self, usable: bool) -> None:
        model = self._model_connected
        if not usable and self.editor.tool is self and model.error:
            self.editor.message.emit(f"No model could be loaded ({model.error}): box to mask uses GrabCut")

    def _model_done(self, token: int, result: BoxMask | None, message: str) -> None:
        asked = self._waiting.pop(token, None)
        if asked is None:
            return
        image_id, prompt, purpose = asked
        if result is None:
            fallback = " (using GrabCut from now on)" if self.model is None else ""
            self.editor.message.emit(f"The model could not segment the box: {message}{fallback}")
            if self.model is None and purpose[0] == "new":
                self._segment(image_id, prompt, purpose)  # GrabCut, now
            return
        self._land(image_id, prompt, purpose, result.mask.to_array(), MODEL_TEXT)

    def _grabcut_done(self, tag: tuple, mask) -> None:
        image_id, prompt, purpose = tag
        self._land(image_id, prompt, purpose, mask, GRABCUT_TEXT)

    def _land(self, image_id: int, prompt: BoxPrompt, purpose: tuple, mask, text: str) -> None:
        editor = self.editor
        if image_id != editor.session.image_id or editor.dataset is None:
            return  # the user moved on: nothing lands on another image
        if mask is None or not mask.any():
            editor.message.emit("Nothing found there: try a box closer around the object")
            return
        if purpose[0] == "refine":
            self._replace(purpose[1], mask)
            return
        category = purpose[1]
        if isinstance(category, int) and category not in editor.dataset.categories:
            category = editor.current_category  # the class went (an undo) while it ran
            if category is None:
                return
        edit = shape_edit.add_mask(editor.dataset, image_id, category, mask, text=text)
        editor.push(edit)
        instance = shape_edit.added_instances(edit)[0]
        editor.select(instance.id)
        self._refining = _Refining(image_id, instance.id, prompt)
        editor.message.emit(
            f"{text}: added (Ctrl+Z takes it back); click to add to it, Shift+click to take away"
        )

    def _replace(self, instance_id: int, mask) -> None:
        dataset = self.editor.dataset
        old = dataset.instances.get(instance_id)
        if old is None:
            return
        new = operations.edited(old, geometry=Mask.from_array(mask))
        self.editor.push(ReplaceInstances((old,), (new,), text=REFINE_TEXT))
        self.editor.message.emit(f"{REFINE_TEXT} (Ctrl+Z takes it back)")  # not "Segmenting…" any more

    def wait(self) -> None:
        """Block until running GrabCut jobs finish (tests, closing)."""
        self.worker.pool.waitForDone()


def _grabcut_refine(pixels, prompt: BoxPrompt, rle):
    current = Mask(rle).to_array()
    return refine_mask(pixels, prompt.box, current, positive=prompt.positive, negative=prompt.negative)
