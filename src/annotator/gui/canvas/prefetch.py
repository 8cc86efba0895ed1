"""The next image's overlay made while the canvas is idle, so switching to it shows the exact picture at
once; and `TileAhead`, which the overlay also uses for the zoom one wheel notch gives.

Switching to a 4000x3000 image with 500 instances spent about half of its wait decoding the mask crops
and the rest compositing the tile. The image loader already prefetches the next image's pixels; this
does the same for its overlay, in small jobs and only while no tile is being built, so a zoom or switch
elsewhere never waits behind it for more than one job. When the overlay says what the view will want
right after the switch (`plan`: the tile at fit, nothing selected), that tile is composited in strips of
rows, each decoding the crops it reaches and letting go of those no strip below needs (two images'
crops at once raised the peak RSS); it is used only if the view then wants exactly that picture
(`compose.same_picture`: a geometry, style or zoom changed meanwhile is simply not reused). Without a
plan, the crops themselves are decoded ahead, front instances first, within a budget. See
docs/decisions/0020-exact-picture-sooner.md (levers 7 and 15).
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from PySide6.QtCore import QObject, Signal

from annotator.core.model import Image, Instance
from annotator.core.region import Region
from annotator.gui.canvas.compose import (
    BAND_OVERLAP,
    Rect,
    TileSpec,
    band_cuts,
    base_part,
    outline_pad,
    render_patch,
    work_estimate,
)
from annotator.gui.canvas.crop_queue import CropQueue
from annotator.gui.workers import BackgroundWorker

CHUNK_PX = 2_000_000  # mask pixels decoded in one job: about 10-20 ms on this machine
# At most this many mask pixels (bytes) decoded ahead, front instances first: with 64 Mpx (all 500 masks)
# bench/canvas.py's peak RSS rose 26 MB above today's (two images' masks at once); at 32 it does not.
BUDGET_PX = 32_000_000
STRIP_WORK_PX = 1_500_000  # layer area composited in one job of the tile made ahead (`work_estimate`)

# The tile the view will want once it shows this image, with the regions of all its instances (those
# made ahead among them), or None when it cannot tell.
Plan = Callable[[Image, Sequence[Instance], dict[int, Region]], tuple[TileSpec, dict[int, Region]] | None]


@dataclass
class Ahead:
    """What was made ahead for one image: regions (their crops decoded, or some of them) and, when it
    was finished, the tile at fit with the spec it shows."""

    regions: dict[int, Region] = field(default_factory=dict)
    tile: tuple[TileSpec, np.ndarray] | None = None


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _find_malloc_trim()


def trim_heap() -> None:
    """Give the heap memory freed so far back to the system. glibc keeps what a thread frees in that
    thread's arena, for that thread's next allocations: the crops one worker let go stayed resident
    while another decoded the shown image's (`bench/canvas.py`: 94 MB, peak RSS 320 -> 391). 0.4-8 ms."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


@dataclass(frozen=True)
class _Strip:
    rect: Rect  # rows of the tile, global device pixels
    done: tuple[Region, ...]  # regions not to keep that no strip below reaches: let go after this one
    trim_before: bool  # give freed memory back first (the image left's crops, before this one's decode)
    trim_after: bool  # and after (the crops this tile let go)
    patch: bool = False  # the last strip of a tile with a selection: its patch too


def _draw_strip(buffer: np.ndarray, spec: TileSpec, strip: _Strip) -> tuple[Rect, np.ndarray] | None:
    """A strip of the tile, to the pixel what building it whole gives; and the patch, if asked."""
    if strip.trim_before:
        trim_heap()
    x0, y0, x1, y1 = spec.local(strip.rect)
    buffer[y0:y1, x0:x1] = base_part(spec, strip.rect)
    for region in strip.done:
        region.forget_pixels()
    if strip.trim_after:
        trim_heap()
    return render_patch(spec) if strip.patch else None


# A tile made ahead: what it shows, its pixels, and its patch (what lies above the selected instance
# inside its box; None without a selection, or when nothing does)
Made = tuple[TileSpec, np.ndarray, tuple[Rect, np.ndarray] | None]


