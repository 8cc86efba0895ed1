"""Started with no path, the app opens what was open last, at the image last viewed; the bundled samples
open only on the very first start."""

from __future__ import annotations

import shutil

import numpy as np
from PIL import Image as PilImage
from PySide6.QtCore import QSettings

from annotator.app import build_window
from annotator.io.samples import samples_project_path


def start(qtbot, settings: QSettings):
    window = build_window(None, settings=settings)
    qtbot.addWidget(window)
    return window


def test_no_path_reopens_the_last_project_at_the_last_image(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    first = start(qtbot, settings)  # the very first start: the samples
    assert first.document is not None and first.document.path == samples_project_path()
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(3):
        PilImage.fromarray(np.full((30, 40, 3), index * 60, np.uint8)).save(folder / f"img{index}.png")
    assert first.open_path(folder)
    first.step_image(1)
    first.step_image(1)
    assert first.session.image.file_name == "img2.png"
    first.close()

    second = start(qtbot, settings)
    assert second.document is not None and second.document.root == folder.resolve()
    assert second.session.image.file_name == "img2.png"
    second.close()

    shutil.rmtree(folder)  # the last project is gone: an empty window that says so, not the samples
    third = start(qtbot, settings)
    assert third.document is None
    assert "cannot be opened" in third.statusBar().currentMessage()
    third.close()


def test_the_samples_reopen_if_they_were_the_last_project(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    first = start(qtbot, settings)
    first.step_image(1)
    name = first.session.image.file_name
    first.close()
    second = start(qtbot, settings)
    assert second.document.path == samples_project_path() and second.session.image.file_name == name
    second.close()
