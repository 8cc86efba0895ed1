"""Opening again the folder this window has open refreshes it: images added meanwhile appear (it used
to be refused as "open in another window", by this very window)."""

from __future__ import annotations

import numpy as np
from PIL import Image as PilImage
from PySide6.QtWidgets import QMessageBox
from window_helpers import shown_main_window


def test_reopening_the_open_folder_adds_the_new_images(qtbot, tmp_path, monkeypatch):
    messages: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: messages.append(args[2]))
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(2):
        PilImage.fromarray(np.full((30, 40, 3), index * 50, np.uint8)).save(folder / f"img{index}.png")
    window = shown_main_window(qtbot, tmp_path)
    assert window.open_path(folder)
    document = window.document
    window.step_image(1)
    shown = window.session.image_id
    PilImage.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(folder / "img2.png")

    assert window.open_path(folder)
    assert messages == [] and window.document is document  # the same project, not refused, not reopened
    assert window.images_dock.proxy.rowCount() == 3
    names = sorted(image.file_name for image in document.dataset.images.values())
    assert names == ["img0.png", "img1.png", "img2.png"]
    assert window.session.image_id == shown and window.images_dock.view.currentIndex().isValid()
    assert "1 new image" in window.statusBar().currentMessage()
    window.step_image(1)
    assert document.dataset.images[window.session.image_id].file_name == "img2.png"
    assert window.open_path(str(folder) + "/")  # the same folder written another way: nothing new
    assert "No new images" in window.statusBar().currentMessage()
    window.close()
