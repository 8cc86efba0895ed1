"""The test suite never touches the person's real settings, recent files or data folder (conftest's
`_private_home`): a window made as the app makes it, with default settings, writes only under the
test's own home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image as PilImage
from PySide6.QtCore import QSettings

from annotator.app import build_window
from annotator.gui.main_window import MainWindow
from conftest import REAL_HOME


def _real_recent() -> list[str]:
    """The recent files in the person's real settings file (read directly, as a plain ini file)."""
    real = REAL_HOME / ".config" / "annotator" / "annotator.conf"
    value = QSettings(str(real), QSettings.Format.IniFormat).value("recent", [])
    return [value] if isinstance(value, str) else list(value or [])


def test_a_window_with_default_settings_writes_nowhere_under_the_real_home(qtbot, tmp_path):
    folder = tmp_path / "photos-of-this-test"
    folder.mkdir()
    PilImage.new("RGB", (40, 30)).save(folder / "a.png")
    assert not Path(os.environ["HOME"]).is_relative_to(REAL_HOME)

    window = MainWindow()  # the user's settings, as a person's window has them
    qtbot.addWidget(window)
    assert window.open_path(folder)
    window.close()
    settings_file = Path(window.settings.fileName())
    assert settings_file.is_file() and not settings_file.is_relative_to(REAL_HOME)
    assert str(folder.resolve()) in window.recent_files()
    assert str(folder.resolve()) not in _real_recent()

    samples = build_window(None)  # the samples project lives in the data folder
    qtbot.addWidget(samples)
    if samples.document is not None:
        assert not samples.document.path.is_relative_to(REAL_HOME)
    samples.close()


@pytest.fixture(scope="module")
def module_home() -> tuple[Path, Path]:
    """HOME and the cache folder as a module-scoped fixture sees them (a Ray instance, a converted
    OpenVINO graph are made in such fixtures)."""
    home = Path(os.environ["HOME"])
    return home, Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")


def test_module_scoped_fixtures_get_a_private_home_too(module_home):
    home, cache = module_home
    assert not home.is_relative_to(REAL_HOME) and not cache.is_relative_to(REAL_HOME)
