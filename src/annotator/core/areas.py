"""Exact areas of many polygons at once, shared out over the machine's cores.

pycocotools rasterises a polygon of a hundred vertices in about 0.1 ms, in C that holds the GIL: the
areas of 100,000 polygons cost 10 s on one core, more than reading the file. A batch command
(`annotator convert`) computes them in forked processes before writing; the results land in each
geometry's own cache, so the writer finds them there. Decision 0002 keeps the area exact.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterable

from annotator.core.geometry import Geometry, Polygons, area, remember_area

_MIN_PARALLEL = 2_000  # below this, starting processes costs more than it saves
_JOBS: list[tuple[Geometry, int, int]] = []  # set before the fork; the children read it


def precompute_areas(jobs: Iterable[tuple[Geometry, int, int]], *, processes: int | None = None) -> int:
    """Compute and keep the area of each (geometry, height, width) not yet known; the number computed.

    Forks only from a process with one thread (a fork copies no other thread, and a lock another thread
    held would stay locked in the child); otherwise, or for few polygons, computes here.
    """
    todo = [job for job in jobs if isinstance(job[0], Polygons) and not _known(*job)]
    processes = processes or len(os.sched_getaffinity(0))
    if processes < 2 or len(todo) < _MIN_PARALLEL or threading.active_count() > 1:
        for geometry, height, width in todo:
            area(geometry, height, width)
        return len(todo)
    global _JOBS
    _JOBS = todo
    try:
        size = -(-len(todo) // (processes * 8))
        chunks = [(start, min(start + size, len(todo))) for start in range(0, len(todo), size)]
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            for (start, stop), values in zip(chunks, pool.imap(_areas_of, chunks), strict=True):
                for (geometry, height, width), value in zip(todo[start:stop], values, strict=True):
                    remember_area(geometry, height, width, value)
    finally:
        _JOBS = []
    return len(todo)


def _known(geometry: Geometry, height: int, width: int) -> bool:
    return ("area", height, width) in geometry.derived  # as `geometry.area` keeps it


def _areas_of(chunk: tuple[int, int]) -> list[int]:
    start, stop = chunk
    return [area(geometry, height, width) for geometry, height, width in _JOBS[start:stop]]
