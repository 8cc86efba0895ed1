"""A project file that refuses writes (full disk) is shown in the window, retried, and never loses edits."""

from __future__ import annotations

import resource
import signal

import numpy as np
from PIL import Image as PilImage

from annotator.app import build_window
from annotator.core import edits
from annotator.core.geometry import Polygons
from annotator.core.model import Category, Instance
from annotator.io.project import open_project


def test_full_disk_warning_retry_and_nothing_lost(qtbot, tmp_path):
    PilImage.new("RGB", (40, 30)).save(tmp_path / "a.png")
    window = build_window(tmp_path)
    qtbot.addWidget(window)
    project = window.document
    project.dataset.put_categories([Category(1, "thing")])
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    files = [project.path, project.path.with_name(project.path.name + "-wal")]
    resource.setrlimit(
        resource.RLIMIT_FSIZE, (max(f.stat().st_size for f in files if f.exists()), old_limit[1])
    )
    try:
        ring = np.random.default_rng(1).uniform(0, 30, (20000, 2))
        edits.AddInstances((Instance(1, 1, 1, Polygons((ring,))),)).apply(project.dataset)
        assert not window.save_error_label.isHidden()
        assert "Not saved" in window.save_error_label.text()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    window._retry_save()  # what the window's timer does every few seconds
    assert window.save_error_label.isHidden()
    window.close()
    with open_project(tmp_path) as reopened:
        assert 1 in reopened.dataset.instances


def test_a_refused_close_keeps_every_part_on_the_project_shown(qtbot, tmp_path, monkeypatch):
    """Opening B while A cannot close (its changes cannot be saved, as on the full disk above) keeps the
    window, the editor, the undo history and everything else on A; the next drawing lands in A and is
    saved."""
    from edit_helpers import drag

    from annotator.gui.tools.base import ToolKind
    from annotator.io.errors import DatasetError

    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    for folder in (folder_a, folder_b):
        folder.mkdir()
        PilImage.new("RGB", (40, 30)).save(folder / "x.png")
    open_project(folder_b).close()  # B exists already, as after an earlier session
    window = build_window(folder_a)
    qtbot.addWidget(window)
    window.resize(900, 700)
    window.show()
    project_a = window.document
    project_a.dataset.put_categories([Category(1, "thing")])
    warnings = []
    monkeypatch.setattr(
        "annotator.gui.main_window.QMessageBox.warning", lambda *args: warnings.append(args[2])
    )

    def refuse() -> None:
        raise DatasetError(project_a.path, "1 change could not be saved: database or disk is full")

    monkeypatch.setattr(project_a, "close", refuse)
    assert not window.open_path(folder_b)
    monkeypatch.undo()
    assert warnings and "could not be saved" in warnings[0]
    assert window.document is project_a and window.session.dataset is project_a.dataset
    assert window.windowTitle().startswith(project_a.path.name)
    assert window.editor.dataset is project_a.dataset
    assert window.editor.history.dataset is project_a.dataset
    assert window.prelabelling.controller.document is project_a
    assert window.review.tally.dataset is project_a.dataset
    assert window.evaluation.controller.dataset is project_a.dataset
    with open_project(folder_b):  # B was let go: nothing of this window holds it
        pass
    window.editor.set_tool(ToolKind.RECTANGLE)
    window.canvas.set_zoom(10)
    window.canvas.centerOn(20, 15)
    drag(window.canvas, [(5, 5), (15, 12)])
    assert len(project_a.dataset.instances) == 1
    added = next(iter(project_a.dataset.instances))
    window.close()
    with open_project(folder_a) as reopened:
        assert added in reopened.dataset.instances


def test_a_full_disk_keeps_the_person_on_the_project_until_the_edits_are_saved(qtbot, tmp_path, monkeypatch):
    """A full disk may clear: closing says so and stays (no discard offered, unlike a replaced file);
    once the disk accepts again, closing saves every edit."""
    PilImage.new("RGB", (40, 30)).save(tmp_path / "a.png")
    window = build_window(tmp_path)
    qtbot.addWidget(window)
    project = window.document
    project.dataset.put_categories([Category(1, "thing")])
    warnings = []
    monkeypatch.setattr(
        "annotator.gui.project_dialogs.QMessageBox.warning", lambda *args: warnings.append(args[2])
    )
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    files = [project.path, project.path.with_name(project.path.name + "-wal")]
    resource.setrlimit(
        resource.RLIMIT_FSIZE, (max(f.stat().st_size for f in files if f.exists()), old_limit[1])
    )
    try:
        ring = np.random.default_rng(2).uniform(0, 30, (20000, 2))
        edits.AddInstances((Instance(1, 1, 1, Polygons((ring,))),)).apply(project.dataset)
        assert not window.set_document(None)
        assert window.document is project and 1 in project.dataset.instances
        assert len(warnings) == 1 and "Free some disk space" in warnings[0]
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert window.set_document(None)
    window.close()
    with open_project(tmp_path) as reopened:
        assert 1 in reopened.dataset.instances
