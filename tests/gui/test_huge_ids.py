"""Ids up to 2^63 - 1 (what `info` and `convert` accept) in the real window: File ▸ Open shows the file,
every image opens from the image list, a class can be renamed from the Classes dock and added, a shape
drawn, each undone; the project saves them. Qt's `Signal(int)` holds 32 bits: an id past 2^31 sent
through one arrived as 0 or -1 with an OverflowError set, and the image never showed."""

from __future__ import annotations

import json

import pytest
from PIL import Image as PilImage
from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox
from window_helpers import shown_main_window

from annotator.core.model import ID_MAX
from annotator.io.project import read_project

IMAGE_IDS = [2**31, 2**40, ID_MAX]


def _coco(folder) -> None:
    for n in range(len(IMAGE_IDS)):
        PilImage.new("RGB", (40, 30), (n * 60, 90, 160)).save(folder / f"{n}.png")
    images = [{"id": i, "file_name": f"{n}.png", "width": 40, "height": 30} for n, i in enumerate(IMAGE_IDS)]
    annotations = [
        {"id": ID_MAX - n, "image_id": i, "category_id": 2**62 if n else ID_MAX, "area": 171.0,
         "segmentation": [[1, 1, 20, 1, 20, 20]], "bbox": [1, 1, 19, 19], "iscrowd": 0,
         "annotator": {"z": ID_MAX}}  # a stacking order past 2^53: larger regions behind instead
        for n, i in enumerate(IMAGE_IDS)
    ]  # fmt: skip
    categories = [{"id": ID_MAX, "name": "top"}, {"id": 2**62, "name": "big"}]
    data = {"images": images, "annotations": annotations, "categories": categories}
    (folder / "data.json").write_text(json.dumps(data))


@pytest.mark.filterwarnings("error::RuntimeWarning")  # libshiboken's "Overflow" warning
def test_a_coco_file_with_ids_up_to_2_63_opens_and_edits_in_the_window(qtbot, tmp_path, monkeypatch):
    messages: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: messages.append(args[2]))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "data.json"), ""))
    _coco(tmp_path)
    window = shown_main_window(qtbot, tmp_path)
    next(a for a in window.menuBar().actions()[0].menu().actions() if "&file" in a.text()).trigger()
    assert not messages and window.document is not None
    dataset = window.document.dataset
    assert sorted(dataset.images) == IMAGE_IDS

    view, proxy, shown = window.images_dock.view, window.images_dock.proxy, set()
    for row in range(proxy.rowCount()):
        view.selectionModel().setCurrentIndex(
            proxy.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        wanted = window.images_dock.model.image_id(proxy.mapToSource(proxy.index(row, 0)).row())
        qtbot.waitUntil(lambda w=wanted: window.session.image.id == w and window.canvas.has_pixels)
        shown.add(wanted)
    assert shown == set(IMAGE_IDS)

    dock = window.classes_dock
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("renamed", True))
    dock.list.itemDoubleClicked.emit(dock.row_of(2**62))  # as a double click on the row
    assert dataset.categories[2**62].name == "renamed"
    assert window.editing.class_manager.add("fresh") == 1  # past 2^63 - 1: the smallest free id
    window.editor.history.stack.undo()
    assert 1 not in dataset.categories
    window.editor.history.stack.redo()
    assert not messages
    window.close()

    saved = read_project(tmp_path / "data.annotator")
    try:
        assert (
            saved.dataset.categories[2**62].name == "renamed" and saved.dataset.categories[1].name == "fresh"
        )
        assert all(abs(i.z) < 2**53 for i in saved.dataset.instances.values())
    finally:
        saved.close()
