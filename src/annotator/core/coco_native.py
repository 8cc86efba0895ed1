"""pycocotools' own polygon rasteriser, called through ctypes so that it runs without the GIL.

pycocotools' Python functions hold the GIL while they rasterise and decode (its Cython releases it
nowhere), so the 500 mask crops of a 4000x3000 image took about 170 ms of one core whatever the number
of threads. Its C functions (`rleFrPoly`, `rleMerge`, `rleDecode`) are exported by its extension
module; a ctypes call releases the GIL, so two threads decode side by side, and beside OpenCV's
compositing. Same code, same pixels (tested against `mask_utils`). Where the symbols are missing (another
build of pycocotools) `available()` is False and callers use `mask_utils`. See
docs/decisions/0020-exact-picture-sooner.md.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import cv2
import numpy as np


class _Rle(ctypes.Structure):
    # maskApi.h: typedef struct { siz h, w, m; uint *cnts; } RLE;  siz is unsigned long
    _fields_ = [
        ("h", ctypes.c_ulong),
        ("w", ctypes.c_ulong),
        ("m", ctypes.c_ulong),
        ("cnts", ctypes.POINTER(ctypes.c_uint)),
    ]


def _load() -> ctypes.CDLL | None:
    try:
        from pycocotools import _mask

        lib = ctypes.CDLL(_mask.__file__)
        rle_p, size = ctypes.POINTER(_Rle), ctypes.c_ulong
        lib.rleFrPoly.argtypes = [rle_p, ctypes.POINTER(ctypes.c_double), size, size, size]
        lib.rleMerge.argtypes = [rle_p, rle_p, size, ctypes.c_int]
        lib.rleDecode.argtypes = [rle_p, ctypes.POINTER(ctypes.c_ubyte), size]
        lib.rleFree.argtypes = [rle_p]
        lib.rleFrString.argtypes = [rle_p, ctypes.c_char_p, size, size]
        for function in (lib.rleFrPoly, lib.rleMerge, lib.rleDecode, lib.rleFree, lib.rleFrString):
            function.restype = None
    except (ImportError, OSError, AttributeError):
        return None
    return lib


_lib = _load()


def available() -> bool:
    return _lib is not None


def polygon_mask(rings: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """`mask_utils.decode(merge(frPyObjects(flattened rings, height, width)))` as a C-ordered
    height x width uint8 array (the rings as pycocotools takes them: each at least three points)."""
    lib = _lib
    assert lib is not None, "check available() first"
    runs = (_Rle * len(rings))()
    merged = _Rle()
    try:
        for index, ring in enumerate(rings):
            points = np.ascontiguousarray(ring, np.float64)
            pointer = points.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
            lib.rleFrPoly(ctypes.byref(runs[index]), pointer, len(points), height, width)
        target = runs[0]
        if len(rings) > 1:
            lib.rleMerge(runs, ctypes.byref(merged), len(rings), 0)
            target = merged
        columns = np.empty((width, height), np.uint8)  # rleDecode writes column by column
        lib.rleDecode(ctypes.byref(target), columns.ctypes.data_as(ctypes.POINTER(ctypes.c_ubyte)), 1)
    finally:
        for run in runs:
            lib.rleFree(ctypes.byref(run))
        lib.rleFree(ctypes.byref(merged))
    return cv2.transpose(columns)  # 10x numpy's transposing copy, and without the GIL


def run_lengths(counts: bytes, height: int, width: int) -> np.ndarray:
    """The run lengths of a compressed counts string (pycocotools' `rleFrString`), as uint32: one mask's
    in microseconds, where `rle_runs.decode_runs` (numpy, made for many masks at once) took 0.3 ms."""
    lib = _lib
    assert lib is not None, "check available() first"
    rle = _Rle()
    try:
        lib.rleFrString(ctypes.byref(rle), counts, height, width)
        return np.ctypeslib.as_array(rle.cnts, (rle.m,)).copy() if rle.m else np.zeros(0, np.uint32)
    finally:
        lib.rleFree(ctypes.byref(rle))


def decode_counts(counts: np.ndarray, height: int, width: int) -> np.ndarray:
    """Uncompressed run lengths (uint32, background first, column-major, summing to height x width) as a
    C-ordered height x width uint8 array, by `rleDecode`: a crop of a mask written in C, without the GIL,
    where numpy's running sum and transposing copy took 0.4 ms of a typical crop's 0.8 (500 crops of a
    4000x3000 image, docs/decisions/0020)."""
    lib = _lib
    assert lib is not None, "check available() first"
    counts = np.ascontiguousarray(counts, np.uint32)
    rle = _Rle(height, width, len(counts), counts.ctypes.data_as(ctypes.POINTER(ctypes.c_uint)))
    columns = np.empty((width, height), np.uint8)
    lib.rleDecode(ctypes.byref(rle), columns.ctypes.data_as(ctypes.POINTER(ctypes.c_ubyte)), 1)
    return cv2.transpose(columns)