class TileAhead(QObject):
    """A tile composited ahead of its use, in strips of rows while `idle()` says so (then its patch, when
    something is selected); `take(wanted)` hands it over (and forgets it) if `wanted(spec)` accepts what
    it shows. `finished` when it is made."""

    finished = Signal()

    def __init__(self, idle: Callable[[], bool], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._idle = idle
        self._worker = BackgroundWorker(self)
        self._worker.done.connect(self._strip_done)
        self._worker.failed.connect(self._strip_failed)
        self._spec: TileSpec | None = None
        self._buffer: np.ndarray | None = None
        self._patch: tuple[Rect, np.ndarray] | None = None
        self._strips: list[_Strip] = []
        self._ready = False
        self._running = False
        self._token = 0

    @property
    def pending(self) -> bool:
        return self._running or bool(self._strips)

    @property
    def spec(self) -> TileSpec | None:
        """What the tile being made, or made, shows."""
        return self._spec

    def start(self, spec: TileSpec, keep: Collection[Region] | None = None) -> None:
        """Composite `spec`'s tile; the crops of regions not in `keep` (None: keep all) are decoded for
        the strips they reach and let go after the last one (the peak RSS of two images' masks)."""
        self.forget()
        x0, y0, x1, y1 = spec.area
        if not spec.layers or x1 <= x0 or y1 <= y0:
            return
        self._spec, self._buffer = spec, np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
        strips = max(1, math.ceil(work_estimate(spec) / STRIP_WORK_PX))
        cuts = band_cuts((0, 0, x1 - x0, y1 - y0), spec, strips)
        rows = [(x0, y0 + a, x1, y0 + b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if a < b]
        # after the last strip whose drawing (BAND_OVERLAP beyond it) reaches the region
        pad = outline_pad(spec.line_width)
        last: dict[int, list[Region]] = {}
        for layer in spec.layers if keep is not None else ():
            if layer.region not in keep:
                bottom = layer.device_box(spec.scale, pad)[3]
                strip = next((i for i, r in enumerate(rows) if bottom <= r[3] - BAND_OVERLAP), len(rows) - 1)
                last.setdefault(strip, []).append(layer.region)
        final = len(rows) - 1
        self._strips = [
            _Strip(
                rect,
                tuple(last.get(i, ())),
                trim_before=i == 0,
                trim_after=keep is not None and i == final,
                patch=spec.selected is not None and i == final,
            )
            for i, rect in enumerate(rows)
        ]
        self.resume()

    def take(self, wanted: Callable[[TileSpec], bool]) -> Made | None:
        tile = self.peek(wanted)
        if tile is not None:
            self.forget()
        return tile

    def peek(self, wanted: Callable[[TileSpec], bool]) -> Made | None:
        """The tile, if made and `wanted`, kept here."""
        if not self._ready or not wanted(self._spec):
            return None
        return (self._spec, self._buffer, self._patch)

    def forget(self) -> None:
        self._token += 1
        self._spec, self._buffer, self._patch, self._strips, self._ready = None, None, None, [], False

    def resume(self) -> None:
        if self._running or not self._strips or not self._idle():
            return
        self._running = True
        self._worker.submit(partial(_draw_strip, self._buffer, self._spec, self._strips.pop(0)), self._token)

    def _strip_done(self, token: int, patch: tuple[Rect, np.ndarray] | None) -> None:
        self._running = False
        if token == self._token and patch is not None:
            self._patch = patch
        if token == self._token and self._spec is not None and not self._strips:
            self._ready = True
            self.finished.emit()
        self.resume()

    def _strip_failed(self, token: int, _error: object) -> None:
        """A crop that cannot be decoded fails again, and is reported, when it is shown."""
        self._running = False
        if token == self._token:
            self.forget()
            self.finished.emit()

    def wait(self) -> None:
        self._strips = []
        self._worker.wait()


class MaskPrefetcher(QObject):
    """`start(image, instances)` decodes their mask crops in the background, a chunk at a time while
    `idle()` says so, then composites the tile `plan` asks for; `take(image_id)` hands over what is
    ready (and forgets it)."""

    def __init__(self, idle: Callable[[], bool], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._idle = idle
        self._crops = CropQueue(idle, CHUNK_PX, self)
        self._crops.finished.connect(self.resume)  # then the tile, if planned
        self._tile = TileAhead(idle, self)
        self._image: Image | None = None
        self._instances: Sequence[Instance] = ()
        self._regions: dict[int, Region] = {}
        self._plan: Plan | None = None

    @property
    def image_id(self) -> int | None:
        """The image whose masks are made ready (or were)."""
        return None if self._image is None else self._image.id

    @property
    def pending(self) -> bool:
        """Whether crops or the tile are still to be made (or being made)."""
        return self._crops.pending or self._plan is not None or self._tile.pending

    def start(self, image: Image, instances: Sequence[Instance], plan: Plan | None = None) -> None:
        if self._image is not None and image.id == self._image.id:
            return
        self.forget()
        self._image, self._instances, self._plan = image, instances, plan
        if plan is not None:  # the tile decodes the crops it needs, and lets them go
            self.resume()
            return
        spent = 0
        for instance in sorted(instances, key=lambda i: -i.z):  # front first: what is seen most
            region = Region(instance.geometry, image.height, image.width)
            _, _, w, h = region.bbox
            spent += int(w * h)
            if spent > BUDGET_PX:
                break
            self._regions[instance.id] = region
        self._crops.start(list(self._regions.values()))
        self.resume()

    def take(self, image_id: int) -> Ahead:
        """What was made for `image_id` (the tile only if finished); nothing for another image."""
        ahead = Ahead()
        if self._image is not None and image_id == self._image.id:
            made = self._tile.take(lambda _spec: True)  # at fit, nothing selected: no patch
            ahead = Ahead(self._regions, None if made is None else made[:2])
        self.forget()
        return ahead

    def forget(self) -> None:
        self._image, self._instances, self._regions, self._plan = None, (), {}, None
        self._crops.forget()
        self._tile.forget()

    def resume(self) -> None:
        """Do the next chunk of crops if the canvas is idle and none is running; then the tile."""
        if self._crops.pending:
            self._crops.resume()  # the queue is the latest image's, whichever a running chunk is for
            return
        if not self._idle():
            return
        if self._plan is not None:
            plan, self._plan = self._plan, None
            planned = plan(self._image, self._instances, self._regions)
            if planned is not None:
                spec, self._regions = planned
                self._tile.start(spec, keep=())
        self._tile.resume()

    def wait(self) -> None:
        self._plan = None
        self._crops.wait()
        self._tile.wait()
