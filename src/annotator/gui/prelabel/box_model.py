"""Box to mask with the loaded model, from the window: requests to the model worker, answers to the tool.

The model is the one Model settings name (the pre-labelling model, in its own process). Once it is
loaded, each image shown has its FPN features computed ahead, in the model process, so a box drawn on it
costs only the heads (decision 19). If no model can be loaded, the box-to-mask tool falls back to
GrabCut for the session and says so.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from annotator.core.model import Category
from annotator.core.predictor import BoxPrompt
from annotator.core.session import Session, SessionChange, SessionEvent
from annotator.gui.prelabel.dialog import PrelabelSettings
from annotator.gui.prelabel.worker import BoxOutcome, BoxRequest, PrelabelWorker


class BoxModel(QObject):
    """`segment(...)` returns a token; `answered(token, BoxMask | None, message)` follows on the GUI
    thread. `usable` is False once no model could be loaded (the tool uses GrabCut then). `categories`:
    the loaded model's classes, known once it has answered (`warm` loads it)."""

    answered = Signal(object, object, str)
    usable_changed = Signal(bool)
    categories_changed = Signal(tuple)  # the loaded model's classes, when first known or another model's

    def __init__(
        self, worker: PrelabelWorker, session: Session, settings: Callable[[], PrelabelSettings], parent=None
    ) -> None:
        super().__init__(parent)
        self.worker, self.session, self._settings = worker, session, settings
        self.usable = True
        self.agnostic = False  # the most decided mask channel, whatever the class
        self._tokens = itertools.count(1)
        self.last_seconds: float | None = None  # how long the last box took in the worker
        self.categories: tuple[Category, ...] = ()  # the loaded model's classes, once it has answered
        self.error = ""  # why no model could be loaded
        worker.box_finished.connect(self._on_outcome)
        session.subscribe(self._on_session)

    def segment(self, image_id: int, prompt: BoxPrompt) -> int:
        token = next(self._tokens)
        self._submit(image_id, prompt, token)
        return token

    def warm(self) -> None:
        """Load the model now, and compute the features of the image on screen: the tool was chosen, so
        the first box need not wait for the load, and a project without classes can offer the model's."""
        image_id = self.session.image_id
        if self.usable and image_id is not None:
            self._submit(image_id, None, 0)

    def set_usable(self, usable: bool) -> None:
        if usable:
            self.error = ""  # asked for again: the next failure is said again
        if usable != self.usable:
            self.usable = usable
            self.usable_changed.emit(usable)

    # -- internals --------------------------------------------------------------------------------
    def _submit(self, image_id: int, prompt: BoxPrompt | None, token: int) -> None:
        document = self.session.document
        if document is None or image_id not in document.dataset.images:
            return
        settings = self._settings()
        path = Path(document.image_path(document.dataset.images[image_id]))
        self.worker.submit_box(
            BoxRequest(image_id, path, settings.spec(), prompt, token, settings.release_after_s())
        )

    def _on_session(self, change: SessionChange) -> None:
        """A new image on screen: compute its features now if a model is loaded (never load one for it)."""
        image_id = self.session.image_id
        if (
            change.kind is SessionEvent.IMAGE
            and image_id is not None
            and self.usable
            and self.worker.has_model
        ):
            self._submit(image_id, None, 0)

    def _on_outcome(self, outcome: BoxOutcome) -> None:
        request = outcome.request
        if outcome.fatal:
            self.error = outcome.message
            self.set_usable(False)
        if outcome.categories and outcome.categories != self.categories:
            self.categories = outcome.categories
            self.categories_changed.emit(self.categories)
        if request.prompt is None:
            return  # features computed ahead: nothing to show
        self.last_seconds = outcome.seconds
        self.answered.emit(request.token, outcome.result, outcome.message)
