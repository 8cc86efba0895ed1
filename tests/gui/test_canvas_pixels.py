"""The canvas draws what the dataset says, back to front: read the pixels a user would see."""

from __future__ import annotations

import pytest
from canvas_helpers import (
    IMAGE_RGB,
    blend,
    image_levels,
    sample_dataset,
    square,
    viewport_pixel,
)
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from annotator.core import operations
from annotator.core.model import Instance
from annotator.core.session import BareDocument, Session, ViewStyle
from annotator.gui.canvas.view import Canvas


@pytest.fixture
def canvas(qtbot):
    view = Canvas(session=Session(style=ViewStyle(opacity=0.5, show_labels=False)))
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    dataset = sample_dataset()
    view.session.open(BareDocument(dataset))
    view.session.show_image(1)
    view.set_pixels(1, image_levels())
    view.zoom_1_1()
    return view


def close_to(actual, expected, tolerance=2):
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def test_blend_is_alpha_fill_over_image(canvas):
    # Inside the large square only: alpha * red + (1 - alpha) * image.
    assert close_to(viewport_pixel(canvas, 25, 25), blend((255, 0, 0), IMAGE_RGB, 0.5))


def test_small_instance_over_large_keeps_its_own_colour(canvas):
    under_small = viewport_pixel(canvas, 50, 50)
    expected = blend((0, 255, 0), blend((255, 0, 0), IMAGE_RGB, 0.5), 0.5)
    assert close_to(under_small, expected)


def test_opacity_slider_changes_the_blend(canvas):
    canvas.session.set_style(ViewStyle(opacity=0.8, show_labels=False))
    assert close_to(viewport_pixel(canvas, 25, 25), blend((255, 0, 0), IMAGE_RGB, 0.8))


@pytest.mark.parametrize("how", ["instance", "class", "all"])
def test_hiding_restores_the_image(canvas, how):
    if how == "instance":
        canvas.session.set_instance_hidden(1, True)
    elif how == "class":
        canvas.session.set_category_hidden(1, True)
    else:
        canvas.session.set_all_hidden(True)
    assert close_to(viewport_pixel(canvas, 25, 25), IMAGE_RGB)
    canvas.session.set_all_hidden(False)
    canvas.session.set_instance_hidden(1, False)
    canvas.session.set_category_hidden(1, False)
    assert close_to(viewport_pixel(canvas, 25, 25), blend((255, 0, 0), IMAGE_RGB, 0.5))


def test_bring_to_front_changes_the_pixel_and_the_dataset(canvas):
    dataset = canvas.session.dataset
    operations.bring_to_front(dataset, [dataset.instances[1]]).apply(dataset)
    assert dataset.instances[1].z > dataset.instances[2].z
    expected = blend((255, 0, 0), blend((0, 255, 0), IMAGE_RGB, 0.5), 0.5)
    assert close_to(viewport_pixel(canvas, 50, 50), expected)
    operations.send_to_back(dataset, [dataset.instances[1]]).apply(dataset)
    expected = blend((0, 255, 0), blend((255, 0, 0), IMAGE_RGB, 0.5), 0.5)
    assert close_to(viewport_pixel(canvas, 50, 50), expected)


def test_a_hole_shows_the_image(canvas):
    assert close_to(viewport_pixel(canvas, 160, 100), IMAGE_RGB)
    assert close_to(viewport_pixel(canvas, 135, 100), blend((255, 255, 0), IMAGE_RGB, 0.5))


def test_dataset_changes_reach_the_canvas(canvas):
    dataset = canvas.session.dataset
    moved = dataset.instances[2].with_changes(geometry=square(150, 10, 170, 30))
    dataset.put_instances([moved])
    assert close_to(viewport_pixel(canvas, 160, 20), blend((0, 255, 0), IMAGE_RGB, 0.5))
    dataset.drop_instances([1])
    assert close_to(viewport_pixel(canvas, 25, 25), IMAGE_RGB)
    dataset.put_instances([Instance(9, 1, 1, square(0, 120, 20, 140), z=5)])
    assert close_to(viewport_pixel(canvas, 10, 130), blend((255, 0, 0), IMAGE_RGB, 0.5))


def test_after_a_wheel_zoom_the_hover_is_what_lies_under_the_pointer(canvas):
    """While the image is smaller than the view it stays centred, so a zoom moves it under a still
    pointer: the hover follows without the mouse moving."""
    pointer = canvas.mapFromScene(50.5, 50.5)
    QTest.mouseMove(canvas.viewport(), pointer)
    assert canvas.hovered_id == 2
    seen = set()
    for _ in range(3):
        QApplication.sendEvent(canvas.viewport(), QWheelEvent(
            QPointF(pointer), QPointF(canvas.viewport().mapToGlobal(pointer)), QPoint(), QPoint(0, 120),
            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
        ))  # fmt: skip
        assert canvas.hovered_id == canvas.instance_at(canvas.mapToScene(pointer))
        seen.add(canvas.hovered_id)
    assert 1 in seen  # the large square came under the pointer


def test_hover_and_selection_find_the_front_instance(canvas, qtbot):
    assert canvas.instance_at(canvas.mapToScene(canvas.mapFromScene(50.5, 50.5))) == 2
    assert canvas.instance_at(canvas.mapToScene(canvas.mapFromScene(160.5, 100.5))) is None
    canvas.session.select(3)
    assert canvas.session.selected_id == 3 and canvas.selected_item.instance.id == 3
