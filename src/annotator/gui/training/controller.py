"""One training round from the window: prepare the data off the GUI thread, run the training process
(`inference.train_process`, a child process: this one never imports torch), follow its events, and
record the round in the project when it leaves a model.

The child's events are read by a plain thread into a queue and handled here, on the GUI thread, when a
queued signal says some arrived; `stop()` (the document or the window is closing) cancels, waits for the
child to save, and handles what is left in the queue directly, so the round is recorded even then.
Each time the child saves a better model the round is recorded as "unfinished" at once, so a window
that is killed (or a machine that loses power) mid-round still finds that model in the project.
"""

from __future__ import annotations

import contextlib
import datetime
import queue
import subprocess
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Signal

from annotator.core.model_rounds import ModelRound, next_round_number
from annotator.core.session import Document
from annotator.core.training_set import TrainingSetError
from annotator.core.wording import counted
from annotator.gui.training.history import ModelHistory
from annotator.gui.training.options import StartFrom, TrainOptions
from annotator.gui.training.prepare import Preflight, preflight, write_training_data
from annotator.gui.workers import BackgroundWorker
from annotator.inference.train_config import ConfigError, TrainConfig
from annotator.inference.train_events import (
    CheckpointSaved,
    EpochEnd,
    Event,
    Failed,
    Finished,
    Paused,
    Started,
)
from annotator.inference.train_process import TrainingProcess
from annotator.io.errors import DatasetError
from annotator.io.model_folder import (
    RoundFiles,
    make_models_folder,
    relative_to_project,
    round_files,
    taken_round_numbers,
)

UNFINISHED = "unfinished"  # the reason recorded while a round runs; its end replaces the record
STOP_WAIT_S = 120.0  # how long closing waits for the child to save (one step and a checkpoint)


class TrainState(StrEnum):
    IDLE = "idle"
    PREPARING = "preparing the training set"
    STARTING = "starting"
    RUNNING = "training"
    PAUSING = "pausing after this step"
    PAUSED = "paused"
    STOPPING = "stopping"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        return self in (TrainState.PREPARING, TrainState.STARTING, TrainState.RUNNING, TrainState.PAUSING,
                        TrainState.PAUSED, TrainState.STOPPING)  # fmt: skip


@dataclass(frozen=True)
class RunEnd:
    """How a round ended: its state, the child's Finished event (if it got that far), the round recorded
    (None when no model was saved), and a message for the person."""

    state: TrainState
    message: str
    finished: Finished | None = None
    model_round: ModelRound | None = None
    model_path: Path | None = None


@dataclass
class _Run:
    document: Document
    files: RoundFiles
    config: TrainConfig
    started_from: str
    process: TrainingProcess | None = None
    reader: threading.Thread | None = None
    started: Started | None = None
    finished: Finished | None = None
    failed: Failed | None = None
    cancelled: bool = False
    started_at: float | None = None  # monotonic clock when the child reported it started
    best: EpochEnd | None = None  # the epoch whose model the child saved last as the one to use
    last_epoch: EpochEnd | None = None


