""" "Label next" in the window: the image list's Next column and sort, from `core.ranking`.

The ranking runs in the background on a snapshot (`SnapshotJob`): uncertainty from the stored
predictions; diversity from the pooled model features pre-labelling kept (`io.model_features`) when
they cover every image not done, else from each image's colour/texture descriptor
(`io.image_descriptors`, kept in a sidecar beside the project and in memory for the session, so only
new images are described again).
Once shown, the order follows new predictions by itself (a pre-labelling run adds them image by image;
it is computed again after a pause), and Review ▸ Refresh computes it on demand. Accepting, rejecting or
finishing images does not re-sort the list under the person: the next image stays where it was.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from annotator.core.model import Change, ChangeKind, Dataset
from annotator.core.ranking import Ranking, RankOptions, dataset_uncertainty, rank_images
from annotator.core.rules import is_unreviewed_prediction, labelled_image_ids, unreadable_reason
from annotator.core.session import SessionChange, SessionEvent
from annotator.gui.review.snapshot_job import Outcome, SnapshotJob
from annotator.io.image_descriptors import describe_images, sidecar_path
from annotator.io.model_features import features_path, read_features

RERUN_AFTER_PREDICTIONS_MS = 2000  # quiet time after new predictions before the order is computed again
PROGRESS_EVERY_S = 0.25


class RankingCancelled(Exception):
    MESSAGE = "cancelled"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


MODEL_FEATURES = "model features"
COLOUR_TEXTURE = "colour and texture"


@dataclass(frozen=True)
class RankResult:
    ranking: Ranking
    described: dict[int, np.ndarray] = field(default_factory=dict)  # computed or read now, to keep
    problems: tuple[str, ...] = ()
    likeness: str = COLOUR_TEXTURE  # what told similar images apart


def rank_snapshot(
    snapshot: Dataset,
    *,
    root: Path,
    sidecar: Path | None,
    known: dict[int, np.ndarray],
    progress: Callable[[int, int], None] | None = None,
    options: RankOptions | None = None,
    features: Path | None = None,
) -> RankResult:
    """The images nobody has labelled (`rules.labelled_image_ids`), in the order to label them (as
    `annotator rank` orders them). Similar images are told apart by the pooled model features kept from
    pre-labelling (`features`) when they cover every readable image to rank, else by the colour/texture
    descriptor: images without one in `known` are described first (read from the sidecar where
    unchanged)."""
    options = options or RankOptions()
    done = labelled_image_ids(snapshot)  # done, or holding a person's work: the labelled set
    vectors = _model_vectors(snapshot, features, done)
    likeness, described, problems = MODEL_FEATURES, {}, ()
    if vectors is None:
        missing = [i for i in sorted(snapshot.images) if i not in known]
        found = describe_images(snapshot, root, sidecar=sidecar, image_ids=missing, progress=progress)
        vectors = {**{i: v for i, v in known.items() if i in snapshot.images}, **found.vectors}
        likeness, described, problems = COLOUR_TEXTURE, found.vectors, tuple(found.problems)
    labelled = {i: v for i, v in vectors.items() if i in done}
    ranking = rank_images(
        dataset_uncertainty(snapshot, options),
        {i: v for i, v in vectors.items() if i not in done},
        labelled=labelled,
        options=options,
    )
    return RankResult(ranking, described, problems, likeness)


def _model_vectors(snapshot: Dataset, path: Path | None, labelled: set[int]) -> dict[int, np.ndarray] | None:
    """The pooled features pre-labelling kept (`io.model_features`), by image id, when they cover every
    image to rank (not `labelled`, readable): one kind of vector for all, or none (the two do not
    compare). Labelled images with features are the anchors; those without are left out, as `annotator
    rank --embeddings` leaves them (a later round's model pre-labels only the images nobody labelled)."""
    if path is None:
        return None
    features = read_features(path)
    to_rank = [
        image.file_name
        for image in snapshot.images.values()
        if image.id not in labelled and unreadable_reason(image) is None
    ]
    if not to_rank or any(name not in features.vectors for name in to_rank):
        return None
    return features.for_images({i: image.file_name for i, image in snapshot.images.items()})


def changes_ranking(change: Change) -> bool:
    """New or removed predictions (a pre-labelling run) and new images change the order; a person's
    judgements do not re-sort the list under them."""
    if change.kind is ChangeKind.IMAGES_ADDED:
        return True
    if change.kind in (ChangeKind.INSTANCES_ADDED, ChangeKind.INSTANCES_REMOVED):
        return any(is_unreviewed_prediction(instance) for instance in change.items)
    return False


class LabelNext(QObject):
    """The Next column of the image list: computed when asked, kept up to date with new predictions."""

    progress = Signal(int, int)  # images described, of those to describe (from the worker thread)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.vectors: dict[int, np.ndarray] = {}  # descriptors of this document's images
        self.ranks: dict[int, int] | None = None
        self._show_first = False
        self._cancel = threading.Event()
        self.job = SnapshotJob(self.session, self._make_work, self, relevant=changes_ranking)
        self.job.rerun_timer.setInterval(RERUN_AFTER_PREDICTIONS_MS)
        self.job.finished.connect(self._on_ranked)
        self.job.failed.connect(self._on_failed)
        self.progress.connect(lambda done, total: self._say(f"Label next: describing images {done}/{total}…"))
        self.session.subscribe(self._on_session)

    # -- commands ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Show the Next column, sort the list by it and go to the first image once it is computed."""
        if self.session.dataset is None:
            return
        self._show_first = True
        self.job.auto_rerun = True
        if not self.job.run():
            return
        self._say("Label next: ranking the images…")

    def refresh(self) -> None:
        if self.session.dataset is not None and self.job.run():
            self.job.auto_rerun = True
            self._say("Label next: ranking the images…")

    def features_changed(self) -> None:
        """Pre-labelling added model features to the project's file (in a batch, off the GUI thread, so
        perhaps after the new predictions re-ranked): ranked again after the same quiet time, if the
        column is shown, since the features may now cover every image."""
        if self.job.auto_rerun:
            self.job.rerun_timer.start()

    def stop(self) -> None:
        """Hide the column; the list goes back to the dataset's order (a ranking under way is dropped)."""
        self.job.auto_rerun = False
        self.job.drop()
        self.cancel()
        self._show_first = False
        self.ranks = None
        self.window.images_dock.set_ranks(None)

    # -- the work ---------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop describing images for a run in progress (closing, another document): a first run
        reads every image file, which can take minutes."""
        self._cancel.set()

    def _make_work(self) -> Callable[[Dataset], RankResult]:
        document = self.session.document
        root, sidecar = document.root, _sidecar(document.path)
        self._cancel.set()  # a run still describing images is replaced by this one
        self._cancel = threading.Event()
        known, report = dict(self.vectors), self._throttled_progress(self._cancel)
        features = features_path(document.path)
        return lambda snapshot: rank_snapshot(
            snapshot, root=root, sidecar=sidecar, known=known, progress=report, features=features
        )

    def _throttled_progress(self, cancel: threading.Event) -> Callable[[int, int], None]:
        last = [time.monotonic()]

        def report(done: int, total: int) -> None:
            if cancel.is_set():
                raise RankingCancelled
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S or done == total:
                last[0] = now
                self.progress.emit(done, total)  # queued: this runs in the worker thread

        return report

    def _on_ranked(self, outcome: Outcome) -> None:
        result: RankResult = outcome.value
        self.vectors.update(result.described)
        self.ranks = {image_id: place for place, image_id in enumerate(result.ranking.image_ids, start=1)}
        dock = self.window.images_dock
        dock.set_ranks(self.ranks)
        never = sum(1 for r in result.ranking.images if r.uncertainty is None)
        unread = f"; {len(result.problems)} could not be read" if result.problems else ""
        if not self.ranks:  # "0 ranked, 0 never pre-labelled" left a person guessing why
            self._say(f"Label next: every image is labelled (done, or holding labels): none to rank{unread}")
        else:
            self._say(  # short: the status bar's permanent widgets cut a long message
                f"Label next, look-alikes by {result.likeness}: {len(self.ranks)} ranked, "
                f"{never} never pre-labelled{unread}"
            )
        if self._show_first:
            self._show_first = False
            dock.sort_label_next()
            first = dock.neighbour(None, 1)
            if first is not None and self.ranks:
                self.window.show_image(first)

    def _on_failed(self, message: str) -> None:
        if message != RankingCancelled.MESSAGE:
            self._say(f"Label next: cannot rank the images: {message}")

    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.CLOSING:
            self.cancel()
        elif change.kind is SessionEvent.DOCUMENT:
            self.vectors = {}
            self.job.auto_rerun = False  # SnapshotJob already forgot the old document's result
            if self.ranks is not None:
                self.stop()

    def _say(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 8000)


def _sidecar(dataset_path: Path) -> Path:
    """Where the descriptors are cached: beside the project file, as `annotator rank PROJECT` keeps them."""
    return sidecar_path(dataset_path) if dataset_path.is_file() else dataset_path / "descriptors.npz"
