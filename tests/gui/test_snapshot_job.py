"""SnapshotJob, under the review docks: work runs on a snapshot in a worker thread; a result of a dataset
edited meanwhile, or of a run replaced by a newer one, or of a document closed since, is dropped."""

from __future__ import annotations

import threading

import pytest
from canvas_helpers import square
from PySide6.QtCore import QCoreApplication

from annotator.core.edits import AddInstances
from annotator.core.model import Category, Dataset, Image, Instance
from annotator.core.session import BareDocument, Session
from annotator.gui.review.snapshot_job import SnapshotJob


def _dataset() -> Dataset:
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 100, 100)], notify=False)
    dataset.put_categories([Category(1, "cell")], notify=False)
    dataset.put_instances([Instance(1, 1, 1, square(0, 0, 10, 10))], notify=False)
    return dataset


class Gated:
    """Work that counts the snapshot's instances once the test opens its gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()

    def __call__(self):
        def work(snapshot: Dataset) -> int:
            self.started.set()
            assert self.gate.wait(10)
            return len(snapshot.instances)

        return work


@pytest.fixture
def setup(qtbot):
    session, dataset, gated = Session(), _dataset(), Gated()
    session.open(BareDocument(dataset))
    job = SnapshotJob(session, gated)
    yield session, dataset, gated, job
    gated.gate.set()
    job.wait()


def test_a_result_of_a_dataset_edited_meanwhile_is_dropped(setup, qtbot):
    session, dataset, gated, job = setup
    results = []
    job.finished.connect(results.append)
    with qtbot.waitSignal(job.stale_changed):
        job.run()
        assert gated.started.wait(10) and job.busy
        AddInstances((Instance(2, 1, 1, square(20, 20, 30, 30)),)).apply(dataset)
    gated.gate.set()
    qtbot.waitUntil(lambda: not job.busy)
    assert results == [] and job.outcome is None and job.stale
    with qtbot.waitSignal(job.finished):
        job.run()
    assert [r.value for r in results] == [2] and not job.stale
    assert results[0].snapshot.instances == dataset.instances  # the rows compare with it


def test_a_newer_run_replaces_an_older_one_and_another_document_drops_both(setup, qtbot):
    session, dataset, gated, job = setup
    results = []
    job.finished.connect(results.append)
    job.run()
    assert gated.started.wait(10)
    job.run()  # queued behind the first, which is now stale
    gated.gate.set()
    qtbot.waitUntil(lambda: not job.busy)
    assert len(results) == 1  # only the newer one
    gated.gate.clear()
    gated.started.clear()
    job.run()
    assert gated.started.wait(10)
    session.open(BareDocument(_dataset()))
    assert not job.busy and job.outcome is None
    gated.gate.set()
    job.wait()
    QCoreApplication.processEvents()  # the finished job's queued result arrives, and is dropped
    assert len(results) == 1
