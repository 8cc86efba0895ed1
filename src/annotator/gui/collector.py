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
import time

from PySide6.QtCore import QCoreApplication, QObject, QTimer

CHECK_MS = 200  # how often the counts are looked at: cycles wait at most this long to be freed
# Full collections take at most this share of the GUI thread's time. CPython paces them by how many
# long-lived objects are new since the last one, a number Python does not expose; without a pace, a
# large dataset's objects would be walked again every few seconds of editing.
FULL_SHARE = 0.02


class GuiThreadCollector(QObject):
    """`start()` turns automatic collection off and collects from a timer of the thread it lives in
    (the GUI thread); `stop()` collects what is left there and turns automatic collection back on."""

    def __init__(
        self, parent: QObject | None = None, *, check_ms: int = CHECK_MS, full_share: float = FULL_SHARE
    ) -> None:
        super().__init__(parent)
        self.full_share = full_share
        self.timer = QTimer(self, interval=check_ms)
        self.timer.timeout.connect(self.collect_due)
        self._next_full = 0.0  # time.monotonic() before which no full collection starts

    @property
    def running(self) -> bool:
        return self.timer.isActive()

    def start(self) -> None:
        gc.disable()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        gc.collect()
        gc.enable()

    def collect_due(self) -> int:
        """Collect the oldest generation whose count passed its threshold, as the automatic collector
        would have (that also collects the younger ones), a full collection only within FULL_SHARE;
        the number of objects freed."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in (2, 1, 0):
            if not thresholds[generation] or counts[generation] <= thresholds[generation]:
                continue
            started = time.monotonic()
            if generation == 2 and started < self._next_full:
                continue
            freed = gc.collect(generation)
            if generation == 2:
                self._next_full = started + (time.monotonic() - started) / self.full_share
            return freed
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
