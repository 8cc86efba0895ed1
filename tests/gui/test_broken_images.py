"""An image file that cannot be decoded: the canvas says why instead of "Loading…" forever, the image
list marks it, and the mark is kept with the project (so it survives reopening) until it decodes."""

from __future__ import annotations

import numpy as np
from PIL import Image as PilImage
from PySide6.QtCore import Qt
from window_helpers import shown_main_window

from annotator.core.rules import unreadable_reason
from annotator.io.project import open_project


def folder_with_a_broken_image(folder):
    folder.mkdir()
    PilImage.fromarray(np.full((60, 80, 3), 90, np.uint8)).save(folder / "a_good.png")
    PilImage.fromarray(np.full((60, 80, 3), 30, np.uint8)).save(folder / "b_broken.png")
    whole = (folder / "b_broken.png").read_bytes()
    (folder / "b_broken.png").write_bytes(whole[: len(whole) // 2])  # the header reads, the pixels do not
    return folder


def row_of(window, file_name: str) -> int:
    model = window.images_dock.model
    return next(r for r in range(model.rowCount()) if model.data(model.index(r, 0)) == file_name)


def test_a_broken_image_shows_why_and_is_marked_in_the_list_after_reopening(qtbot, tmp_path):
    folder = folder_with_a_broken_image(tmp_path / "photos")
    window = shown_main_window(qtbot, tmp_path)
    assert window.open_path(folder)
    dataset = window.document.dataset
    broken = next(i for i, image in dataset.images.items() if image.file_name == "b_broken.png")
    with qtbot.waitSignal(window.loader.failed, timeout=10000):
        window.show_image(broken)
    canvas = window.canvas
    assert canvas.failure is not None and "b_broken.png" in canvas.failure and not canvas.has_pixels
    model = window.images_dock.model
    row = row_of(window, "b_broken.png")
    assert model.data(model.index(row, 1)) == "unreadable"
    assert model.data(model.index(row, 0), Qt.ItemDataRole.DecorationRole) is not None
    assert "Cannot be decoded" in model.data(model.index(row, 0), Qt.ItemDataRole.ToolTipRole)
    good_row = row_of(window, "a_good.png")
    assert model.data(model.index(good_row, 0), Qt.ItemDataRole.DecorationRole) is None
    project_path = window.document.path
    window.close()

    with open_project(project_path) as project:  # the mark is saved with the project
        reasons = {image.file_name: unreadable_reason(image) for image in project.dataset.images.values()}
    assert reasons["a_good.png"] is None and "b_broken.png" in reasons["b_broken.png"]

    again = shown_main_window(qtbot, tmp_path)
    assert again.open_path(folder)
    model = again.images_dock.model
    assert model.data(model.index(row_of(again, "b_broken.png"), 1)) == "unreadable"
    again.close()


def test_a_file_that_decodes_again_loses_its_mark(qtbot, tmp_path):
    folder = folder_with_a_broken_image(tmp_path / "photos")
    window = shown_main_window(qtbot, tmp_path)
    assert window.open_path(folder)
    dataset = window.document.dataset
    broken = next(i for i, image in dataset.images.items() if image.file_name == "b_broken.png")
    with qtbot.waitSignal(window.loader.failed, timeout=10000):
        window.show_image(broken)
    assert unreadable_reason(dataset.images[broken]) is not None
    PilImage.fromarray(np.full((60, 80, 3), 30, np.uint8)).save(folder / "b_broken.png")  # fixed
    window.step_image(-1)
    with qtbot.waitSignal(window.loader.loaded, timeout=10000):
        window.step_image(1)
    assert unreadable_reason(dataset.images[broken]) is None
    window.close()
