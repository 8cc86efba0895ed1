"""A project with tampered rows in the real window: it opens with each bad row in the Problems list (no
dialog, no traceback), every image it kept is shown, and an instance whose class row is gone is drawn
with a stand-in class."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from PIL import Image as PilImage
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from annotator.app import build_window
from annotator.core.geometry import Polygons
from annotator.core.model import Category, Instance
from annotator.io.project import FOLDER_PROJECT_NAME, open_project

TRIANGLE = Polygons((np.array([[1, 1], [8, 1], [8, 7]], dtype=np.float64),))


def _tampered_window(qtbot, tmp_path, monkeypatch, *updates: str):
    """A folder of three images with a project of two classes and two instances, `updates` run on its
    SQLite file, opened in a window; the warnings it showed (none expected)."""
    messages: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: messages.append(args[2]))
    for name in ("a", "b", "c"):
        PilImage.new("RGB", (10, 8)).save(tmp_path / f"{name}.png")
    with open_project(tmp_path) as project:
        project.dataset.put_categories([Category(1, "one"), Category(2, "two")])
        project.dataset.put_instances([Instance(1, 1, 1, TRIANGLE), Instance(2, 2, 2, TRIANGLE)])
    conn = sqlite3.connect(tmp_path / FOLDER_PROJECT_NAME)
    for update in updates:
        conn.execute(update)
    conn.commit()
    conn.close()
    window = build_window(None, settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert window.open_path(tmp_path) and not messages
    return window, messages


def _show_every_image(qtbot, window) -> None:
    for image_id in window.document.dataset.images:
        window.images_dock.image_activated.emit(image_id)
        qtbot.waitUntil(lambda i=image_id: window.session.image.id == i)
        window.loader.wait()


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_a_project_with_tampered_rows_opens_with_each_named(qtbot, tmp_path, monkeypatch):
    window, messages = _tampered_window(
        qtbot,
        tmp_path,
        monkeypatch,
        "UPDATE instances SET category_id = 99 WHERE id = 2",  # its class is gone
        "UPDATE images SET file_name = 'a.png' WHERE id = 3",  # a second row for a.png
        "UPDATE categories SET name = CAST(x'61ff80' AS TEXT) WHERE id = 1",  # not UTF-8
    )
    problems = "\n".join(window.document.problems)
    assert "image 3: damaged row" in problems and "category 1: damaged row" in problems
    assert "class 99: instances point at it" in problems
    dataset = window.document.dataset
    assert dataset.categories[99].name == "99" and dataset.instances[2].category_id == 99
    _show_every_image(qtbot, window)
    assert not messages
    window.close()


TAMPERED_ROWS = {  # the UPDATE, and what the Problems list must say
    "garbage geometry bytes": (
        "UPDATE instances SET geometry = x'00ff13370000' WHERE id = 2",
        "instance 2: damaged row not loaded, kept in table damaged_instances (geometry is damaged",
    ),
    "negative image size": (
        "UPDATE images SET width = -5 WHERE id = 2",
        "image 2: damaged row not loaded, kept in table damaged_images (size -5x8 is not one of an image",
    ),
    "huge class id": (
        "UPDATE categories SET id = 9223372036854775807 WHERE id = 2",
        "class 2: instances point at it",
    ),
    "unknown image status": (
        "UPDATE images SET status = 'bogus' WHERE id = 2",
        "(status 'bogus' is not one of: new, prelabeled, in_review, done)",
    ),
    "unknown review": (
        "UPDATE instances SET review = x'ff' WHERE id = 2",
        "(review \"b'\\\\xff'\" is not one of: unreviewed, accepted, rejected, edited)",
    ),
    "unknown source": (
        "UPDATE instances SET source = 'sorcery' WHERE id = 2",
        "(source 'sorcery' is not one of: manual, model)",
    ),
}


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("tampering", TAMPERED_ROWS)
def test_one_tampered_row_is_named_in_our_words_and_the_rest_is_shown(
    qtbot, tmp_path, monkeypatch, tampering
):
    update, said = TAMPERED_ROWS[tampering]
    window, messages = _tampered_window(qtbot, tmp_path, monkeypatch, update)
    problems = "\n".join(window.document.problems)
    assert said in problems, problems
    dataset = window.document.dataset
    assert 1 in dataset.images and 3 in dataset.images and dataset.instances[1].category_id == 1
    _show_every_image(qtbot, window)
    assert not messages
    window.close()
