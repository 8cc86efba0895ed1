"""The box-to-mask tool (G) with real mouse events: GrabCut finds the object off the GUI thread and adds
it as one undoable mask instance."""

from __future__ import annotations

import cv2
import numpy as np
from edit_helpers import drag, snapshot, window
from PySide6.QtGui import QImage

from annotator.core.geometry import mask_iou, to_mask_array
from annotator.core.model import Category, Dataset, Image
from annotator.gui.document import MemoryDocument
from annotator.gui.images import pyramid, rgb_array, rgb_image


def _scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    pixels = rng.integers(90, 160, (150, 200, 3), dtype=np.uint8)
    truth = np.zeros((150, 200), np.uint8)
    cv2.ellipse(truth, (100, 75), (40, 25), 15, 0, 360, 1, -1)
    pixels[truth > 0] = rng.integers(0, 50, (int(truth.sum()), 3)) + np.array([190, 30, 30])
    return pixels, truth


def test_a_box_around_an_object_becomes_its_mask_in_one_undo_step(window, qtbot, tmp_path):
    pixels, truth = _scene()
    dataset = Dataset()
    dataset.put_images([Image(1, "scene.png", 200, 150)])
    dataset.put_categories([Category(5, "thing")])
    window.set_document(MemoryDocument(dataset, tmp_path, tmp_path))
    window.canvas.set_pixels(1, pyramid(rgb_image(pixels).convertToFormat(QImage.Format.Format_RGB32)))
    window.canvas.set_zoom(3.0)
    window.canvas.centerOn(100, 75)
    assert np.array_equal(rgb_array(window.canvas.full_image()), pixels)
    before = snapshot(dataset)
    window.editing.actions["tool_box_segment"].trigger()
    drag(window.canvas, [(50, 40), (100, 75), (150, 110)])
    qtbot.waitUntil(lambda: len(dataset.instances) == 1, timeout=10000)
    instance = next(iter(dataset.instances.values()))
    assert instance.category_id == 5 and window.canvas.session.selected_id == instance.id
    assert mask_iou(to_mask_array(instance.geometry, 150, 200), truth) > 0.85
    window.editing.actions["undo"].trigger()
    assert snapshot(dataset) == before