class TrainingController(QObject):
    """`check(document, options)` reports whether the project can train; `start(...)` runs a round."""

    state_changed = Signal(object)  # TrainState
    checked = Signal(object)  # Preflight, or str: why the project cannot train
    event = Signal(object)  # every training event, in order, on the GUI thread
    ended = Signal(object)  # RunEnd
    _arrived = Signal()  # the reader thread put events in the queue

    def __init__(self, history: ModelHistory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.state = TrainState.IDLE
        self.run: _Run | None = None
        self.worker = BackgroundWorker(self)
        self.worker.done.connect(self._prepared)
        self.worker.failed.connect(self._prepare_failed)
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._arrived.connect(self._drain)

    @property
    def busy(self) -> bool:
        return self.state.active

    # -- checking ---------------------------------------------------------------------------------
    def check(self, document: Document | None, options: TrainOptions) -> None:
        """Find the training set in the background; `checked` says what came of it."""
        if document is None:
            self.checked.emit("No project is open")
            return
        snapshot, root = document.dataset.snapshot(), Path(document.root)
        self.worker.submit(lambda: preflight(snapshot, root, val_split=options.val_split), ("check", None))

    # -- a round ----------------------------------------------------------------------------------
    def start(self, document: Document | None, options: TrainOptions) -> str | None:
        """Begin a round; returns why it cannot begin (one line), or None when it is under way."""
        if self.busy:
            return "A training round is already running"
        if document is None:
            return "No project is open"
        problem = _unsaved(document)
        if problem:
            return problem
        last = self.history.last_model(document)
        if options.start is StartFrom.FILE:
            weights = Path(options.weights_file.strip()).expanduser()
            if not options.weights_file.strip():
                return "Choose the checkpoint file to start from"
            if not weights.is_file():
                return f"{weights}: no such checkpoint file"
        try:
            folder = make_models_folder(Path(document.path))
            taken = taken_round_numbers(folder)
            files = round_files(folder, next_round_number(self.history.rounds(document), taken=taken))
            config = options.config(data=files.data, out=files.model, images_root=Path(document.root),
                                    last_model=None if last is None else last[1])  # fmt: skip
        except (DatasetError, ConfigError) as exc:
            return str(exc)
        self.run = _Run(document, files, config, _started_from(options, last))
        snapshot, root = document.dataset.snapshot(), Path(document.root)

        def prepare() -> Preflight:
            chosen = preflight(snapshot, root, val_split=options.val_split, seed=config.seed)
            write_training_data(chosen, files.data)
            return chosen

        self._set_state(TrainState.PREPARING)
        self.worker.submit(prepare, ("start", self.run))
        return None

    def pause(self) -> None:
        """Pause before the next step (the child says when it has: PAUSING, then PAUSED)."""
        if self.run is not None and self.run.process is not None and self.state is TrainState.RUNNING:
            self.run.process.pause()
            self._set_state(TrainState.PAUSING)

    def resume(self) -> None:
        if self.run is not None and self.run.process is not None and self.state in (
            TrainState.PAUSING, TrainState.PAUSED,
        ):  # fmt: skip
            self.run.process.resume()
            self._set_state(TrainState.RUNNING)

    def cancel(self) -> None:
        """Stop after the current step; the best model so far is kept (and recorded as a round)."""
        run = self.run
        if run is None:
            return
        run.cancelled = True
        if run.process is not None:
            run.process.cancel()
            self._set_state(TrainState.STOPPING)

    def stop(self, *, wait_s: float = STOP_WAIT_S) -> None:
        """Cancel and wait here until the child has saved, then record the round: the document or the
        window is about to close. A child that does not stop in `wait_s` is killed."""
        run = self.run
        if run is None:
            return
        run.cancelled = True
        if run.process is None:  # still preparing: it ends without starting the child
            self.worker.wait()
            QCoreApplication.sendPostedEvents(self.worker)  # deliver its outcome now
            if self.run is run:
                self._end(TrainState.CANCELLED, "Cancelled before training began")
            return
        run.process.cancel()
        try:
            run.process.wait(wait_s)
        except subprocess.TimeoutExpired:
            run.process.kill()
        if run.reader is not None:
            run.reader.join(10)
        self._drain()
        if self.run is run:  # the reader did not report the end: the child is gone all the same
            self._process_ended(run, run.process.wait())

    # -- preparation outcome ----------------------------------------------------------------------
    def _prepared(self, tag, result) -> None:
        kind, run = tag
        if kind == "check":
            self.checked.emit(result)
            return
        if run is not self.run:
            return
        self.checked.emit(result)
        if run.cancelled:
            self._end(TrainState.CANCELLED, "Cancelled before training began")
            return
        try:
            run.process = TrainingProcess.start(run.config)
        except OSError as exc:
            self._end(TrainState.FAILED, f"The training process could not start: {exc.strerror or exc}")
            return
        run.reader = threading.Thread(target=self._read, args=(run,), daemon=True, name="training-events")
        run.reader.start()
        self._set_state(TrainState.STARTING)

    def _prepare_failed(self, tag, error) -> None:
        kind, run = tag
        message = str(error) if isinstance(error, TrainingSetError | DatasetError) else (
            f"{type(error).__name__}: {error}")  # fmt: skip
        if kind == "check":
            self.checked.emit(message)
        elif run is self.run:
            self.checked.emit(message)
            self._end(TrainState.FAILED, message)

    # -- the child's events -----------------------------------------------------------------------
    def _read(self, run: _Run) -> None:
        """In the reader thread: every event, then the exit status, into the queue."""
        assert run.process is not None
        for item in run.process.events():
            self._events.put((run, item))
            with contextlib.suppress(RuntimeError):  # the controller is gone
                self._arrived.emit()
        self._events.put((run, run.process.wait()))
        with contextlib.suppress(RuntimeError):
            self._arrived.emit()

    def _drain(self) -> None:
        while True:
            try:
                run, item = self._events.get_nowait()
            except queue.Empty:
                return
            if run is not self.run:
                continue
            if isinstance(item, int):
                self._process_ended(run, item)
            else:
                self._on_event(run, item)

    def _on_event(self, run: _Run, event: Event) -> None:
        if isinstance(event, Started):
            run.started = event
            run.started_at = time.monotonic()
            self._set_state(TrainState.STOPPING if run.cancelled else TrainState.RUNNING)
        elif isinstance(event, Paused) and not run.cancelled:
            if event.paused and self.state is TrainState.PAUSING:
                self._set_state(TrainState.PAUSED)
            elif not event.paused and self.state is TrainState.PAUSED:
                self._set_state(TrainState.RUNNING)
        elif isinstance(event, EpochEnd):
            run.last_epoch = event
            if event.best:
                run.best = event
        elif isinstance(event, CheckpointSaved) and event.role == "best" and not run.cancelled:
            self._record_unfinished(run, event)
        elif isinstance(event, Finished):
            run.finished = event
        elif isinstance(event, Failed):
            run.failed = event
        self.event.emit(event)

    def _process_ended(self, run: _Run, code: int) -> None:
        assert run.process is not None
        run.files.last.unlink(missing_ok=True)  # only `annotator train --resume` could use it
        if run.failed is not None:
            details = run.failed.message
            self._end(TrainState.FAILED, details)
            return
        finished = run.finished
        if finished is None:
            tail = run.process.stderr_tail.strip().splitlines()
            why = f": {tail[-1]}" if tail else ""
            self._end(TrainState.FAILED, f"The training process ended unexpectedly (exit status {code}){why}")
            return
        state = TrainState.CANCELLED if finished.reason == "cancelled" else TrainState.FINISHED
        if finished.model_path is None:
            self._end(state, "Stopped before the first step: no model was saved", finished)
            return
        model_round = self._record(run, finished)
        self._end(state, _describe(model_round, finished), finished, model_round, Path(finished.model_path))

    def _record_unfinished(self, run: _Run, saved: CheckpointSaved) -> None:
        """The round as it stands, recorded now: its model is on disk (`_record` replaces it at the end)."""
        best, epoch = run.best, run.last_epoch
        self._record(run, Finished(
            reason=UNFINISHED, model_path=saved.path, last_path=None, steps=saved.step,
            epochs=0 if epoch is None else epoch.epoch,
            elapsed_s=0.0 if run.started_at is None else time.monotonic() - run.started_at,
            best_val_ap=None if best is None else best.val_ap,
            best_val_ap50=None if best is None else best.val_ap50,
        ))  # fmt: skip

    def _record(self, run: _Run, finished: Finished) -> ModelRound:
        started = run.started
        model_round = ModelRound(
            number=run.files.number,
            path=relative_to_project(Path(run.document.path), run.files.model),
            date=datetime.datetime.now().isoformat(timespec="seconds"),
            images=0 if started is None else started.train_images + started.val_images,
            val_ap=finished.best_val_ap,
            val_ap50=finished.best_val_ap50,
            details={
                "architecture": None if started is None else started.architecture,
                "started_from": run.started_from,
                "val_images": None if started is None else started.val_images,
                "input_size": None if started is None else started.input_size,
                "reason": finished.reason, "steps": finished.steps, "epochs": finished.epochs,
                "minutes": round(finished.elapsed_s / 60, 2),
            },
        )  # fmt: skip
        try:
            self.history.add(run.document, model_round)
        except DatasetError as exc:
            self.event.emit(Failed(f"the round could not be recorded in the project: {exc}"))
        return model_round

    def _end(self, state: TrainState, message: str, finished: Finished | None = None,
             model_round: ModelRound | None = None, model_path: Path | None = None) -> None:  # fmt: skip
        self.run = None
        self._set_state(state)
        self.ended.emit(RunEnd(state, message, finished, model_round, model_path))

    def _set_state(self, state: TrainState) -> None:
        if state is not self.state:
            self.state = state
            self.state_changed.emit(state)


def _unsaved(document: Document) -> str | None:
    """Why the project is not safely on disk (saving has failed), or None."""
    store = getattr(document, "store", None)
    if store is None or store.flush():
        return None
    unsaved = counted(store.pending, "change")
    return f"{unsaved} not saved ({store.save_error.reason}); fix saving before training"


def _started_from(options: TrainOptions, last) -> str:
    if options.start is StartFrom.LAST:
        return "scratch" if last is None else f"round {last[0].number}"
    if options.start is StartFrom.FILE:
        return Path(options.weights_file).name
    return options.start.value


def _describe(model_round: ModelRound, finished: Finished) -> str:
    how = {"done": "finished", "time": "finished (time is up)", "cancelled": "stopped"}[finished.reason]
    score = "" if finished.best_val_ap50 is None else f", validation AP50 {finished.best_val_ap50:.2f}"
    return (
        f"Round {model_round.number} {how}: {_count(finished.epochs, 'epoch')}, {_count(finished.steps, 'step')} in "
        f"{finished.elapsed_s / 60:.1f} min{score}"
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"
