"""The model worker: one long-lived QThread that owns the predictor and pre-labels one image per request.

The GUI never imports torch: the worker is handed a factory `Callable[[ModelSpec], Predictor]` by the
composition root and calls it inside its own thread, lazily, on the first request (and again only when
the requested ModelSpec changes). Requests are built on the GUI thread and carry the image id and the
revision of the image's instances at that moment; outcomes are plain frozen data (detections as RLE)
sent back by queued signal, so deciding whether a result is stale happens on the GUI thread.

Cancel and pause are thread-safe (`RunControl`, a `core.predictor.CancelToken`): both are checked before
each image starts, so they take effect within one image. A model left idle for the time the request
names (Model settings) is closed, so its process gives back its memory (about 1.9 GB for COCO weights);
the next request loads it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QThread, QTimer, Signal, Slot

from annotator.core.model import Category
from annotator.core.predictor import (
    BoxMask,
    BoxPredictor,
    BoxPrompt,
    CancelToken,
    Detection,
    ImageNotPrepared,
    ModelSpec,
    PredictOptions,
    Predictor,
    PredictorInfo,
)
from annotator.gui.collector import collector_of
from annotator.inference.batch import prelabel_images  # torch-free: it drives any Predictor
from annotator.inference.errors import WeightsUnavailable
from annotator.io.errors import DatasetError
from annotator.io.model_features import model_key

PredictorFactory = Callable[[ModelSpec], Predictor]


class RunControl(CancelToken):
    """The run's cancel/pause token (checked by the batch generator before each image), which also says
    whether the worker is holding an image back because the run is paused."""

    def __init__(self) -> None:
        super().__init__()
        self._waiting = False

    @property
    def waiting(self) -> bool:
        return self._waiting

    def checkpoint(self) -> bool:
        self._waiting = self.paused and not self.cancelled
        try:
            return super().checkpoint()
        finally:
            self._waiting = False


@dataclass(frozen=True)
class PrelabelRequest:
    """One image to pre-label, built on the GUI thread."""

    run_id: int
    image_id: int
    revision: int  # the image's instance revision when the request was made (see PrelabelController)
    path: Path
    spec: ModelSpec
    options: PredictOptions
    class_names: tuple[str, ...] = ()  # class names to keep, resolved against the model's categories
    replace_predictions: bool = True
    control: RunControl = field(default_factory=RunControl, compare=False, repr=False)
    release_after_s: float | None = None  # close the model this long after its last image (None: keep)
    follows_model: bool = False  # a trained checkpoint's own input size replaces the options' sizes


@dataclass(frozen=True)
class Predicted:
    request: PrelabelRequest
    detections: tuple[Detection, ...]
    model: str  # the predictor's display name, for `Source.model`
    categories: tuple[Category, ...]  # the model's categories (new ones are added to the dataset)
    seconds: float
    embedding: np.ndarray | None = None  # the image's pooled features, for "label next"
    model_key: str = ""  # which model made them (`io.model_features.model_key`)


@dataclass(frozen=True)
class Failed:
    """An image that could not be pre-labelled. `fatal` means the model itself failed to load;
    `unreadable` that the image file cannot be decoded."""

    request: PrelabelRequest
    message: str
    fatal: bool = False
    unreadable: bool = False


@dataclass(frozen=True)
class Skipped:
    """A request dropped because its run was cancelled before the image started."""

    request: PrelabelRequest


Outcome = Predicted | Failed | Skipped


@dataclass(frozen=True)
class BoxRequest:
    """Box to mask with the model: keep the features of the image at `path` (`prompt` None), or segment
    `prompt.box` on it. `token` numbers the asker's requests, so a late answer can be told apart."""

    image_id: int
    path: Path
    spec: ModelSpec
    prompt: BoxPrompt | None = None
    token: int = 0
    release_after_s: float | None = None


@dataclass(frozen=True)
class BoxOutcome:
    """A box's mask (None for a prepare, or on failure with `message`); `fatal`: no model could be loaded.
    `categories`: the loaded model's classes (what a project without classes can take from it)."""

    request: BoxRequest
    result: BoxMask | None = None
    message: str = ""
    fatal: bool = False
    seconds: float = 0.0
    categories: tuple[Category, ...] = ()


