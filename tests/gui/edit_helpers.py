"""Driving the editing tools the way a user does: real mouse and key events on the canvas viewport."""

from __future__ import annotations

import numpy as np
import pytest
from canvas_helpers import image_levels, sample_dataset
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QRegion
from PySide6.QtTest import QTest
from window_helpers import shown_main_window

from annotator.core.geometry import to_mask_array
from annotator.core.model import Image
from annotator.gui.document import MemoryDocument

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier


@pytest.fixture
def window(qtbot, tmp_path):
    """A real main window, shown, with settings of its own; test modules import this fixture."""
    win = shown_main_window(qtbot, tmp_path)
    yield win
    win.loader.wait()


@pytest.fixture
def sample(window, tmp_path):
    """The canvas sample opened in `window` (see open_sample)."""
    return open_sample(window, tmp_path)


def open_sample(window, tmp_path, *, zoom: float = 3.0):
    """The canvas sample (plus a second, smaller image) in the window, zoomed so points are exact."""
    dataset = sample_dataset()
    dataset.put_images([Image(2, "b.png", 120, 90)])
    window.set_document(MemoryDocument(dataset, tmp_path, tmp_path))
    window.canvas.set_pixels(1, image_levels())
    window.canvas.set_zoom(zoom)
    window.canvas.centerOn(100, 75)
    window.canvas.setFocus()
    return dataset


def view_point(canvas, x: float, y: float) -> QPoint:
    return canvas.mapFromScene(QPointF(x, y))


def scene_point(canvas, x: float, y: float) -> tuple[float, float]:
    """Where the tool sees image point (x, y) after the round trip through a whole viewport pixel."""
    p = canvas.viewportTransform().inverted()[0].map(QPointF(view_point(canvas, x, y)))
    return (p.x(), p.y())


def press(canvas, x, y, modifier=NONE) -> None:
    QTest.mousePress(canvas.viewport(), LEFT, modifier, view_point(canvas, x, y))


def move(canvas, x, y) -> None:
    QTest.mouseMove(canvas.viewport(), view_point(canvas, x, y))


def release(canvas, x, y, modifier=NONE) -> None:
    QTest.mouseRelease(canvas.viewport(), LEFT, modifier, view_point(canvas, x, y))


def click(canvas, x, y, modifier=NONE) -> None:
    press(canvas, x, y, modifier)
    release(canvas, x, y, modifier)


def drag(canvas, points, modifier=NONE) -> None:
    """Press at the first point, move through the others, release at the last."""
    press(canvas, *points[0], modifier)
    for x, y in points[1:]:
        move(canvas, x, y)
    release(canvas, *points[-1], modifier)


def key(widget, key_code, modifier=NONE) -> None:
    QTest.keyClick(widget, key_code, modifier)


def pixels(dataset, instance_id: int) -> np.ndarray:
    instance = dataset.instances[instance_id]
    image = dataset.image_of(instance)
    return to_mask_array(instance.geometry, image.height, image.width)


def snapshot(dataset) -> dict:
    """What a user could check: each instance's fields and exact pixels."""
    out = {}
    for inst in dataset.instances.values():
        out[inst.id] = (inst.image_id, inst.category_id, inst.z, inst.review, inst.source)
        out[inst.id] += (pixels(dataset, inst.id).tobytes(),)
    return out


class PaintedRegion(QObject):
    """The union of what a widget repaints while this is installed on it as an event filter."""

    def __init__(self) -> None:
        super().__init__()
        self.region = QRegion()

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.region = self.region.united(event.region())
        return False
