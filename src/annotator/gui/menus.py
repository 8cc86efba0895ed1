"""The window's menus by title: each part of the window adds its actions to the menu it belongs in."""

from __future__ import annotations

from PySide6.QtWidgets import QMenu


def menu_titled(window, title: str) -> QMenu:
    """The menu bar's menu named `title` ("&View"), made at the end of the bar if it has none yet."""
    for action in window.menuBar().actions():
        if action.menu() is not None and action.menu().title() == title:
            return action.menu()
    return window.menuBar().addMenu(title)
