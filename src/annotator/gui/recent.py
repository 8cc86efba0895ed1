"""File ▸ Open recent: an entry may have changed on disk since it was opened, and opening what is there
now could write a project somewhere the person never chose."""

from __future__ import annotations

import os
from pathlib import Path

# Entries that name a file the tool opened (a project, a COCO or LabelMe file); the rest are image folders.
FILE_SUFFIXES = (".annotator", ".json")


def recent_entry_problem(entry: str) -> tuple[str, bool] | None:
    """Why `entry` cannot be opened as it was (the reason, and whether to take it off the menu), or None.
    Entries are stored resolved, so one that resolves elsewhere now was replaced by a link (or lies
    under one): following it would open, and write a project into, a folder the person never opened."""
    path = Path(entry)
    if not os.path.lexists(path):
        return "no longer exists (taken off File ▸ Open recent)", True
    resolved = path.resolve()
    if resolved != path:
        return (
            f"is a symbolic link now, or lies under one (to {resolved}); "
            "open the place it leads to yourself if that is meant",
            False,
        )
    if path.suffix.lower() in FILE_SUFFIXES and path.is_dir():
        return "is a folder now, not the file that was opened before", False
    return None
