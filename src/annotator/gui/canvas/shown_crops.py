"""The shown image's large polygons decoded while the canvas is idle.

Zoomed out, a tile fills polygons from their vertices and decodes no crop (docs/decisions/0020, lever
21), and a hover tests a large polygon by its rings. Selecting one still needs its pixels (the selected
instance is drawn from its crop): a polygon covering a 4000x3000 image took 30-57 ms to decode on the
GUI thread at the click. Its crop is decoded here instead, in the background, front instances first, one
per job, while no tile or strips are being made and the person is idle; smaller polygons decode on
demand in a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from PySide6.QtCore import QObject, Signal

from annotator.core.region import Region
from annotator.gui.workers import BackgroundWorker


class ShownCrops(QObject):
    """`start(regions)` decodes those `tested_by_rings` (large polygons), one per job while `idle()` says so;
    `finished` when none is left (the next image's work may go on)."""

    finished = Signal()

    def __init__(self, idle: Callable[[], bool], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._idle = idle
        self._worker = BackgroundWorker(self)
        self._worker.done.connect(self._job_done)
        self._worker.failed.connect(self._job_done)  # a crop that cannot be decoded fails again when used
        self._queue: list[Region] = []
        self._running = False

    @property
    def pending(self) -> bool:
        return bool(self._queue) or self._running

    def start(self, regions: Sequence[Region]) -> None:
        """The shown image's regions, front first: decoded from the next `resume` (after the switch's
        own tile, which must not share the cores with them)."""
        self._queue = [region for region in regions if region.tested_by_rings]

    def forget(self) -> None:
        self._queue = []

    def resume(self) -> None:
        if self._running or not self._idle():
            return
        while self._queue:
            region = self._queue.pop(0)
            if not region.decoded:
                self._running = True
                self._worker.submit(partial(getattr, region, "crops"))
                return

    def _job_done(self, _tag: object, _result: object) -> None:
        self._running = False
        self.resume()
        if not self.pending:
            self.finished.emit()
