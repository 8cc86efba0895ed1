"""Areas computed in forked processes are the areas `geometry.area` gives, kept on each geometry."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from annotator.core import areas
from annotator.core.geometry import Polygons, area


def _polygons(count: int, seed: int = 0) -> list[Polygons]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(3, 40))
        t = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(2, 60) * rng.uniform(0.6, 1.4, n)
        cx, cy = rng.uniform(-20, 340, 2)
        out.append(Polygons((np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1),)))
    return out


def _expected(shapes: list[Polygons]) -> list[int]:
    return [area(Polygons(shape.rings), 240, 320) for shape in shapes]  # fresh objects: no shared cache


_CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
from test_areas import _polygons
from annotator.core import areas
areas._MIN_PARALLEL = 10
shapes = _polygons(300)
count = areas.precompute_areas([(s, 240, 320) for s in shapes], processes=2)
again = areas.precompute_areas([(s, 240, 320) for s in shapes], processes=2)
print(json.dumps({{
    "count": count, "again": again,
    "areas": [s.derived[("area", 240, 320)] for s in shapes],
    "rasterised_here": sum(("rle", 240, 320) in s.derived for s in shapes),
}}))
"""


def test_areas_from_processes_equal_the_serial_ones_and_are_kept():
    """In a fresh process (one thread, as `annotator convert` runs): the areas come from forked
    children, equal `geometry.area`'s, and are kept on each geometry."""
    child = subprocess.run(
        [sys.executable, "-c", _CHILD.format(tests=str(Path(__file__).parent))],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    result = json.loads(child.stdout)
    assert result["count"] == 300 and result["again"] == 0  # computed once, then known
    assert result["rasterised_here"] == 0  # by the children
    assert result["areas"] == _expected(_polygons(300))


def test_a_process_with_other_threads_computes_here(monkeypatch):
    monkeypatch.setattr(areas, "_MIN_PARALLEL", 10)
    shapes = _polygons(50, seed=1)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert areas.precompute_areas([(s, 240, 320) for s in shapes], processes=2) == 50
    finally:
        release.set()
        other.join()
    assert all(("rle", 240, 320) in s.derived for s in shapes)  # rasterised in this process
    assert [s.derived[("area", 240, 320)] for s in shapes] == _expected(shapes)
