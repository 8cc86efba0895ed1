"""Python's garbage is collected on the GUI thread only: a Qt object left in a reference cycle is freed
there, even when a worker thread is the one allocating (CI hung once a worker freed an earlier test's
thread pool). The application starts this collector itself."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject, Qt

from annotator import app as app_module
from annotator.gui.collector import GuiThreadCollector, collector_of, stop_collecting
from annotator.gui.workers import BackgroundWorker


def _allocate_like_a_worker() -> list[list[int]]:
    """New containers, kept (the result is), passing the youngest generation's threshold many times
    over: collections start in this thread if collection is automatic."""
    return [[index] for index in range(50 * gc.get_threshold()[0])]


def test_a_qt_object_in_a_cycle_is_freed_on_the_gui_thread_while_a_worker_allocates(qtbot):
    freed_in = []
    gc.collect()  # the cycle below is then in the youngest generation, the one a worker would collect
    owner = QObject()
    owner.pool_owner = BackgroundWorker(owner)
    owner.itself = owner  # a reference cycle: only the cyclic collector frees it
    owner.destroyed.connect(
        lambda: freed_in.append(threading.current_thread()), Qt.ConnectionType.DirectConnection
    )
    del owner
    worker = BackgroundWorker()
    with qtbot.waitSignal(worker.done) as result:
        worker.submit(_allocate_like_a_worker)
    worker.wait()
    assert result.args[1]  # kept: the counts stay past the threshold until something collects
    qtbot.waitUntil(lambda: bool(freed_in), timeout=3000)  # the GUI thread's next check collects it
    assert freed_in == [threading.main_thread()]


def _collections(collector: GuiThreadCollector, checks: int, make) -> list[int]:
    """The generations collected by `checks` checks, `make()` called before each (its objects kept),
    with every generation's threshold low enough to be due at once."""
    generations: list[int] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            generations.append(info["generation"])

    thresholds, kept = gc.get_threshold(), []
    gc.set_threshold(10, 1, 1)
    gc.callbacks.append(record)
    try:
        for _ in range(checks):
            kept.append(make())
            collector.collect_due()
    finally:
        gc.callbacks.remove(record)
        gc.set_threshold(*thresholds)
    return generations


def test_full_collections_wait_for_a_quarter_more_long_lived_objects_as_cpythons_do(qtbot):
    # long-lived objects to count, whatever this process froze before (a model loaded in it): a quarter
    # of them is more than the young ones below make
    long_lived = [[] for _ in range(20_000)]
    gc.collect()
    collector = GuiThreadCollector()
    generations = _collections(collector, 30, lambda: [[] for _ in range(100)])
    assert 2 in generations
    after = generations[generations.index(2) + 1 :]
    # the oldest generation is due again at once by its count, but a few hundred objects are not a
    # quarter of those it holds: only the younger generations are collected meanwhile
    assert len(after) >= 6 and 2 not in after and 1 in after
    many = len(gc.get_objects(2)) // 3
    assert 2 in _collections(collector, 4, lambda: [[] for _ in range(many)])
    assert long_lived


def test_after_a_freeze_a_full_collection_comes_as_soon_as_it_is_due(qtbot):
    collector = GuiThreadCollector()
    assert 2 in _collections(collector, 30, lambda: [[] for _ in range(100)])  # it counts what it kept
    collector.collect_and_freeze()  # what it kept is out of sight now: a model loaded in this process
    assert len(gc.get_objects(2)) < 100
    assert 2 in _collections(collector, 8, lambda: [[] for _ in range(100)])


def test_the_collector_stops_at_the_test_end_and_collection_is_automatic_again(qtbot, qapp):
    assert not gc.isenabled() and collector_of(qapp).running  # under the test fixture, as in the app
    stop_collecting()
    assert gc.isenabled() and not collector_of(qapp).running


def test_the_application_starts_it():
    try:
        app = app_module.application()
        assert collector_of(app).running and not gc.isenabled()
    finally:
        stop_collecting()
    assert gc.isenabled()
