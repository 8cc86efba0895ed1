"""Python's cyclic garbage collector, run on the GUI thread only.

CPython collects in whichever thread allocates when a generation's count passes its threshold: in this
process that is often a worker (compositing a tile, decoding, a review report). A Qt object held in a
reference cycle (a dock's job subscribed to the session it watches) was then destroyed there, with its
thread pool and timers, which Qt allows only in the object's own thread; the CI run that hung stopped in
such a collection (docs/decisions/0024-collect-on-the-gui-thread.md). So automatic collection is switched
off while the GUI runs, and a timer on the GUI thread collects instead, generation by generation, by
the collector's own thresholds.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

CHECK_MS = 200  # how often the counts are looked at: cycles wait at most this long to be freed


class GuiThreadCollector(QObject):
    """`start()` turns automatic collection off and collects from a timer of the thread it lives in
    (the GUI thread); `stop()` collects what is left there and turns automatic collection back on."""

    def __init__(self, parent: QObject | None = None, *, check_ms: int = CHECK_MS) -> None:
        super().__init__(parent)
        self.timer = QTimer(self, interval=check_ms)
        self.timer.timeout.connect(self.collect_due)
        # CPython's pace for full collections, which it does not expose: objects in the oldest generation
        # after the last full collection, and objects moved into it since
        self._long_lived = 0
        self._long_lived_new = 0

    @property
    def running(self) -> bool:
        return self.timer.isActive()

    def start(self) -> None:
        if not self.running:
            gc.disable()
            self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        self._collect_all()
        gc.enable()

    def collect_and_freeze(self) -> None:
        """Collect everything, then move what is left out of the collector's sight (`gc.freeze`): a model
        loaded into this process brings hundreds of thousands of long-lived objects that every full
        collection walked again (160 ms stalls). Call it on the GUI thread."""
        self._collect_all()
        gc.freeze()
        self._long_lived = 0  # the oldest generation is empty now

    def _collect_all(self) -> int:
        found = gc.collect()
        self._long_lived, self._long_lived_new = len(gc.get_objects(2)), 0
        return found

    def collect_due(self) -> int:
        """Collect as the automatic collector would have: the oldest generation whose count passed its
        threshold, and the oldest only once the objects moved into it since its last collection are a
        quarter of those it kept (else a large dataset's objects were walked again as often as every
        tenth collection of generation 1: 100 ms for 100,000 annotations). The number of objects found
        unreachable."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if counts[2] > thresholds[2] > 0 and self._long_lived_new >= self._long_lived // 4:
            return self._collect_all()
        if counts[1] > thresholds[1] > 0:
            young = len(gc.get_objects(0)) + len(gc.get_objects(1))
            found = gc.collect(1)
            self._long_lived_new += max(0, young - found)  # the survivors moved to the oldest generation
            return found
        if counts[0] > thresholds[0] > 0:
            return gc.collect(0)
        return 0


def collector_of(app: QObject) -> GuiThreadCollector:
    """The application's one collector (made the first time, a child of `app`, so in its thread)."""
    found = app.findChild(GuiThreadCollector)
    return found if found is not None else GuiThreadCollector(app)


def stop_collecting() -> None:
    """Stop the application's collector if it runs (tests, between one window and the next)."""
    app = QCoreApplication.instance()
    found = app.findChild(GuiThreadCollector) if app is not None else None
    if found is not None and found.running:
        found.stop()
