"""The saved indicator in the status bar follows the project store, and Ctrl+S says what it did."""

from __future__ import annotations

import resource
import signal

import numpy as np
from PIL import Image as PilImage
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from window_helpers import shown_main_window

from annotator.core import edits
from annotator.core.geometry import Polygons
from annotator.core.model import Category, Instance
from annotator.gui.save_status import SaveState


def ctrl_s(qtbot, window) -> None:
    window.activateWindow()  # a shortcut reaches the active window only
    qtbot.waitUntil(window.isActiveWindow)
    QTest.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)


def test_indicator_and_ctrl_s_follow_the_store_through_a_full_disk(qtbot, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    PilImage.new("RGB", (40, 30)).save(folder / "a.png")
    window = shown_main_window(qtbot, tmp_path)
    indicator = window.save_status.label
    assert indicator.text() == ""  # nothing open
    assert window.open_path(folder)
    project = window.document
    assert indicator.text() == SaveState.SAVED.value and indicator.isVisible()
    assert "project.annotator" in indicator.toolTip()
    ctrl_s(qtbot, window)
    assert window.statusBar().currentMessage() == "All changes are saved in project.annotator"

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
        qtbot.waitUntil(lambda: indicator.text() == SaveState.NOT_SAVED.value)
        ctrl_s(qtbot, window)
        assert window.statusBar().currentMessage().startswith("Not saved:")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    ctrl_s(qtbot, window)  # the disk takes writes again: Ctrl+S writes what was pending
    assert window.statusBar().currentMessage() == "All changes are saved in project.annotator"
    assert indicator.text() == SaveState.SAVED.value and project.store.pending == 0
    window.close()


def test_a_dataset_in_memory_says_it_is_not_kept(qtbot, tmp_path):
    from canvas_helpers import sample_dataset

    from annotator.gui.document import MemoryDocument

    window = shown_main_window(qtbot, tmp_path)
    window.set_document(MemoryDocument(sample_dataset(), tmp_path, tmp_path / "x"))
    assert window.save_status.label.text() == SaveState.NOT_KEPT.value
    ctrl_s(qtbot, window)
    assert "File ▸ Export" in window.statusBar().currentMessage()
