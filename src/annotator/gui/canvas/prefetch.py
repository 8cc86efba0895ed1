"""The next image's mask crops, decoded while the canvas is idle, so switching to it composites at once.

Switching to a 4000x3000 image with 500 instances spent about half of its wait decoding the mask crops
(pycocotools, holding the GIL, so not in parallel with anything). The image loader already prefetches
the next image's pixels; this does the same for its masks, in small chunks and only while no tile is
being built, so a switch elsewhere never waits behind it for more than one chunk. The regions are
handed to the canvas when it shows that image; a geometry changed meanwhile is simply not reused (the
layer compares the geometry by identity). See docs/decisions/0020-exact-picture-sooner.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from PySide6.QtCore import QObject

from annotator.core.model import Image, Instance
from annotator.core.region import Region
from annotator.gui.workers import BackgroundWorker

CHUNK_PX = 2_000_000  # mask pixels decoded in one job: about 10-20 ms on this machine
# At most this many mask pixels (bytes) decoded ahead, front instances first: with 64 Mpx (all 500 masks)
# bench/canvas.py's peak RSS rose 26 MB above today's (two images' masks at once); at 32 it does not.
BUDGET_PX = 32_000_000


def _decode(regions: Sequence[Region]) -> None:
    for region in regions:
        region.crops  # noqa: B018 - computed once and kept on the region


class MaskPrefetcher(QObject):
    """`start(image, instances)` decodes their mask crops in the background, a chunk at a time while
    `idle()` says so; `take(image_id)` hands over what is ready (and forgets it)."""

    def __init__(self, idle: Callable[[], bool], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._idle = idle
        self._worker = BackgroundWorker(self)
        self._worker.done.connect(self._chunk_done)
        self._worker.failed.connect(self._chunk_done)
        self._image_id: int | None = None
        self._regions: dict[int, Region] = {}
        self._queue: list[Region] = []
        self._running = False
        self._token = 0

    @property
    def pending(self) -> bool:
        """Whether crops are still to be decoded (or being decoded)."""
        return bool(self._queue) or self._running

    def start(self, image: Image, instances: Sequence[Instance]) -> None:
        if image.id == self._image_id:
            return
        self._token += 1
        self._image_id = image.id
        self._regions = {}
        spent = 0
        for instance in sorted(instances, key=lambda i: -i.z):  # front first: what is seen most
            region = Region(instance.geometry, image.height, image.width)
            _, _, w, h = region.bbox
            spent += int(w * h)
            if spent > BUDGET_PX:
                break
            self._regions[instance.id] = region
        self._queue = list(self._regions.values())
        self.resume()

    def take(self, image_id: int) -> dict[int, Region]:
        """The regions made for `image_id` (their crops decoded, or some of them); none for another."""
        regions = self._regions if image_id == self._image_id else {}
        self.forget()
        return regions

    def forget(self) -> None:
        self._token += 1
        self._image_id, self._regions, self._queue = None, {}, []

    def resume(self) -> None:
        """Decode the next chunk if the canvas is idle and none is running."""
        if self._running or not self._queue or not self._idle():
            return
        chunk, spent = [], 0
        while self._queue and spent < CHUNK_PX:
            region = self._queue.pop(0)
            _, _, w, h = region.bbox
            spent += int(w * h)
            chunk.append(region)
        self._running = True
        self._worker.submit(partial(_decode, chunk), self._token)

    def _chunk_done(self, _token: int, _result: object) -> None:
        self._running = False
        self.resume()  # the queue is the latest image's, whichever this chunk was for

    def wait(self) -> None:
        self._queue = []
        self._worker.wait()
