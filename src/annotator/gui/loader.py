"""Decode images off the GUI thread, deliver the current one by queued signal, prefetch the next.

Each request carries the image id; a result for an image the user has already left is kept in a small
cache (it may be the prefetched neighbour) but never shown as the current image.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from annotator.gui.images import decode_levels
from annotator.gui.workers import BackgroundWorker
from annotator.io.errors import DatasetError

CACHE_SIZE = 4


class ImageLoader(QObject):
    """`request(id, path)` makes `loaded(id, levels)` or `failed(id, message)` follow, for that id only."""

    loaded = Signal(object, object)  # ids are 64-bit: Signal(int) is a C++ int (32)
    failed = Signal(object, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker = BackgroundWorker(self)  # one thread: two cores are shared with the model worker
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)
        self._cache: OrderedDict[int, list[QImage]] = OrderedDict()
        self._paths: dict[int, Path] = {}
        self._pending: set[int] = set()
        self._wanted: int | None = None
        self._generation = 0  # bumped when another document is opened: its ids mean other images

    def request(self, image_id: int, path: Path) -> None:
        self._wanted = image_id
        if image_id in self._cache:
            self._cache.move_to_end(image_id)
            self.loaded.emit(image_id, self._cache[image_id])
        elif image_id not in self._pending:
            self._start(image_id, path)

    def has(self, image_id: int) -> bool:
        """Whether the image's pixels are decoded and at hand (a request shows them at once)."""
        return image_id in self._cache

    def prefetch(self, image_id: int, path: Path) -> None:
        if image_id not in self._cache and image_id not in self._pending:
            self._start(image_id, path)

    def cancel(self) -> None:
        self._wanted = None

    def forget(self) -> None:
        """Drop cached images (another document was opened)."""
        self._wanted = None
        self._cache.clear()
        self._pending.clear()
        self._generation += 1

    def wait(self) -> None:
        self._worker.wait()

    def _start(self, image_id: int, path: Path) -> None:
        self._pending.add(image_id)
        self._paths[image_id] = path
        self._worker.submit(partial(decode_levels, path), (self._generation, image_id))

    def _on_done(self, tag: tuple[int, int], levels: list[QImage]) -> None:
        generation, image_id = tag
        if generation != self._generation:
            return
        self._pending.discard(image_id)
        self._cache[image_id] = levels
        self._cache.move_to_end(image_id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        if image_id == self._wanted:
            self.loaded.emit(image_id, levels)  # else stale or prefetched: kept in the cache

    def _on_failed(self, tag: tuple[int, int], error: Exception) -> None:
        generation, image_id = tag
        if generation != self._generation:
            return
        self._pending.discard(image_id)
        if image_id != self._wanted:
            return
        if isinstance(error, DatasetError):
            message = str(error)
        else:
            message = f"{self._paths.get(image_id, '')}: {type(error).__name__}: {error}"
        self.failed.emit(image_id, message)
