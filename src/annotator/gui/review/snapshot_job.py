"""One report computed off the GUI thread from a snapshot of the open dataset, for the review docks
(label audit, consistency checks, statistics, label-next order).

`run()` takes `dataset.snapshot()` on the GUI thread, asks `make_work()` (also on the GUI thread, so
options and caches are read there) for the function to run, and hands both to a `BackgroundWorker`;
the worker reads only the snapshot. Every change of the dataset (and another document) starts a new generation: a
result of an older one is dropped when it arrives, and the result shown becomes `stale` until the next
run, which is started on demand, or by itself after `rerun_ms` of quiet when the caller asks for that.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from annotator.core.model import Change, Dataset
from annotator.core.session import Session, SessionChange, SessionEvent
from annotator.gui.workers import BackgroundWorker


@dataclass(frozen=True)
class Outcome:
    """A finished computation and the snapshot it was computed on (rows of a dock compare their
    instances with it, to tell which ones an edit has touched since)."""

    value: object
    snapshot: Dataset


class SnapshotJob(QObject):
    """`make_work()(snapshot)` in a worker thread for the session's dataset; results of a dataset that
    has changed since are dropped. `finished(Outcome)`, `failed(str)` and `stale_changed(bool)` arrive on
    the GUI thread."""

    finished = Signal(object)  # Outcome
    failed = Signal(str)
    busy_changed = Signal(bool)
    stale_changed = Signal(bool)  # True: the dataset changed after the result shown was computed

    def __init__(
        self,
        session: Session,
        make_work: Callable[[], Callable[[Dataset], object]],
        parent: QObject | None = None,
        *,
        relevant: Callable[[Change], bool] | None = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.make_work = session, make_work
        self.relevant = relevant or (lambda _change: True)
        self.worker = BackgroundWorker(self)
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._on_failed)
        self._generations = itertools.count(1)
        self.generation = next(self._generations)
        self._runs = itertools.count(1)
        self._running: tuple[int, int] | None = None  # (run, generation) of the computation awaited
        self.stale = False
        self.outcome: Outcome | None = None
        self.auto_rerun = False  # re-run by itself `rerun_timer` after the last relevant change
        self.rerun_timer = QTimer(self, singleShot=True, interval=500)
        self.rerun_timer.timeout.connect(self.run)
        self._dataset: Dataset | None = None
        session.subscribe(self._on_session)
        self._follow(session.dataset)

    @property
    def busy(self) -> bool:
        return self._running is not None

    def run(self) -> bool:
        """Compute for the dataset as it is now; False when no document is open."""
        self.rerun_timer.stop()
        dataset = self._dataset
        if dataset is None:
            return False
        snapshot, compute = dataset.snapshot(), self.make_work()
        tag = (next(self._runs), self.generation)
        self._set_running(tag)
        self.worker.submit(lambda: Outcome(compute(snapshot), snapshot), tag, replace_queued=True)
        return True

    def drop(self) -> None:
        """Forget the run in progress: its result will not be delivered (the person left the view)."""
        self.rerun_timer.stop()
        self._set_running(None)

    def wait(self) -> None:
        """Drop what is queued and wait for what runs (closing, tests)."""
        self.worker.wait()

    # -- following the document -------------------------------------------------------------------
    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.DOCUMENT:
            self._follow(self.session.dataset)

    def _follow(self, dataset: Dataset | None) -> None:
        if self._dataset is not None:
            self._dataset.unsubscribe(self._on_change)
        self._dataset = dataset
        if dataset is not None:
            dataset.subscribe(self._on_change)
        self.generation = next(self._generations)
        self.rerun_timer.stop()
        self.outcome = None
        self._set_running(None)
        self._set_stale(False)

    def _on_change(self, change: Change) -> None:
        if not self.relevant(change):
            return
        self.generation = next(self._generations)  # whatever is computing now is stale
        if self.outcome is not None or self._running is not None:
            self._set_stale(True)
        if self.auto_rerun:
            self.rerun_timer.start()

    # -- results ----------------------------------------------------------------------------------
    def _on_done(self, tag: tuple[int, int], outcome: Outcome) -> None:
        if tag != self._running:
            return  # an older run, replaced while it computed (another document, other options)
        self._set_running(None)
        if tag[1] != self.generation:
            return  # the dataset changed while it computed: dropped (`stale` says so)
        self.outcome = outcome
        self._set_stale(False)
        self.finished.emit(outcome)

    def _on_failed(self, tag: tuple[int, int], error: Exception) -> None:
        if tag != self._running:
            return
        self._set_running(None)
        self.failed.emit(str(error))

    def _set_running(self, tag: tuple[int, int] | None) -> None:
        was = self._running is not None
        self._running = tag
        if was != (tag is not None):
            self.busy_changed.emit(tag is not None)

    def _set_stale(self, stale: bool) -> None:
        if stale != self.stale:
            self.stale = stale
            self.stale_changed.emit(stale)
