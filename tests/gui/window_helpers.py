"""The real main window as the GUI tests open it: shown, at a user's size, with settings of its own."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from annotator.gui.main_window import MainWindow


def shown_main_window(qtbot, tmp_path, *, width: int = 1200, height: int = 800) -> MainWindow:
    """A MainWindow with an ini file in `tmp_path` (never the user's settings), shown and exposed."""
    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(width, height)
    win.show()
    qtbot.waitExposed(win)
    return win
