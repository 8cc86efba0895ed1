"""Brightness, contrast and gamma for dark images: the displayed image changes, live and off the GUI
thread; the pixels the tools and exports use do not."""

from __future__ import annotations

import numpy as np
from canvas_helpers import viewport_pixel
from PySide6.QtGui import QImage
from window_helpers import shown_main_window

from annotator.core.model import Dataset, Image
from annotator.core.session import ImageAdjust
from annotator.gui.canvas.adjust import adjusted_levels
from annotator.gui.document import MemoryDocument
from annotator.gui.images import pyramid, rgb_array, rgb_image

DARK = (20, 25, 30)


def dark_window(qtbot, tmp_path):
    window = shown_main_window(qtbot, tmp_path)
    dataset = Dataset()
    dataset.put_images([Image(1, "dark.png", 200, 150)])
    window.set_document(MemoryDocument(dataset, tmp_path, tmp_path))
    pixels = np.empty((150, 200, 3), np.uint8)
    pixels[:] = DARK
    window.canvas.set_pixels(1, pyramid(rgb_image(pixels).convertToFormat(QImage.Format.Format_RGB32)))
    return window, pixels


def test_the_view_menu_dialog_brightens_the_shown_image_only(qtbot, tmp_path):
    window, pixels = dark_window(qtbot, tmp_path)
    canvas = window.canvas
    assert viewport_pixel(canvas, 100, 75) == DARK
    action = next(a for a in window.actions() if a.text().startswith("Image &brightness"))
    action.trigger()
    dialog = window.adjust_dialog
    assert dialog.isVisible()
    dialog.sliders["gamma"].setValue(250)
    dialog.sliders["brightness"].setValue(10)
    expected = tuple(int(v) for v in ImageAdjust(brightness=0.1, gamma=2.5).lut()[list(DARK)])
    qtbot.waitUntil(lambda: viewport_pixel(canvas, 100, 75) == expected, timeout=10000)
    assert min(expected) > 100  # a dark image made readable
    # the file's pixels are what tools (GrabCut), the pixel readout and exports use
    assert np.array_equal(rgb_array(canvas.full_image()), pixels)
    assert canvas.pixel_at(canvas.mapToScene(canvas.mapFromScene(100, 75))) == DARK
    dialog.reset()
    qtbot.waitUntil(lambda: viewport_pixel(canvas, 100, 75) == DARK, timeout=10000)
    assert window.session.image_adjust.identity


def test_adjusted_levels_apply_the_table_to_every_level():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)
    levels = pyramid(rgb_image(pixels).convertToFormat(QImage.Format.Format_RGB32))
    adjust = ImageAdjust(brightness=-0.1, contrast=1.5, gamma=0.8)
    out = adjusted_levels(levels, adjust)
    assert len(out) == len(levels) > 1
    for before, after in zip(levels, out, strict=True):
        assert np.array_equal(rgb_array(after), adjust.lut()[rgb_array(before)])
