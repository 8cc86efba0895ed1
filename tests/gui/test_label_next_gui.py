""" "Label next" on real COCO photos with stored predictions: the image list's Next column and order are
`core.ranking`'s (as `annotator rank` computes it), the first image is shown, D follows the order, the
descriptors are cached beside the project, and new predictions re-rank by themselves."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from PySide6.QtCore import QCoreApplication, QSortFilterProxyModel
from review_helpers import add_own_predictions, open_tiny, perturbed_results, run_and_wait
from window_helpers import shown_main_window

from annotator.core.edits import RemoveInstances, ReplaceImages
from annotator.core.model import Dataset, ImageStatus
from annotator.core.ranking import dataset_uncertainty, rank_images
from annotator.core.rules import is_unreviewed_prediction, labelled_image_ids
from annotator.gui.lists.images import NEXT_COLUMN
from annotator.io.image_descriptors import describe_images, sidecar_path


@pytest.fixture
def window(qtbot, tmp_path):
    win = shown_main_window(qtbot, tmp_path, width=1400, height=900)
    yield win
    win.assisted.wait()
    win.loader.wait()


@pytest.fixture
def project(window, tmp_path, testdata):
    """Five photos; predictions on three of them, one image done, one never pre-labelled; the sample's
    labels only on the one done (an image holding a person's labels is not one to label next)."""
    path = open_tiny(window, tmp_path, testdata)
    dataset = window.document.dataset
    ids = sorted(dataset.images)
    RemoveInstances(tuple(i for i in dataset.instances.values() if i.image_id != ids[4])).apply(dataset)
    results = [r for r in perturbed_results(path) if r["image_id"] in ids[:3]]
    add_own_predictions(dataset, results)
    done = dataset.images[ids[4]]
    ReplaceImages((done,), (replace(done, status=ImageStatus.DONE),)).apply(dataset)
    return path


def _expected(dataset: Dataset, root) -> tuple[int, ...]:
    """The order `annotator rank` gives: descriptors of every image, labelled ones as the labelled set."""
    vectors = describe_images(dataset, root, sidecar=None).vectors
    done = labelled_image_ids(dataset)
    ranking = rank_images(
        dataset_uncertainty(dataset),
        {i: v for i, v in vectors.items() if i not in done},
        labelled={i: v for i, v in vectors.items() if i in done},
    )
    return ranking.image_ids


def _shown_order(dock) -> list[int]:
    proxy: QSortFilterProxyModel = dock.proxy
    return [
        dock.model.image_id(proxy.mapToSource(proxy.index(row, 0)).row()) for row in range(proxy.rowCount())
    ]


def test_the_list_is_sorted_by_what_to_label_next(window, project, qtbot):
    label_next, dock = window.assisted.label_next, window.images_dock
    assert dock.view.isColumnHidden(NEXT_COLUMN)
    run_and_wait(qtbot, label_next.job, label_next.start)
    dataset = window.document.dataset
    expected = _expected(dataset, window.document.root)
    done = [i for i in dataset.images if dataset.images[i].status is ImageStatus.DONE]
    assert len(expected) == 4 and len(done) == 1
    assert _shown_order(dock) == [*expected, *done]
    assert not dock.view.isColumnHidden(NEXT_COLUMN)
    texts = [dock.proxy.index(row, NEXT_COLUMN).data() for row in range(5)]
    assert texts == ["1", "2", "3", "4", ""]
    assert window.session.image_id == expected[0]  # the first to label is shown
    window.step_image(1)  # D
    assert window.session.image_id == expected[1]
    assert sidecar_path(window.document.path).is_file()  # descriptors kept for the next time


def test_new_predictions_rank_again_and_the_order_can_be_left(window, project, qtbot):
    label_next, dock = window.assisted.label_next, window.images_dock
    run_and_wait(qtbot, label_next.job, label_next.start)
    dataset = window.document.dataset
    before = _shown_order(dock)
    label_next.job.rerun_timer.setInterval(10)
    never = next(i for i in before[:4] if not any(map(is_unreviewed_prediction, dataset.instances_of(i))))
    results = [r for r in perturbed_results(project, seed=5) if r["image_id"] == never]
    assert results
    with qtbot.waitSignal(label_next.job.finished, timeout=30000):
        add_own_predictions(dataset, results)  # as a pre-labelling run adds them
    assert _shown_order(dock)[:4] == list(_expected(dataset, window.document.root))
    assert _shown_order(dock) != before
    label_next.refresh()
    label_next.stop()  # while it ranks: the result is dropped, the column stays hidden
    label_next.job.wait()
    QCoreApplication.processEvents()
    assert dock.view.isColumnHidden(NEXT_COLUMN) and label_next.ranks is None
    assert _shown_order(dock) == sorted(dataset.images)  # the list's own order: by image id


def test_closing_cancels_describing_the_images(window, project, qtbot):
    """A first run reads every image file; closing the project (or the window) stops it between images."""
    label_next = window.assisted.label_next
    busy = threading.Event()
    label_next.job.worker.submit(lambda: busy.wait(10))  # holds the worker's one thread
    label_next.start()
    with qtbot.waitSignal(label_next.job.failed, timeout=20000) as failed:
        label_next.cancel()
        busy.set()
    assert failed.args == ["cancelled"]
    assert label_next.ranks is None and window.images_dock.view.isColumnHidden(NEXT_COLUMN)
    assert "cannot rank" not in window.statusBar().currentMessage()


def test_with_every_image_labelled_label_next_says_there_is_none_to_rank(window, tmp_path, testdata, qtbot):
    open_tiny(window, tmp_path, testdata)  # the sample's labels on every image: nothing left to label
    label_next = window.assisted.label_next
    run_and_wait(qtbot, label_next.job, label_next.start)
    assert label_next.ranks == {}
    message = window.statusBar().currentMessage()
    assert message == "Label next: every image is labelled (done, or holding labels): none to rank"
