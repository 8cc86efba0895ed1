"""File ▸ Open recent on an entry that changed on disk since: deleted, replaced by another SQLite file, an
empty file, a folder or a link to outside. One dialog names the entry and the problem, nothing is written
in the dataset or outside it, and an entry that is gone is taken off the menu (the others stay: the person
may put the file back)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from PIL import Image as PilImage
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from annotator.app import build_window
from annotator.io.project import FOLDER_PROJECT_NAME


def _other_sqlite(project: Path, outside: Path) -> None:
    project.unlink()
    with sqlite3.connect(project) as conn:
        conn.execute("CREATE TABLE notes (text)")
    conn.close()


def _link_outside(project: Path, outside: Path) -> None:
    shutil.copy(project, outside / "elsewhere.annotator")
    project.unlink()
    project.symlink_to(outside / "elsewhere.annotator")


def _folder_linked_outside(project: Path, outside: Path) -> None:
    shutil.rmtree(project.parent)
    project.parent.symlink_to(outside)


REPLACEMENTS = {
    "deleted": lambda project, outside: project.unlink(),
    "folder deleted": lambda project, outside: shutil.rmtree(project.parent),
    "another SQLite file": _other_sqlite,
    "0-byte file": lambda project, outside: project.write_bytes(b""),
    "a folder": lambda project, outside: (project.unlink(), project.mkdir()),
    "a link to outside": _link_outside,
    "its folder a link to outside": _folder_linked_outside,
}
GONE = {"deleted", "folder deleted"}


def _files(*folders: Path) -> dict[str, bytes]:
    """Every file under `folders` (not following links) with its bytes: what must stay as it was."""
    found = {}
    for folder in folders:
        if folder.is_dir() and not folder.is_symlink():
            found |= {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    return found


@pytest.mark.parametrize("replacement", REPLACEMENTS)
def test_a_changed_recent_project_gets_one_dialog_and_nothing_is_written(
    qtbot, tmp_path, monkeypatch, replacement
):
    messages: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: messages.append(args[2]))
    data, outside = tmp_path / "data", tmp_path / "outside"
    data.mkdir(), outside.mkdir()
    PilImage.new("RGB", (10, 8)).save(data / "a.png")
    PilImage.new("RGB", (10, 8)).save(outside / "b.png")
    window = build_window(None, settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    project = data / FOLDER_PROJECT_NAME
    assert window.open_path(data)  # makes the project, then opened as a file unless the folder is the case
    if replacement != "its folder a link to outside":
        assert window.set_document(None) and window.open_path(project)
    entry = window.recent_files()[0]
    window.set_document(None)
    REPLACEMENTS[replacement](project, outside)
    before = _files(data, outside)
    action = next(a for a in window.recent_menu.actions() if a.text() == entry)
    action.trigger()
    assert window.document is None
    assert len(messages) == 1 and messages[0].startswith(entry + ": "), messages
    assert _files(data, outside) == before
    assert (entry in window.recent_files()) == (replacement not in GONE)
    assert [a.text() for a in window.recent_menu.actions()] == window.recent_files()
    window.close()