class _Pending:
    """How many submitted requests have no outcome yet; the GUI thread can wait for none."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._count = 0

    def add(self) -> None:
        with self._cond:
            self._count += 1

    def done(self) -> None:
        with self._cond:
            self._count -= 1
            self._cond.notify_all()

    @property
    def count(self) -> int:
        return self._count

    def wait_for_none(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._count == 0)


class _ModelWorker(QObject):
    """Lives in the worker thread; every slot runs there."""

    finished = Signal(object)  # Outcome
    box_finished = Signal(object)  # BoxOutcome
    loading = Signal(object)  # ModelSpec, before a (slow) model load
    loaded = Signal(object)  # PredictorInfo
    released = Signal()  # the model was closed after its idle time (its process ended)

    def __init__(self, factory: PredictorFactory, pending: _Pending) -> None:
        super().__init__()
        self._factory = factory
        self._pending = pending
        self._predictor: Predictor | None = None
        self._spec: ModelSpec | None = None
        self._model_key = ""
        # A child: it moves to the worker thread with this object, so it fires there, between requests.
        self._idle = QTimer(self, singleShot=True)
        self._idle.timeout.connect(self._release)

    @Slot(object)
    def process(self, request: PrelabelRequest) -> None:
        self._idle.stop()
        try:
            self.finished.emit(self._outcome(request))
        finally:
            self._pending.done()  # after the emit: a drain that sees 0 pending finds every outcome posted
            if request.release_after_s is not None and self._predictor is not None:
                self._idle.start(max(0, round(request.release_after_s * 1000)))

    @Slot(object)
    def process_box(self, request: BoxRequest) -> None:
        self._idle.stop()
        try:
            self.box_finished.emit(self._box_outcome(request))
        finally:
            self._pending.done()
            if request.release_after_s is not None and self._predictor is not None:
                self._idle.start(max(0, round(request.release_after_s * 1000)))

    def _box_outcome(self, request: BoxRequest) -> BoxOutcome:
        started = time.monotonic()
        try:
            predictor = self._predictor_for(request.spec)
        except Exception as exc:
            return BoxOutcome(request, message=_describe(exc), fatal=True)
        if not isinstance(predictor, BoxPredictor):
            return BoxOutcome(request, message=f"{predictor.info.name} cannot segment boxes", fatal=True)
        key = (request.image_id, str(request.path))
        categories = tuple(predictor.info.categories)
        try:
            if request.prompt is None:
                predictor.prepare_image(key, request.path)
                return BoxOutcome(request, seconds=time.monotonic() - started, categories=categories)
            try:
                result = predictor.segment_box(key, request.prompt)
            except ImageNotPrepared:  # not prepared (or forgotten): decode and compute the features now
                predictor.prepare_image(key, request.path)
                result = predictor.segment_box(key, request.prompt)
        except Exception as exc:  # one box failing is the person's to read, not the end of the model
            if not getattr(predictor, "usable", True):
                self.close_predictor()
            return BoxOutcome(request, message=_describe(exc), categories=categories)
        return BoxOutcome(request, result, seconds=time.monotonic() - started, categories=categories)

    @property
    def has_model(self) -> bool:
        return self._predictor is not None

    def _release(self) -> None:
        """The model has been idle for its time: close it (a model process ends and gives its memory
        back); the next request loads it again."""
        if self._predictor is not None:
            self.close_predictor()
            self.released.emit()

    def _outcome(self, request: PrelabelRequest) -> Outcome:
        control = request.control
        if control.checkpoint():  # waits here while paused
            return Skipped(request)
        try:
            predictor = self._predictor_for(request.spec)
        except Exception as exc:  # the factory's errors are the user's to read, once per run
            control.cancel()  # the run's other requests are skipped, not retried
            return Failed(request, _describe(exc), fatal=True)
        return self._predict(predictor, request)

    def _predictor_for(self, spec: ModelSpec) -> Predictor:
        if self._predictor is None or spec != self._spec:
            self.close_predictor()  # free the old model (end its process) before loading the new one
            self.loading.emit(spec)
            predictor = self._factory(spec)
            self._predictor, self._spec, self._model_key = predictor, spec, model_key(spec)
            self.loaded.emit(predictor.info)  # the GUI thread collects and freezes (`_on_loaded`)
        return self._predictor

    def close_predictor(self) -> None:
        """Drop the predictor, closing it if it can be closed (a model process ends with it). Called in
        the worker thread, or by the GUI thread once the worker thread has stopped."""
        predictor, self._predictor, self._spec = self._predictor, None, None
        close = getattr(predictor, "close", None)
        if close is not None:
            close()

    def _predict(self, predictor: Predictor, request: PrelabelRequest) -> Outcome:
        info = predictor.info
        try:
            options = keep_classes(request.options, request.class_names, info)
            if request.follows_model and info.input_size is not None:
                options = replace(options, min_size=info.input_size[0], max_size=info.input_size[1])
        except ValueError as exc:
            request.control.cancel()
            return Failed(request, str(exc), fatal=True)
        options = replace(options, embed=True)  # the pooled features come from the same pass
        try:  # the CLI's batch generator, one image at a time: requests are built on the GUI thread
            result = next(prelabel_images(predictor, [request.path], options, cancel=request.control), None)
        except Exception as exc:  # a model or decoder crash on one image must not end the run
            return Failed(request, f"{request.path}: could not pre-label: {_describe(exc)}")
        if result is None:
            return Skipped(request)
        if not getattr(predictor, "usable", True):
            self.close_predictor()  # its model process died: the next image loads a fresh one
        if not result.ok:
            message = result.error or f"{request.path}: could not pre-label"
            return Failed(request, message, unreadable=result.unreadable)
        return Predicted(
            request,
            result.detections,
            info.name,
            info.categories,
            result.progress.elapsed,
            result.embedding,
            self._model_key,
        )


def keep_classes(options: PredictOptions, names: tuple[str, ...], info: PredictorInfo) -> PredictOptions:
    """`options` keeping only the named classes (names or ids, as the model knows them); ValueError if
    one is unknown."""
    if not names:
        return options
    by_name = {c.name.casefold(): c.id for c in info.categories}
    known_ids = {c.id for c in info.categories}
    ids, unknown = set(options.classes or ()), []
    for name in names:
        key = name.strip().casefold()
        if key in by_name:
            ids.add(by_name[key])
        elif key.isdigit() and int(key) in known_ids:
            ids.add(int(key))
        else:
            unknown.append(name)
    if unknown:
        some = ", ".join(c.name for c in info.categories[:12])
        raise ValueError(f"{info.name} has no class {', '.join(map(repr, unknown))} (it knows {some}, …)")
    return replace(options, classes=frozenset(ids))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, WeightsUnavailable) and (laid_out := exc.window_text()) is not None:
        return "\n\n".join(laid_out)  # what happened, then what to do: `actions` shows them apart
    if isinstance(exc, DatasetError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class PrelabelWorker(QObject):
    """The GUI side of the worker thread: `submit` requests, receive `finished(outcome)` on the GUI thread.

    `drain` cancels what is queued, waits for the image in progress and delivers every outcome at once,
    so nothing that finished is lost when a run must stop now (closing the window or the document).
    """

    finished = Signal(object)  # Outcome, on the GUI thread
    loading = Signal(object)  # ModelSpec
    loaded = Signal(object)  # PredictorInfo
    released = Signal()  # the idle model was closed
    box_finished = Signal(object)  # BoxOutcome, on the GUI thread
    _submit = Signal(object)
    _submit_box = Signal(object)

    def __init__(self, factory: PredictorFactory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pending = _Pending()
        self._controls: set[RunControl] = set()
        self._thread = QThread(self)
        self._thread.setObjectName("annotator-model")
        self._worker = _ModelWorker(factory, self._pending)
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._submit.connect(self._worker.process)  # queued: the worker lives in the other thread
        self._worker.finished.connect(self._deliver)
        self._submit_box.connect(self._worker.process_box)
        self._worker.box_finished.connect(self.box_finished)
        self._worker.loading.connect(self.loading)
        self._worker.loaded.connect(self._on_loaded)
        self._worker.released.connect(self.released)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    @property
    def pending(self) -> int:
        return self._pending.count

    def submit(self, request: PrelabelRequest) -> None:
        if not self._thread.isRunning():
            raise RuntimeError("the model worker has been shut down")
        self._controls = {c for c in self._controls if not c.cancelled}
        self._controls.add(request.control)
        self._pending.add()
        self._submit.emit(request)

    def submit_box(self, request: BoxRequest) -> None:
        if not self._thread.isRunning():
            raise RuntimeError("the model worker has been shut down")
        self._pending.add()
        self._submit_box.emit(request)

    @property
    def has_model(self) -> bool:
        """Whether a model is loaded now (read from the GUI thread: a hint, it may change at once)."""
        return self._worker.has_model

    def drain(self) -> None:
        """Cancel every run, wait for the image in progress, deliver all outcomes now (blocks the caller)."""
        for control in self._controls:
            control.cancel()
        self._controls.clear()
        if self._thread.isRunning():
            self._pending.wait_for_none()
        # the worker's outcomes are queued events for this object: deliver them before returning
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)

    def shutdown(self) -> None:
        """`drain`, stop the thread, then close the predictor (its model process ends)."""
        if not self._thread.isRunning():
            return
        self.drain()
        self._thread.quit()
        self._thread.wait()
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)
        self._worker.close_predictor()  # the worker thread has stopped: nothing else uses it now

    def _on_loaded(self, info: PredictorInfo) -> None:
        # a predictor loaded in this process (torch) is frozen out of the collector's sight, here on the
        # GUI thread: collecting in the model thread could free Qt objects there (docs/decisions/0024).
        # (The app's model lives in a child process: then this costs little.)
        collector_of(QCoreApplication.instance()).collect_and_freeze()
        self.loaded.emit(info)

    def _deliver(self, outcome: Outcome) -> None:
        self.finished.emit(outcome)
