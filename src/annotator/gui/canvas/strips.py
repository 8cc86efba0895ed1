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
from PySide6.QtCore import QObject, QTimer

from annotator.gui.canvas.compose import (
    BAND_OVERLAP,
    Rect,
    TileSpec,
    base_part,
    compose_exact,
    intersect,
    patch_layers,
    rect_minus,
)
from annotator.gui.canvas.tiles import Tile
from annotator.gui.workers import BackgroundWorker

Parts = list[tuple[Rect, np.ndarray]]
KEEP = object()  # what `landed` gets for the patch when the shown one stays


@dataclass
class Todo:
    """What the tile still lacks (global device rectangles), and whether the patch is to be made
    again for the selected instance's new box from `patch_from` (the patch shown, complete for its
    own box; None: there was none, so nothing lay above the instance in `before`). The new patch
    replaces the shown one only if that is still `patch_from`."""

    tile: Tile
    tile_rects: list[Rect] = field(default_factory=list)
    patch: bool = False
    patch_from: Tile | None = None
    before: Rect | None = None
    reuse: bool = True  # False: the layers above changed too, the patch is made whole


def compose_strips(spec: TileSpec, todo: Todo, bands: int) -> tuple[Parts, tuple[Rect, np.ndarray] | None]:
    """The pixels of each tile rectangle still to come, and the new patch (runs in the worker)."""
    tile = [(rect, base_part(spec, rect, bands=bands)) for rect in todo.tile_rects]
    old = todo.patch_from if todo.reuse else None
    patch = grown_patch(spec, old, todo.before) if todo.patch else None
    return tile, patch


def grown_patch(spec: TileSpec, old: Tile | None, before: Rect | None) -> tuple[Rect, np.ndarray] | None:
    """The patch for the selected instance's new box (see `compose.render_patch`): the old patch where
    the boxes overlap (no patch means nothing lay above it in `before`), composited where it grew."""
    found = patch_layers(spec)
    if found is None:
        return None
    area, above = found
    buffer = np.zeros((area[3] - area[1], area[2] - area[0], 4), np.uint8)
    same = old is not None and old.scale == spec.scale
    if same:
        overlap = reused_area(old, area, spec.scale)
        if overlap is not None:
            ox, oy = old.area[:2]
            buffer[
                overlap[1] - area[1] : overlap[3] - area[1], overlap[0] - area[0] : overlap[2] - area[0]
            ] = old.pixels[overlap[1] - oy : overlap[3] - oy, overlap[0] - ox : overlap[2] - ox]
    else:
        overlap = None if before is None else intersect(before, area)
    for x0, y0, x1, y1 in [area] if overlap is None else rect_minus(area, overlap):
        local = (x0 - area[0], y0 - area[1], x1 - area[0], y1 - area[1])
        compose_exact(buffer, local, area[:2], spec.scale, above, line_width=spec.line_width)
    return area, buffer


def reused_area(old: Tile | None, area: Rect, scale: float) -> Rect | None:
    """Where a patch for `area` at `scale` holds `old`'s pixels, as `grown_patch` copies them."""
    if old is None or old.scale != scale:
        return None
    overlap = intersect(old.area, area)
    return None if overlap is None else _inset(overlap, old.area, area)


def _inset(overlap: Rect, old: Rect, new: Rect) -> Rect | None:
    """What of `overlap` the old patch holds as a fresh patch over `new` would draw it: an antialiased
    line comes out differently within a few pixels of where its buffer ends, so BAND_OVERLAP is taken
    off each side where the two patches end apart."""
    x0, y0, x1, y1 = (
        overlap[k] + (BAND_OVERLAP if k < 2 else -BAND_OVERLAP) * (old[k] != new[k]) for k in range(4)
    )
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def moved_edges(before: Rect, after: Rect) -> list[Rect]:
    """What of the selected instance's old and new box (padded) lies inside both, within BAND_OVERLAP
    of an edge only one of them has: the tile draws what lies below the instance clipped at its box,
    and an antialiased line comes out differently within a few pixels of where it is clipped, so these
    pixels change too when the box moves, not only where it moved (the rest of `rect_minus`)."""
    overlap = intersect(before, after)
    if overlap is None:
        return []
    inner = _inset(overlap, before, after)
    return [overlap] if inner is None else rect_minus(overlap, inner)


class StripComposer(QObject):
    """`submit(spec, todo)` composites `todo` in the worker, copies it into its tile on the GUI thread
    and hands over the new patch (if the tile and patch it started from are still the ones shown:
    `shown()` says which ones those are)."""

    def __init__(
        self,
        shown: Callable[[], tuple[Tile | None, Tile | None]],
        landed: Callable[[list[Rect], object], None],
        failed: Callable[[Exception], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._shown = shown
        # (tile rectangles now drawn, the new patch (area and pixels, None or KEEP), where it holds the old one's)
        self._landed = landed
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

    def submit(self, spec: TileSpec, todo: Todo, *, after_frame: bool = False) -> None:
        """Composite `todo` with `spec`'s layers (replacing any job still to come: `todo` holds it).
        `after_frame`: start once the GUI thread has handled the events pending, the frame the edit asked
        for among them: started at once, the strips' threads took a core and the GIL from that frame (a
        brush release on the largest instance at 2x, median 17.6 against 15.4 ms; decision 0020)."""
        self._token += 1
        self.todo = todo
        token, bands = self._token, self.bands

        def start() -> None:
            if token == self._token:  # not replaced by a later submit, nor cancelled
                self._worker.submit(
                    lambda: compose_strips(spec, todo, bands), (token, todo), replace_queued=True
                )

        if after_frame:
            QTimer.singleShot(0, self, start)
        else:
            start()

    def cancel(self) -> None:
        """The tile is replaced (a new build): nothing still to come is wanted."""
        self._token += 1
        self.todo = None

    def _done(self, tag: tuple[int, Todo], result: tuple[Parts, tuple[Rect, np.ndarray] | None]) -> None:
        token, todo = tag
        if token != self._token:
            return  # a later submit holds this job's rectangles too
        self.todo = None
        tile, patch = self._shown()
        tile_parts, new_patch = result
        drawn = []
        if tile is not None and tile is todo.tile:
            for rect, pixels in tile_parts:
                _paste(tile, rect, pixels)
                drawn.append(rect)
        # the patch shown is still the one it grew from (a redraw makes a whole new one)
        patched = todo.patch and patch is todo.patch_from
        alike = None
        if patched and new_patch is not None and todo.reuse:
            alike = reused_area(todo.patch_from, new_patch[0], todo.tile.scale)
        self._landed(drawn, new_patch if patched else KEEP, alike)

    def _failed(self, tag: tuple[int, Todo], error: Exception) -> None:
        if tag[0] == self._token:
            self.todo = None
            self._report(error)


def _paste(tile: Tile, rect: Rect, pixels: np.ndarray) -> None:
    inside = intersect(rect, tile.area)
    if inside is None:
        return
    ox, oy = tile.area[:2]
    x0, y0, x1, y1 = inside
    tile.pixels[y0 - oy : y1 - oy, x0 - ox : x1 - ox] = pixels[
        y0 - rect[1] : y1 - rect[1], x0 - rect[0] : x1 - rect[0]
    ]
