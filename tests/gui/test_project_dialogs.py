"""The window when the project file goes away under it, when a file cannot be shown, and when the COCO
file a project was made from has changed: a dialog each time, never a traceback, never lost edits."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image as PilImage
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from annotator.app import build_window
from annotator.core import edits
from annotator.core.geometry import Polygons
from annotator.core.model import Category, Instance
from annotator.gui import project_dialogs
from annotator.io.errors import ProjectFileChangedError
from annotator.io.project import open_project


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _add(window, instance_id: int) -> None:
    ring = np.array([[1.0, 1.0], [9.0, 1.0], [9.0, 7.0]])
    edits.AddInstances((Instance(instance_id, 1, 1, Polygons((ring,))),)).apply(window.document.dataset)


def _boxes(window) -> list[QMessageBox]:
    return [w for w in window.findChildren(QMessageBox) if w.isVisible()]


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    PilImage.new("RGB", (30, 20)).save(folder / "a.png")
    return folder


def test_a_replaced_project_is_reported_and_the_edits_saved_as_a_new_project(
    qtbot, folder, settings, tmp_path
):
    window = build_window(folder, settings=settings)
    qtbot.addWidget(window)
    window.document.dataset.put_categories([Category(1, "thing")])
    _add(window, 1)
    path = window.document.path
    (folder / "restored").write_bytes(path.read_bytes())
    os.replace(folder / "restored", path)  # a restore puts a copy in its place
    before = path.read_bytes()
    _add(window, 2)
    assert "changed by another program" in window.save_error_label.text()
    qtbot.waitUntil(lambda: bool(_boxes(window)))
    box = _boxes(window)[0]
    assert project_dialogs.SAVE_AS_TEXT in [b.text() for b in box.buttons()]
    box.close()
    window.save_status.save()  # Ctrl+S: retrying cannot help here, and it does not pretend to
    assert "Save as new project" in window.statusBar().currentMessage()
    assert "retrying" not in window.save_status.label.toolTip()
    target = tmp_path / "rescued.annotator"
    assert project_dialogs.save_as_new_project(window, target)
    assert window.document.path == target
    assert set(window.document.dataset.instances) == {1, 2}
    assert window.save_error_label.isHidden()
    _add(window, 3)  # saved in the new project from now on
    window.close()
    assert path.read_bytes() == before  # the restored copy was not written to
    with open_project(target) as rescued:
        assert set(rescued.dataset.instances) == {1, 2, 3}


def test_closing_with_edits_that_cannot_be_saved_can_discard_them(qtbot, folder, settings):
    window = build_window(folder, settings=settings)
    qtbot.addWidget(window)
    window.document.dataset.put_categories([Category(1, "thing")])
    window.document.path.unlink()  # the project file was deleted
    _add(window, 1)
    assert isinstance(window.document.store.save_error, ProjectFileChangedError)
    for box in _boxes(window):
        box.close()

    def click_discard() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click_discard)
            return
        box.button = next(b for b in box.buttons() if b.text() == "Discard edits")
        box.button.click()

    QTimer.singleShot(0, click_discard)
    assert window.set_document(None)
    assert window.document is None


HOSTILE_FILES = {
    "not JSON": "{",
    "ids past 64 bits": {"images": [{"id": 2**63, "file_name": "a.png", "width": 30, "height": 20}],
                         "annotations": [], "categories": []},
    "absurd colour": {"images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}], "annotations": [],
                      "categories": [{"id": 1, "name": "c", "annotator": {"color": [1e30, -5, 3]}}]},
    "lone surrogate": '{"images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}],'
                      ' "annotations": [], "categories": [{"id": 1, "name": "c\\ud800"}]}',
    "deep extra": '{"images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20, "x": '
                  + "[" * 300 + "]" * 300 + '}], "annotations": [], "categories": []}',
}  # fmt: skip


@pytest.mark.parametrize("case", HOSTILE_FILES)
def test_open_never_raises_out_of_the_slot(qtbot, folder, settings, monkeypatch, case):
    content = HOSTILE_FILES[case]
    path = folder / "data.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    messages = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: messages.append(args[2]))
    window = build_window(None, settings=settings)
    qtbot.addWidget(window)
    opened = window.open_path(path)
    if opened:  # then it is shown, and opens the same way next time
        assert window.document.path == folder / "data.annotator"
        assert window.set_document(None)
        assert window.open_path(path) and not messages
    else:
        assert len(messages) == 1 and "data.json" in messages[0]
    window.close()


def test_an_image_linked_outside_the_folder_is_not_read_and_the_window_carries_on(
    qtbot, folder, settings, tmp_path
):
    outside = tmp_path / "outside.png"
    PilImage.new("RGB", (30, 20), "red").save(outside)
    (folder / "b.png").symlink_to(outside)
    window = build_window(folder, settings=settings)
    qtbot.addWidget(window)
    assert [i.file_name for i in window.document.dataset.images.values()] == ["a.png"]
    assert any("outside" in p for p in window.document.problems)
    window.close()


def test_a_changed_coco_file_is_said_and_can_be_reimported(qtbot, folder, settings):
    path = folder / "data.json"
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}], "annotations": [],
            "categories": [{"id": 1, "name": "old"}]}  # fmt: skip
    path.write_text(json.dumps(coco))
    open_project(path).close()
    coco["categories"][0]["name"] = "new"
    path.write_text(json.dumps(coco))
    os.utime(path, ns=(1, 1))
    window = build_window(path, settings=settings)
    qtbot.addWidget(window)
    assert window.document.dataset.categories[1].name == "old"
    qtbot.waitUntil(lambda: bool(_boxes(window)))
    box = _boxes(window)[0]
    assert "data.json has changed" in box.text() and "not in it" in box.informativeText()
    assert box.defaultButton().text() == box.escapeButton().text() == "Keep the project"  # Enter keeps
    next(b for b in box.buttons() if b.text() == "Re-import").click()
    qtbot.waitUntil(lambda: window.document.dataset.categories[1].name == "new")
    assert (folder / "data.before-reimport-1.annotator").is_file()
    # where the edits went is said (the helper found the backup by listing the folder)
    assert "kept as data.before-reimport-1.annotator" in window.statusBar().currentMessage()
    window.close()


def test_a_project_another_window_holds_is_refused_with_a_dialog(qtbot, folder, settings, monkeypatch):
    messages = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: messages.append(args[2]))
    window = build_window(None, settings=settings)
    qtbot.addWidget(window)
    with open_project(folder):  # the other window
        assert not window.open_path(folder)
    assert len(messages) == 1 and "already open in another annotator window" in messages[0]
    assert window.open_path(folder)  # once the other one closed it
    window.close()
