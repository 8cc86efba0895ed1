"""Which model pre-labels a project: the choice made for it last, kept in its project file.

The model settings live in QSettings, shared by every project. A project that trained rounds of its own
pre-labels with them, not with what another project (or the COCO default, which cannot be downloaded
offline) left in the settings: opened, it brings back the weights chosen for it last, else its best
round. A document without a project file keeps the settings as they are.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from annotator.io.errors import DatasetError

WEIGHTS_KEY = "prelabel_weights"  # the project's setting: the weights file chosen for it ("": COCO's)


def remember_weights(document, weights: str) -> None:
    """Keep `weights` as the project's choice (nothing without a project file, or a read-only one)."""
    store = getattr(document, "store", None)
    if store is not None:
        with contextlib.suppress(DatasetError, sqlite3.Error):
            store.set_meta(WEIGHTS_KEY, weights)


def remembered_weights(document) -> str | None:
    """The weights chosen for the project last, if any and still there ("" for COCO's)."""
    store = getattr(document, "store", None)
    try:
        value = store.meta(WEIGHTS_KEY) if store is not None else None
    except (DatasetError, sqlite3.Error):
        return None
    if value is None or (value and not Path(value).expanduser().is_file()):
        return None
    return value
