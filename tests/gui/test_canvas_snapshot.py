"""A snapshot of the canvas compared with a stored PNG, within a tolerance (fonts and antialiasing may
differ by a few levels between machines). A missing reference is written and the test says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from canvas_helpers import image_levels, sample_dataset
from PySide6.QtGui import QImage

from annotator.core.session import BareDocument, Session, ViewStyle
from annotator.gui.canvas.view import Canvas

SNAPSHOTS = Path(__file__).parent / "snapshots"
MEAN_TOLERANCE = 2.0  # mean absolute difference per channel, 0-255
PIXEL_TOLERANCE = 40  # a pixel differs if any channel moves more than this
MAX_DIFFERENT = 0.01  # at most this share of pixels may differ


def as_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    stride = image.bytesPerLine()
    data = np.frombuffer(image.constBits(), np.uint8, count=stride * image.height())
    # Copy while `image` is alive: the buffer view does not keep the converted QImage alive.
    return (
        data.reshape(image.height(), stride)[:, : image.width() * 3]
        .reshape(image.height(), image.width(), 3)
        .copy()
    )


def test_canvas_matches_snapshot(qtbot):
    canvas = Canvas(session=Session(style=ViewStyle(opacity=0.5, show_labels=True)))
    qtbot.addWidget(canvas)
    canvas.resize(420, 320)
    canvas.show()
    canvas.session.open(BareDocument(sample_dataset()))
    canvas.session.show_image(1)
    canvas.set_pixels(1, image_levels())
    canvas.set_zoom(2.0)
    canvas.centerOn(100, 75)
    canvas.session.select(3)
    actual = as_array(canvas.viewport().grab().toImage()).astype(np.int16)
    reference_path = SNAPSHOTS / "canvas_basic.png"
    if not reference_path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        canvas.viewport().grab().save(str(reference_path))
        pytest.fail(f"reference snapshot was missing: written to {reference_path}; look at it, commit it")
    reference = as_array(QImage(str(reference_path))).astype(np.int16)
    assert reference.shape == actual.shape
    difference = np.abs(reference - actual)
    share = float((difference.max(axis=2) > PIXEL_TOLERANCE).mean())
    assert difference.mean() <= MEAN_TOLERANCE and share <= MAX_DIFFERENT, (
        f"canvas differs from {reference_path.name}: mean {difference.mean():.2f}, {share:.2%} of pixels"
    )
