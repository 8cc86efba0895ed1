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
