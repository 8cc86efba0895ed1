"""Comparison with ground truth in the background: load the ground-truth file, match and run COCOeval in
one worker thread, results back by queued signal, stale ones dropped.

Requests are built on the GUI thread from a snapshot of the dataset (its values are frozen, so copying
the indexes is enough); the worker reads only the snapshot. Every request has a generation number: a
newer request (an edit, another ground truth) makes an older one stop between images, and a result
whose generation is not the latest is dropped. Edits start a new run after a short pause.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from annotator.core import comparison
from annotator.core.model import Change, ChangeKind, Dataset
from annotator.core.wording import counted
from annotator.gui.workers import BackgroundWorker

RERUN_DELAY_MS = 300  # after the last edit of a burst


def load_ground_truth(path: Path, images: dict) -> comparison.GroundTruth:
    """Read a COCO file and put it on the project's images (runs in the worker)."""
    from annotator.io.coco import coco_from_dict
    from annotator.io.jsonfile import read_json

    raw = read_json(path)
    parsed = coco_from_dict(raw, source=path).dataset
    return comparison.align_ground_truth(images, raw, parsed, name=path.name)


class EvaluationController(QObject):
    result_changed = Signal(object)  # comparison.Comparison, or None when comparing stops
    message = Signal(str)  # problems and progress, for the panel
    busy_changed = Signal(bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.worker = BackgroundWorker(self)
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._on_done)  # an Exception is a result the panel shows
        self._generations = itertools.count(1)
        self.latest = 0
        self.dataset: Dataset | None = None
        self.ground_truth: comparison.GroundTruth | None = None
        self.use_accepted = False
        self.result: comparison.Comparison | None = None
        self._pending = False
        self._timer = QTimer(self, singleShot=True, interval=RERUN_DELAY_MS)
        self._timer.timeout.connect(self.run)

    @property
    def active(self) -> bool:
        return self.use_accepted or self.ground_truth is not None

    @property
    def busy(self) -> bool:
        return self._pending

    # -- what to compare with ---------------------------------------------------------------------
    def set_dataset(self, dataset: Dataset | None) -> None:
        """Another document: comparing stops (its ground truth belonged to the old one)."""
        if self.dataset is not None:
            self.dataset.unsubscribe(self._on_change)
        self.dataset = dataset
        if dataset is not None:
            dataset.subscribe(self._on_change)
        self.stop()

    def load_file(self, path: str | Path) -> None:
        if self.dataset is None:
            return
        self.use_accepted = False
        images = dict(self.dataset.images)
        self.message.emit(f"Loading {Path(path).name}…")
        self._submit(lambda: load_ground_truth(Path(path), images))

    def compare_with_accepted(self) -> None:
        if self.dataset is None:
            return
        self.ground_truth, self.use_accepted = None, True
        self.run()

    def stop(self) -> None:
        self._timer.stop()
        self.latest = next(self._generations)  # whatever is running is stale now
        self.ground_truth, self.use_accepted, self.result = None, False, None
        self._set_pending(False)
        self.result_changed.emit(None)

    # -- running ----------------------------------------------------------------------------------
    def run(self) -> None:
        """Match and evaluate the dataset as it is now, in the worker."""
        if self.dataset is None or not self.active:
            return
        data, gt, use_accepted = self.dataset.snapshot(), self.ground_truth, self.use_accepted
        generation = next(self._generations)

        def work() -> comparison.Comparison | None:
            from annotator.core.rules import is_accepted

            truth = comparison.accepted_ground_truth(data, keep=is_accepted) if use_accepted else gt
            predictions = comparison.predictions_of(data, truth.instances)
            ran_on = comparison.images_the_model_ran_on(data, truth.instances)
            return comparison.compare(
                truth, data.images, predictions, cancelled=lambda: self.latest != generation, ran_on=ran_on
            )

        self._submit(work, generation)

    def _submit(self, work: Callable[[], object], generation: int | None = None) -> None:
        self.latest = generation if generation is not None else next(self._generations)
        self._set_pending(True)
        self.worker.submit(work, self.latest)

    def _set_pending(self, pending: bool) -> None:
        if pending != self._pending:
            self._pending = pending
            self.busy_changed.emit(pending)

    def _on_done(self, generation: int, result: object) -> None:
        if generation != self.latest:
            return  # stale: an edit or another ground truth came after it
        self._set_pending(False)
        if isinstance(result, Exception):
            self.message.emit(f"Cannot compare: {result}")
            return
        if isinstance(result, comparison.GroundTruth):
            self.ground_truth = result
            skipped = (
                f"; {len(result.unmatched)} of its images are not in the project" if result.unmatched else ""
            )
            self.message.emit(
                f"Ground truth: {result.name}, {counted(len(result.instances), 'image')} matched{skipped}"
            )
            self.run()
            return
        if result is None:
            return
        self.result = result
        if result.error:
            self.message.emit(result.error)
        elif result.unseen:
            seen = len(result.matches)
            self.message.emit(
                f"Measured on the {counted(seen, 'image')} the model has run on; "
                f"{len(result.unseen)} of the ground "
                "truth's are left out (pre-label them to count them)"
            )
        self.result_changed.emit(result)

    def _on_change(self, change: Change) -> None:
        if self.active and change.kind is not ChangeKind.IMAGES_CHANGED:
            self._timer.start()

    def wait(self) -> None:
        self.latest = next(self._generations)
        self.worker.wait()
