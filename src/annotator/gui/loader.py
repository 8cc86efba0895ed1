"""Decode images off the GUI thread, deliver the current one by queued signal, prefetch the next.

Each request carries the image id; a result for an image the user has already left is kept in a small
cache (it may be the prefetched neighbour) but never shown as the current image.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from annotator.gui.canvas.render import pyramid, rgb_image
from annotator.io.errors import DatasetError
from annotator.io.images import load_rgb

CACHE_SIZE = 4


def decode_levels(path: Path) -> list[QImage]:
    """Decode and build the display pyramid; runs in a worker thread (QImage is thread-safe)."""
    image = rgb_image(load_rgb(path)).convertToFormat(QImage.Format.Format_RGB32)
    return pyramid(image)


class _Job(QRunnable):
    def __init__(self, loader: ImageLoader, generation: int, image_id: int, path: Path) -> None:
        super().__init__()
        self._loader, self._generation, self._image_id, self._path = loader, generation, image_id, path

    def run(self) -> None:
        try:
            levels = decode_levels(self._path)
        except DatasetError as exc:
            self._loader._finished.emit(self._generation, self._image_id, None, str(exc))
        except Exception as exc:  # a worker must report, never die silently
            self._loader._finished.emit(
                self._generation, self._image_id, None, f"{self._path}: {type(exc).__name__}: {exc}"
            )
        else:
            self._loader._finished.emit(self._generation, self._image_id, levels, "")


class ImageLoader(QObject):
    """`request(id, path)` makes `loaded(id, levels)` or `failed(id, message)` follow, for that id only."""

    loaded = Signal(int, object)
    failed = Signal(int, str)
    _finished = Signal(int, int, object, str)  # emitted in a worker thread, received in the GUI thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # two cores shared with the model worker
        self._cache: OrderedDict[int, list[QImage]] = OrderedDict()
        self._pending: set[int] = set()
        self._wanted: int | None = None
        self._generation = 0  # bumped when another document is opened: its ids mean other images
        self._finished.connect(self._on_finished)

    def request(self, image_id: int, path: Path) -> None:
        self._wanted = image_id
        if image_id in self._cache:
            self._cache.move_to_end(image_id)
            self.loaded.emit(image_id, self._cache[image_id])
        elif image_id not in self._pending:
            self._start(image_id, path)

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
        self._pool.clear()
        self._pool.waitForDone()

    def _start(self, image_id: int, path: Path) -> None:
        self._pending.add(image_id)
        self._pool.start(_Job(self, self._generation, image_id, path))

    def _on_finished(self, generation: int, image_id: int, levels: list[QImage] | None, message: str) -> None:
        if generation != self._generation:
            return
        self._pending.discard(image_id)
        if levels is not None:
            self._cache[image_id] = levels
            self._cache.move_to_end(image_id)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        if image_id != self._wanted:
            return  # stale or prefetched: kept in the cache, not shown
        if levels is None:
            self.failed.emit(image_id, message)
        else:
            self.loaded.emit(image_id, levels)
