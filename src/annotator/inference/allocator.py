"""Keep freed memory in the process's heap, so that each image's tensors reuse the last image's pages.

glibc serves every block above its mmap threshold (at most 32 MB) with a fresh `mmap` and unmaps it
when freed. Mask R-CNN at 1920x1080 allocates maps of 16-66 MB layer after layer, so every image
faults in, and has the kernel zero, the same few hundred megabytes again: 0.13-0.19 s of system CPU
time per image for our predictor here, and more for a loop that makes full-resolution masks. With
large blocks served from the heap and the heap never trimmed, the pages stay mapped after the first
image (system time 0.01-0.03 s). The cost: the process keeps its peak heap size while it lives, so only
processes that run the model call this (`annotator prelabel`, the GUI's model process).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_NEVER_TRIM = 2**31 - 1  # the largest value mallopt takes: free memory at the heap's top stays


def keep_freed_memory() -> bool:
    """Serve large blocks from the heap and stop returning freed heap to the system (glibc only).

    Returns whether it was applied: other C libraries (macOS, Windows, musl) keep their own policy.
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (only glibc has it, and glibc's mallopt is what we set)
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    return libc
