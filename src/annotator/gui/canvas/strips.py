"""Where the selected instance's box moved, the tile and the patch composited in the worker.

Editing a large instance zoomed in (a brush stroke or a vertex drag leaving its box) changes the tile
in strips as tall as the box and the patch where the box grew: at 2x on the largest instance of
bench/edit.py's scene, 85-108 ms of compositing on the GUI thread. Those strips are drawn in the worker
instead; until they land the tile shows its previous pixels there and the patch is clear where the box
grew (a brief wrong order in a strip, never a stall). The worker draws into its own buffers and the GUI
thread copies them in, so the two never write the same pixels; a change meanwhile (another edit, a
redraw) resubmits what is still to come with the current layers. See
docs/decisions/0020-exact-picture-sooner.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject

from annotator.gui.canvas.compose import Rect, TileSpec, base_part, intersect, patch_part
from annotator.gui.canvas.tiles import Tile
from annotator.gui.workers import BackgroundWorker

Parts = list[tuple[Rect, np.ndarray]]


@dataclass
class Todo:
    """What a tile and its patch still lack (global device rectangles)."""

    tile: Tile
    patch: Tile | None
    tile_rects: list[Rect] = field(default_factory=list)
    patch_rects: list[Rect] = field(default_factory=list)


def compose_strips(spec: TileSpec, todo: Todo, bands: int) -> tuple[Parts, Parts]:
    """The pixels of each rectangle still to come (runs in the worker)."""
    tile = [(rect, base_part(spec, rect, bands=bands)) for rect in todo.tile_rects]
    patch = []
    if todo.patch is not None:
        patch = [(rect, patch_part(spec, todo.patch.area, rect)) for rect in todo.patch_rects]
    return tile, patch


class StripComposer(QObject):
    """`submit(spec, todo)` composites `todo` in the worker and copies it into its tile and patch on
    the GUI thread (if they are still the ones shown); `shown()` says which ones those are."""

    def __init__(
        self,
        shown: Callable[[], tuple[Tile | None, Tile | None]],
        landed: Callable[[list[Rect], bool], None],
        failed: Callable[[Exception], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._shown = shown
        self._landed = landed  # (the tile rectangles now drawn, whether the patch was): repaint them
        self._report = failed
        self._worker = BackgroundWorker(self)
        self._worker.done.connect(self._done)
        self._worker.failed.connect(self._failed)
        self.todo: Todo | None = None
        self._token = 0
        self.bands = 2

    @property
    def pending(self) -> bool:
        return self.todo is not None

    def submit(self, spec: TileSpec, todo: Todo) -> None:
        """Composite `todo` with `spec`'s layers (replacing any job still to come: `todo` holds it)."""
        self._token += 1
        self.todo = todo
        snapshot = Todo(todo.tile, todo.patch, list(todo.tile_rects), list(todo.patch_rects))
        bands = self.bands
        self._worker.submit(
            lambda: compose_strips(spec, snapshot, bands), (self._token, snapshot), replace_queued=True
        )

    def cancel(self) -> None:
        """The tile is replaced (a new build): nothing still to come is wanted."""
        self._token += 1
        self.todo = None

    def _done(self, tag: tuple[int, Todo], result: tuple[Parts, Parts]) -> None:
        token, snapshot = tag
        if token != self._token:
            return  # a later submit holds this job's rectangles too
        self.todo = None
        tile, patch = self._shown()
        tile_parts, patch_parts = result
        drawn = []
        if tile is not None and tile is snapshot.tile:
            for rect, pixels in tile_parts:
                _paste(tile, rect, pixels)
                drawn.append(rect)
        patched = patch is not None and patch is snapshot.patch and bool(patch_parts)
        if patched:
            for rect, pixels in patch_parts:
                _paste(patch, rect, pixels)
        self._landed(drawn, patched)

    def _failed(self, tag: tuple[int, Todo], error: Exception) -> None:
        if tag[0] == self._token:
            self.todo = None
            self._report(error)

    def wait(self) -> None:
        self._worker.wait()


def _paste(tile: Tile, rect: Rect, pixels: np.ndarray) -> None:
    inside = intersect(rect, tile.area)
    if inside is None:
        return
    ox, oy = tile.area[:2]
    x0, y0, x1, y1 = inside
    tile.pixels[y0 - oy : y1 - oy, x0 - ox : x1 - ox] = pixels[
        y0 - rect[1] : y1 - rect[1], x0 - rect[0] : x1 - rect[0]
    ]
