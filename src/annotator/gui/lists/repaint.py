"""A list refilled or moved on by the program, not by a click in it, repainted whole."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView


def repaint_rows(view: QAbstractItemView) -> None:
    """Ask for a frame of every row of `view`. Qt lays out a refilled view's rows in a zero-time timer,
    or inside the view's next paint when that comes first; the repaint that layout asks for from inside
    a paint is dropped. Seen in a real window: after a switch with an instance selected, only the row
    that had been current was repainted and the last image's rows stayed on screen (clicking one chose
    an instance of the new image); after an undo that went back to another image, two images showed
    as current."""
    view.viewport().update()
