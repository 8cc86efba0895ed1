"""Areas computed in forked processes are the areas `geometry.area` gives, kept on each geometry."""

from __future__ import annotations

import threading

import numpy as np

from annotator.core import areas
from annotator.core.geometry import Mask, Polygons, area


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


def test_areas_from_processes_equal_the_serial_ones_and_are_kept(monkeypatch):
    monkeypatch.setattr(areas, "_MIN_PARALLEL", 10)
    shapes = _polygons(300)
    mask = Mask.from_array(np.ones((240, 320), np.uint8))
    assert areas.precompute_areas([(s, 240, 320) for s in shapes] + [(mask, 240, 320)], processes=2) == 300
    assert [s.derived[("area", 240, 320)] for s in shapes] == _expected(shapes)
    assert all(("rle", 240, 320) not in s.derived for s in shapes)  # computed in the children
    assert areas.precompute_areas([(s, 240, 320) for s in shapes], processes=2) == 0  # known already


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
