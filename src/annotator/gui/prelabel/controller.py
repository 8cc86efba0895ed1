"""Runs of pre-labelling on the GUI thread: which images, requests to the worker, results into the Dataset.

Requests are built here, a few at a time (two in flight, so the worker never waits for the GUI), each
carrying the image id and the image's *revision*: a counter this controller bumps whenever any instance
of that image is added, removed or changed by anything other than pre-labelling itself (a person's
edit, an undo, a z-order change). A result is applied only if the revision is unchanged, otherwise it is
stale: the person worked on the image while the model ran, and the result is dropped (and listed), so
deleted predictions do not come back and edited ones are not replaced. Results are applied through the
Dataset, so the project store writes them through and the canvas shows them if the image is on screen.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial

import numpy as np
from PySide6.QtCore import QObject, Signal

from annotator.core.geometry import GeometryError
from annotator.core.model import Change, ChangeKind, Dataset, ImageStatus
from annotator.core.prelabel import prelabel_edit
from annotator.core.rules import mark_unreadable, unreadable_reason
from annotator.core.session import Document
from annotator.gui.prelabel.dialog import PrelabelSettings
from annotator.gui.prelabel.worker import (
    Failed,
    Outcome,
    Predicted,
    PredictorFactory,
    PrelabelRequest,
    PrelabelWorker,
    RunControl,
    Skipped,
)
from annotator.gui.workers import BackgroundWorker
from annotator.io.model_features import add_features, features_path

IN_FLIGHT = 2
# the model features are added to their file in batches of at least this many images and this many
# seconds apart (each batch rewrites the whole file: 50 MB at 10,000 images), and at the run's end
KEEP_FEATURES_EVERY = 32
KEEP_FEATURES_S = 60.0


class RunState(StrEnum):
    IDLE = "idle"
    LOADING = "loading model"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class Progress:
    """What the panel shows about the current (or last) run."""

    state: RunState = RunState.IDLE
    done: int = 0  # images with an outcome (pre-labelled, failed or stale)
    total: int = 0
    failed: int = 0
    stale: int = 0
    detections: int = 0
    rate: float | None = None  # images per second, model loading excluded
    eta: float | None = None  # seconds
    current: str = ""  # file name of the last image done


@dataclass
class _Run:
    id: int
    document: Document
    settings: PrelabelSettings
    queue: deque[int]
    total: int
    control: RunControl = field(default_factory=RunControl)
    in_flight: int = 0
    done: int = 0
    failed: int = 0
    stale: int = 0
    detections: int = 0
    fatal: bool = False
    started: float = field(default_factory=time.monotonic)
    excluded: float = 0.0  # seconds paused or loading the model: not part of the images/s
    paused_at: float | None = None
    loading_at: float | None = None
    busy: float = 0.0  # the worker's own seconds on the images done
    current: str = ""
    features: list[tuple[str, str, np.ndarray]] = field(default_factory=list)  # not yet in their file
    features_kept_at: float = field(default_factory=time.monotonic)


class PrelabelController(QObject):
    """Start, pause, resume, cancel runs; apply results; report progress and problems."""

    progress_changed = Signal(object)  # Progress
    problem = Signal(str)  # one line for the problems panel
    fatal = Signal(str)  # the model could not be loaded: one dialog per run
    image_done = Signal(object)  # an image whose predictions were just applied
    run_finished = Signal(object)  # Progress
    model_loaded = Signal(object)  # PredictorInfo
    features_kept = Signal()  # model features of images were added to the project's features file

    def __init__(self, factory: PredictorFactory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = PrelabelWorker(factory, self)
        self.worker.finished.connect(self._on_outcome)
        self.worker.loading.connect(self._on_loading)
        self.worker.loaded.connect(self._on_loaded)
        self.features_writer = BackgroundWorker(self)  # one thread: the batches land in order
        self.features_writer.done.connect(self._on_features_kept)
        self.features_writer.failed.connect(lambda _tag, error: self._on_features_kept(None, str(error)))
        self.document: Document | None = None
        self.revisions: dict[int, int] = {}
        self.run: _Run | None = None
        self.progress = Progress()
        self._next_run_id = 1
        self._applying = False

    # -- document ---------------------------------------------------------------------------------
    def set_document(self, document: Document | None) -> None:
        """Follow another document; a run on the previous one is stopped first, keeping what finished."""
        if document is self.document:
            return
        self.stop()
        if self.document is not None:
            self.document.dataset.unsubscribe(self._on_change)
        self.document, self.revisions = document, {}
        if document is not None:
            document.dataset.subscribe(self._on_change)
        self.progress_changed.emit(self.progress)

    def _on_change(self, change: Change) -> None:
        if self._applying or change.kind not in (
            ChangeKind.INSTANCES_ADDED,
            ChangeKind.INSTANCES_REMOVED,
            ChangeKind.INSTANCES_CHANGED,
        ):
            return
        for image_id in {instance.image_id for instance in change.items}:
            self.revisions[image_id] = self.revisions.get(image_id, 0) + 1

    # -- which images -----------------------------------------------------------------------------
    def already_prelabelled(self, image_id: int) -> bool:
        """Pre-labelled before, or worked on: its status moved on from `new`, or it holds instances,
        predictions or labels (drawn, or imported with a dataset: "all images" would put predictions on
        top of them)."""
        dataset = self.document.dataset
        if dataset.images[image_id].status is not ImageStatus.NEW:
            return True
        return dataset.instance_count(image_id) > 0

    def images_for_all(self, *, redo: bool) -> list[int]:
        """The images "all images" runs on: never one whose file could not be decoded (it is marked in
        the image list; pre-labelling it alone, as the current or a selected image, still tries)."""
        if self.document is None:
            return []
        images = self.document.dataset.images
        ids = [i for i in sorted(images) if unreadable_reason(images[i]) is None]
        return ids if redo else [i for i in ids if not self.already_prelabelled(i)]

    # -- runs -------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.run is not None

    def start(self, image_ids: Iterable[int], settings: PrelabelSettings) -> int | None:
        """Pre-label these images (in this order); None if nothing to do or a run is already going."""
        if self.document is None or self.run is not None:
            return None
        ids = [i for i in dict.fromkeys(image_ids) if i in self.document.dataset.images]
        if not ids:
            return None
        run = _Run(self._next_run_id, self.document, settings, deque(ids), len(ids))
        self._next_run_id += 1
        self.run = run
        self._publish(RunState.RUNNING)
        self._fill()
        return run.id

    def pause(self) -> None:
        run = self.run
        if run is not None and not run.control.paused:
            run.control.pause()
            run.paused_at = time.monotonic()
            self._publish(RunState.PAUSED)

    def resume(self) -> None:
        run = self.run
        if run is not None and run.control.paused:
            run.control.resume()
            if run.paused_at is not None:
                run.excluded += time.monotonic() - run.paused_at
                run.paused_at = None
            self._publish(RunState.RUNNING)
            self._fill()

    def cancel(self) -> None:
        """Stop after the image in progress (its result is still applied); queued images are dropped."""
        run = self.run
        if run is None:
            return
        run.control.cancel()
        run.queue.clear()
        self._maybe_finish(run)

    def stop(self) -> None:
        """Cancel and wait here for the image in progress, applying it: before a document closes."""
        if self.run is not None:
            self.cancel()
        self.worker.drain()
        self.features_writer.drain()

    def shutdown(self) -> None:
        """Stop and end the worker thread (the window is closing)."""
        if self.run is not None:
            self.cancel()
        self.worker.shutdown()
        self.features_writer.drain()

    def _fill(self) -> None:
        run = self.run
        if run is None or run.control.paused:
            return
        if run.control.cancelled:  # by the user, or by the worker when the model failed to load
            run.queue.clear()
            self._maybe_finish(run)
            return
        dataset = run.document.dataset
        options, spec, names = run.settings.options(), run.settings.spec(), run.settings.class_names()
        while run.queue and run.in_flight < IN_FLIGHT:
            image_id = run.queue.popleft()
            image = dataset.images.get(image_id)
            if image is None:
                run.total -= 1
                continue
            request = PrelabelRequest(
                run_id=run.id,
                image_id=image_id,
                revision=self.revisions.get(image_id, 0),
                path=run.document.image_path(image),
                spec=spec,
                options=options,
                class_names=names,
                replace_predictions=run.settings.replace_predictions,
                control=run.control,
                release_after_s=run.settings.release_after_s(),
                follows_model=run.settings.follows_model,
            )
            run.in_flight += 1
            self.worker.submit(request)
        self._maybe_finish(run)

    # -- outcomes ---------------------------------------------------------------------------------
    def _on_loading(self, _spec) -> None:
        if self.run is not None:
            self.run.loading_at = time.monotonic()
            if not self.run.control.paused:
                self._publish(RunState.LOADING)

    def _on_loaded(self, info) -> None:
        run = self.run
        if run is not None and run.loading_at is not None:
            run.excluded += time.monotonic() - run.loading_at
            run.loading_at = None
        self.model_loaded.emit(info)

    def _on_outcome(self, outcome: Outcome) -> None:
        run = self.run if self.run is not None and self.run.id == outcome.request.run_id else None
        if isinstance(outcome, Predicted):
            self._apply(outcome, run)
        elif isinstance(outcome, Failed) and run is not None:
            self._failed(outcome, run)
        if run is None:
            return
        run.in_flight -= 1
        if not isinstance(outcome, Skipped):
            run.done += 1
            run.busy += getattr(outcome, "seconds", 0.0)
        self._fill()
        if self.run is run:
            self._publish(RunState.PAUSED if run.control.paused else RunState.RUNNING)

    def _apply(self, outcome: Predicted, run: _Run | None) -> None:
        request = outcome.request
        document = self.document
        if document is None or (run is not None and run.document is not document):
            return  # a result for a document that is no longer open
        image = document.dataset.images.get(request.image_id)
        if image is None:
            return
        if self.revisions.get(request.image_id, 0) != request.revision:
            if run is not None:
                run.stale += 1
            self.problem.emit(
                f"{image.file_name}: not pre-labelled: its instances were edited while the model ran "
                "(run it again to pre-label it)"
            )
            return
        self._applying = True
        try:
            count = apply_predictions(document.dataset, outcome)
        except GeometryError as exc:  # the file changed size since the project was made
            if run is not None:
                run.failed += 1
            self.problem.emit(f"{image.file_name}: predictions do not fit the image: {exc}")
            return
        finally:
            self._applying = False
        mark_unreadable(document.dataset, request.image_id, None)  # it decoded this time
        if run is not None:
            run.detections += count
            run.current = image.file_name
            if outcome.embedding is not None:
                run.features.append((outcome.model_key, image.file_name, outcome.embedding))
                waited = time.monotonic() - run.features_kept_at
                if len(run.features) >= KEEP_FEATURES_EVERY and waited >= KEEP_FEATURES_S:
                    self._keep_features(run)
        self.image_done.emit(request.image_id)

    def _failed(self, outcome: Failed, run: _Run) -> None:
        run.failed += 1
        if outcome.unreadable and self.document is run.document:
            mark_unreadable(run.document.dataset, outcome.request.image_id, outcome.message)
        if outcome.fatal:
            if not run.fatal:
                run.fatal = True
                what = outcome.message.partition("\n\n")[0]  # what happened; the dialog says what to do
                self.problem.emit(f"model: {what}")
                self.fatal.emit(outcome.message)
        else:
            self.problem.emit(outcome.message)

    def _maybe_finish(self, run: _Run) -> None:
        if self.run is not run or run.in_flight or run.queue:
            return
        self.run = None
        self._keep_features(run)
        state = RunState.CANCELLED if run.control.cancelled else RunState.FINISHED
        if run.fatal:
            run.failed = min(run.failed, run.done)
        if run.fatal or (run.done and run.failed == run.done):  # no image could be pre-labelled
            state = RunState.FAILED
        predicted = run.done - run.failed - run.stale
        if state is RunState.FINISHED and predicted and not run.detections:
            self.problem.emit(nothing_found(predicted, run.settings.score_threshold))
        self._publish(state, run)
        self.run_finished.emit(self.progress)

    def _keep_features(self, run: _Run) -> None:
        """Add the run's model features not yet kept to the project's file, for "label next"
        (`io.model_features`), in the writer thread: reading and writing the whole file (50 MB at
        10,000 images) on the GUI thread blocked it, and kept only at a run's end, a crash lost them."""
        if not run.features:
            return
        batch, run.features, run.features_kept_at = run.features, [], time.monotonic()
        self.features_writer.submit(partial(add_features, features_path(run.document.path), batch))

    def _on_features_kept(self, _tag, problem: str | None) -> None:
        if problem is not None:
            self.problem.emit(f"the images' model features were not kept: {problem}")
        else:
            self.features_kept.emit()

    def _publish(self, state: RunState, run: _Run | None = None) -> None:
        run = run or self.run
        if run is None:
            self.progress = Progress(state)
        else:
            rate, eta = _rate(run)
            self.progress = Progress(
                state, run.done, run.total, run.failed, run.stale, run.detections, rate, eta, run.current
            )
        self.progress_changed.emit(self.progress)


