"""Rings become Qt polygons point for point (copied in one block, whatever the array's type)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF

from annotator.gui.canvas.render import polygon_of, rings_path


def test_a_polygon_has_the_rings_points_exactly():
    ring = np.random.default_rng(0).random((500, 2)) * 4000
    polygon = polygon_of(ring)
    assert polygon.size() == 500
    assert all(polygon.at(i).x() == ring[i, 0] and polygon.at(i).y() == ring[i, 1] for i in range(500))
    assert [(p.x(), p.y()) for p in polygon_of(np.array([[1, 2], [3, 4]], np.int32))] == [(1, 2), (3, 4)]
    assert polygon_of(np.zeros((0, 2))).isEmpty()


def test_a_path_of_rings_covers_their_inside_and_no_more():
    square = np.array([[10.0, 10.0], [50.0, 10.0], [50.0, 50.0], [10.0, 50.0]])
    path = rings_path([square, square + 100])
    assert path.contains(QPointF(30, 30)) and path.contains(QPointF(130, 130))
    assert not path.contains(QPointF(80, 80))
