"""The window on generated hostile COCO files (tests/hostile_files.py): File ▸ Open either shows the file
or says why in one dialog, never raises out of the slot; a file it refused leaves no project behind, and
one it showed opens the same way the next time (a project that cannot be shown is never left half-made).
Also: the project this window shows, opened again, and a last project that cannot be shown at start."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from PIL import Image as PilImage
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from annotator.app import build_window
from annotator.gui import main_window
from annotator.gui.resume import PROJECT_KEY
from hostile_files import hostile_coco, hostile_labelme, to_text


def _window(folder: Path):
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    return build_window(None, settings=settings)


def _open(qtbot, folder: Path, messages: list[str]) -> bool:
    window = _window(folder)
    qtbot.addWidget(window)
    opened = window.open_path(folder / "data.json")
    if opened:
        assert window.document.path == folder / "data.annotator"
        assert not messages
        for image_id in list(window.document.dataset.images)[:3]:  # each shown as a click in the list does
            window.images_dock.image_activated.emit(image_id)
            qtbot.waitUntil(lambda i=image_id: window.session.image.id == i)
            window.loader.wait()
    else:
        assert window.document is None or window.document.path != folder / "data.annotator"
        assert len(messages) == 1 and "data.json" in messages[0], messages
    window.close()
    return opened


def _hostile_folder(monkeypatch, data) -> tuple[Path, list[str]]:
    """A fresh folder with one image and `data` as data.json; the warning dialogs' texts are collected."""
    messages: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: messages.append(args[2]))
    folder = Path(tempfile.mkdtemp())
    PilImage.new("RGB", (40, 30)).save(folder / "a.png")
    (folder / "data.json").write_text(to_text(data))
    return folder, messages


@pytest.mark.slow
@pytest.mark.filterwarnings("error::RuntimeWarning")  # libshiboken's "Overflow" when an id outgrows a C++ int
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(data=hostile_coco())
def test_open_shows_or_refuses_with_one_dialog_and_again_the_same_way(qtbot, monkeypatch, data):
    folder, messages = _hostile_folder(monkeypatch, data)
    first = _open(qtbot, folder, messages)
    if not first:
        assert not (folder / "data.annotator").exists()  # refused: nothing half-made left behind
    messages.clear()
    assert _open(qtbot, folder, messages) == first


def test_opening_the_project_shown_again_is_no_error(qtbot, tmp_path, monkeypatch):
    """It used to say "already open in another annotator window": the other window was this one."""
    messages: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: messages.append(args[2]))
    PilImage.new("RGB", (40, 30)).save(tmp_path / "a.png")
    (tmp_path / "data.json").write_text(to_text({"images": [], "annotations": [], "categories": []}))
    window = _window(tmp_path)
    qtbot.addWidget(window)
    assert window.open_path(tmp_path / "data.json")
    shown = window.document
    assert window.open_path(tmp_path / "data.json") and window.open_path(shown.path)
    assert window.document is shown and not messages
    assert "open already" in window.statusBar().currentMessage()
    window.close()


def test_a_last_project_that_cannot_be_shown_never_stops_the_app_starting(qtbot, tmp_path, monkeypatch):
    """Starting with no path reopens the last project; if showing it fails, the window starts empty with
    a message, and the project is closed (its lock released), not left half-set."""
    PilImage.new("RGB", (40, 30)).save(tmp_path / "a.png")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue(PROJECT_KEY, str(tmp_path))

    def fail(*_args):
        raise ValueError("a widget could not show it")

    monkeypatch.setattr(main_window.ImageListDock, "neighbour", fail)  # the fault: showing fails midway
    window = build_window(None, settings=settings)
    qtbot.addWidget(window)
    assert window.document is None
    assert "The last project cannot be opened" in window.statusBar().currentMessage()
    monkeypatch.undo()
    assert window.open_path(tmp_path)  # nothing holds it: it opens now
    window.close()


def test_a_folder_with_file_names_that_are_not_utf8_opens_and_names_them(qtbot, tmp_path, monkeypatch):
    messages: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: messages.append(args[2]))
    folder = tmp_path / "data"
    folder.mkdir()
    PilImage.new("RGB", (40, 30)).save(folder / "a.png")
    raw = os.fsencode(folder)
    PilImage.new("RGB", (40, 30)).save(raw + b"/b\xff\xfe.png")
    os.mkdir(raw + b"/sub\xff")
    PilImage.new("RGB", (40, 30)).save(raw + b"/sub\xff/c.png")
    for _ in range(2):  # and the same again from the project it made
        window = _window(tmp_path)
        qtbot.addWidget(window)
        assert window.open_path(folder) and not messages
        assert [i.file_name for i in window.document.dataset.images.values()] == ["a.png"]
        assert window.session.image is not None and window.session.image.file_name == "a.png"
        named = [p for p in window.document.problems if "not valid UTF-8" in p]
        assert len(named) == 2 and any("sub" in p for p in named)
        assert all(p.encode("utf-8") for p in window.document.problems)  # printable, storable text
        window.close()


@pytest.mark.slow
@pytest.mark.filterwarnings("error::RuntimeWarning")
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(data=hostile_labelme())
def test_a_hostile_labelme_file_is_shown_or_refused_with_one_dialog(qtbot, monkeypatch, data):
    """The same for a LabelMe file opened by itself: never an exception out of the slot."""
    folder, messages = _hostile_folder(monkeypatch, data)
    window = _window(folder)
    qtbot.addWidget(window)
    if window.open_path(folder / "data.json"):
        assert not messages
        for image_id in list(window.document.dataset.images)[:3]:
            window.images_dock.image_activated.emit(image_id)
            qtbot.waitUntil(lambda i=image_id: window.session.image.id == i)
            window.loader.wait()
    else:
        assert len(messages) == 1 and "data.json" in messages[0], messages
    window.close()