def _rate(run: _Run) -> tuple[float | None, float | None]:
    """Images per second and the time left: wall-clock time without pauses and the model load, but never
    less than the worker's own time on those images (results can arrive in a burst)."""
    if run.done == 0:
        return None, None
    now = time.monotonic()
    excluded = run.excluded
    if run.paused_at is not None:
        excluded += now - run.paused_at
    if run.loading_at is not None:
        excluded += now - run.loading_at
    active = max(now - run.started - excluded, run.busy)
    if active <= 0:
        return None, None
    rate = run.done / active
    return rate, (run.total - run.done) / rate


def nothing_found(images: int, score_threshold: float) -> str:
    """What to say when a whole run found nothing: a model trained briefly (or on other classes) scores
    below the threshold everywhere, which looks like a broken run unless said."""
    where = "the image" if images == 1 else f"any of the {images} images"
    return (
        f"No object found at score ≥ {score_threshold:.2f} on {where}: the model may need more training, "
        "or a lower score threshold (Model › Model settings…)"
    )


def apply_predictions(dataset: Dataset, outcome: Predicted) -> int:
    """Put one image's detections on it (core.prelabel's edit, applied directly: the store saves it)."""
    request = outcome.request
    edit = prelabel_edit(
        dataset,
        request.image_id,
        outcome.detections,
        model_name=outcome.model,
        categories=outcome.categories,
        replace_predictions=request.replace_predictions,
    )
    edit.apply(dataset)
    return len(outcome.detections)
