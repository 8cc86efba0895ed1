"""Thread CPU time of building the overlay tile of bench/canvas.py's scene, lever by lever.

Wall-clock figures swing threefold when other work shares the two cores; the CPU time each thread spends
moves far less. Printed per build: the CPU time of all threads, and of the busiest one (what the build
takes on two otherwise idle cores). Rows: the tile after a zoom step from fit (0.365x) with the dashes
measured per layer (today) and batched, in one thread and in two bands; the tile after a zoom step
at 1:1 (1.1x), whole and the view's part first; decoding the 500 mask crops (which a switch to a
prefetched image no longer waits for) with pycocotools, with its C without the GIL in one thread and in
two; and a switch to an image nobody prefetched (its crops and the tile at fit), before and now; the
same scene's instances as RLE masks, their crops decoded by numpy and by pycocotools' C (lever 27).
See docs/decisions/0020-exact-picture-sooner.md.
Run: `.venv/bin/python bench/tile_cpu.py`.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time

import numpy as np

import annotator.gui.canvas.compose as compose
from annotator.core import coco_native
from annotator.core.colors import category_rgb
from scene import HEIGHT, WIDTH, as_masks, make_dataset

REPEATS = 3
_spent: dict[int, float] = {}
_render = compose.render_base_exact


def _timed(*args, **kwargs) -> None:
    started = time.thread_time()
    _render(*args, **kwargs)
    ident = threading.get_ident()
    _spent[ident] = _spent.get(ident, 0.0) + time.thread_time() - started


compose.render_base_exact = _timed  # the unit every build is made of, in whichever thread
_decode = compose._decode


def _timed_decode(layers) -> None:
    _timed_call(_decode, layers)


compose._decode = _timed_decode  # decode_fills' two halves, in whichever thread


def _per_layer_dashes(layers, gx: int, gy: int, scale: float, line_width: float) -> dict[int, np.ndarray]:
    """The dashes as they were measured before lever 3: one pass per dashed layer."""
    out = {}
    for layer in layers:
        if layer.dash in compose._PATTERNS:
            on, off = compose._PATTERNS[layer.dash]
            rings = compose._device_rings(layer, gx, gy, scale)
            segments = compose.dash_segments(rings, on * line_width, off * line_width)
            if len(segments):
                out[id(layer)] = segments
    return out


def build(spec, bands: int, first=None, *, batched: bool = True) -> tuple[float, float]:
    """(CPU ms of all threads, CPU ms of the busiest thread)."""
    _spent.clear()
    saved = compose._all_dashes
    if not batched:
        compose._all_dashes = _per_layer_dashes
    try:
        if first is None:
            compose.build_tile(spec, bands=bands)
        else:
            x0, y0, x1, y1 = spec.area
            buffer = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
            compose.build_first(buffer, spec, first, bands=bands)
    finally:
        compose._all_dashes = saved
    return sum(_spent.values()) * 1e3, max(_spent.values()) * 1e3


DECODES = {
    "500 mask crops decoded, pycocotools (today)": (False, 1),
    "500 mask crops decoded, its C without the GIL": (True, 1),
    "500 mask crops decoded, without the GIL, 2 threads": (True, 2),
    "switch: crops and tile at fit, 2 bands (before)": (False, 0),
    "switch: crops and tile at fit, 2 threads": (True, 0),
}
# the same scene as RLE masks (pre-labelling's output): numpy's runs and running sum (before lever 27),
# then pycocotools' rleFrString and rleDecode through ctypes
MASK_DECODES = {
    "500 RLE masks' crops decoded, numpy": (False, 1),
    "500 RLE masks' crops decoded, C (lever 27)": (True, 1),
    "500 RLE masks' crops decoded, C, 2 threads": (True, 2),
}


def decode(dataset, native: bool, bands: int) -> tuple[float, float]:
    """Decoding the crops of fresh layers (as a switch to an image nobody prefetched does): in one
    thread, in two (`decode_fills`), or (`bands` 0) with the tile at fit built after, in two bands."""
    layers = sorted(
        (
            compose.make_layer(i, category_rgb(None, i.category_id), (WIDTH, HEIGHT), opacity=0.4)
            for i in dataset.instances_of(1)
        ),
        key=lambda layer: layer.key,
    )
    spec = compose.TileSpec((0, 0, 1461, 1096), 0.365, tuple(layers), None, 2.0)
    saved, saved_fills = coco_native._lib, compose.decode_fills
    if not native:  # as before: pycocotools, the crops decoded lazily in the bands
        coco_native._lib = None
        compose.decode_fills = lambda *args: None
    _spent.clear()
    try:
        if bands == 0:
            compose.build_tile(spec, bands=2)
        elif bands == 2:  # its halves are timed; at 1:1, where polygons are decoded too (lever 21)
            whole = dataclasses.replace(spec, scale=1.0, area=(0, 0, WIDTH, HEIGHT))
            compose.decode_fills(whole, (0, 0, WIDTH, HEIGHT))
        else:
            _timed_call(lambda: [layer.region.crops for layer in layers])
    finally:
        coco_native._lib, compose.decode_fills = saved, saved_fills
    return sum(_spent.values()) * 1e3, max(_spent.values(), default=0.0) * 1e3


def _timed_call(function, *args) -> None:
    started = time.thread_time()
    function(*args)
    ident = threading.get_ident()
    _spent[ident] = _spent.get(ident, 0.0) + time.thread_time() - started


def main() -> None:
    dataset = make_dataset()
    layers = sorted(
        (
            compose.make_layer(i, category_rgb(None, i.category_id), (WIDTH, HEIGHT), opacity=0.4)
            for i in dataset.instances_of(1)
        ),
        key=lambda layer: layer.key,
    )
    decodes = {title: [] for title in (*DECODES, *MASK_DECODES)}
    masks = as_masks(dataset, 500)
    for _ in range(REPEATS):
        for title, (native, bands) in DECODES.items():
            decodes[title].append(decode(dataset, native, bands))
        for title, (native, bands) in MASK_DECODES.items():
            decodes[title].append(decode(masks, native, bands))
    for layer in layers:
        layer.region.crops  # noqa: B018 - decoded once and kept
    fit = compose.TileSpec((0, 0, 1461, 1096), 0.365, tuple(layers), None, 2.0)
    zoomed = compose.TileSpec((989, 909, 3369, 2389), 1.1, tuple(layers), None, 2.0)
    view = (1389, 1159, 2969, 2139)  # the 1600x1000 view inside that tile
    cases = {
        "zoom step from fit, dashes per layer (today)": (fit, 1, None, False),
        "zoom step from fit, dashes batched": (fit, 1, None, True),
        "zoom step from fit, batched, two bands": (fit, 2, None, True),
        "zoom step at 1:1, whole tile, one thread (today)": (zoomed, 1, None, False),
        "zoom step at 1:1, whole tile, two bands": (zoomed, 2, None, True),
        "zoom step at 1:1, the view's part, two bands": (zoomed, 2, view, True),
    }
    rows: dict[str, list[tuple[float, float]]] = {}
    for _ in range(REPEATS):
        for title, (spec, bands, first, batched) in cases.items():
            rows.setdefault(title, []).append(build(spec, bands, first, batched=batched))
    print(f"{'(thread CPU ms, median of 3)':<50}{'all threads':>12}{'busiest':>9}")
    for title, values in decodes.items():
        total = statistics.median(v[0] for v in values)
        busiest = statistics.median(v[1] for v in values)
        print(f"{title:<50}{total:>12.0f}{busiest:>9.0f}")
    for title, values in rows.items():
        total = statistics.median(v[0] for v in values)
        busiest = statistics.median(v[1] for v in values)
        print(f"{title:<50}{total:>12.0f}{busiest:>9.0f}")


if __name__ == "__main__":
    main()
