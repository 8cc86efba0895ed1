"""Regions' crops decoded in the background while the canvas is idle, a small job at a time.

Two users: the shown image's large polygons, which a tile zoomed out fills from their vertices and a
hover tests by their rings, but a selection draws from their pixels (a polygon covering a 4000x3000 image
took 30-57 ms to decode on the GUI thread at the click; docs/decisions/0020, lever 21); and the next
image's masks, made ready before the switch to it (lever 7). Each job is small (one region, or about
`chunk_px` mask pixels), so that a tile or a stroke that needs the cores never waits behind more than
one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from PySide6.QtCore import QObject, Signal

from annotator.core.region import Region
from annotator.gui.workers import BackgroundWorker


def _decode(regions: Sequence[Region]) -> None:
    for region in regions:
        region.crops  # noqa: B018 - computed once and kept on the region


class CropQueue(QObject):
    """`start(regions)` queues their crops; `resume()` decodes the next job's if `idle()` says so and none
    is running, and each finished job resumes. `finished` when the queue is empty and no job runs. A crop
    that cannot be decoded fails again, and is reported, where it is used."""

    finished = Signal()

    def __init__(self, idle: Callable[[], bool], chunk_px: int = 0, parent: QObject | None = None) -> None:
        """`chunk_px`: mask pixels (of the regions' boxes) decoded in one job; 0: one region per job."""
        super().__init__(parent)
        self._idle = idle
        self._chunk_px = chunk_px
        self._worker = BackgroundWorker(self)
        self._worker.done.connect(self._job_done)
        self._worker.failed.connect(self._job_done)
        self._queue: list[Region] = []
        self._running = False

    @property
    def pending(self) -> bool:
        return bool(self._queue) or self._running

    def start(self, regions: Sequence[Region]) -> None:
        """Decode these, in this order, from the next `resume` on (what was queued before is dropped)."""
        self._queue = list(regions)

    def forget(self) -> None:
        self._queue = []

    def resume(self) -> None:
        if self._running or not self._idle():
            return
        job, spent = [], 0
        while self._queue and (not job or spent < self._chunk_px):
            region = self._queue.pop(0)
            if not region.decoded:
                _, _, w, h = region.bbox
                spent += int(w * h)
                job.append(region)
        if job:
            self._running = True
            self._worker.submit(partial(_decode, job))

    def wait(self) -> None:
        self._queue = []
        self._worker.wait()

    def _job_done(self, _tag: object, _result: object) -> None:
        self._running = False
        self.resume()
        if not self.pending:
            self.finished.emit()
