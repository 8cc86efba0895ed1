"""Dismissed audit flags, remembered in the project file (its meta table) so a dismissed suspicion stays
dismissed in the next session and the next `annotator audit`.

The meta table is written at once (not through the dataset's change events) and never exported:
`Dataset.extra` would leak into exported COCO files as a top-level key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import orjson

from annotator.core.audit import DISMISSED_META_KEY
from annotator.io.errors import DatasetError
from annotator.io.project_file import check_sidecars
from annotator.io.store import ProjectStore


def dismissed_keys(store: ProjectStore) -> frozenset[str]:
    """The keys dismissed so far; a damaged entry counts as none."""
    raw = store.meta(DISMISSED_META_KEY)
    return frozenset() if raw is None else _parse(raw)


def _parse(raw: str) -> frozenset[str]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return frozenset()
    return frozenset(k for k in value if isinstance(k, str)) if isinstance(value, list) else frozenset()


def dismiss(store: ProjectStore, keys: Iterable[str]) -> frozenset[str]:
    """Add `keys` to the dismissed ones (written now); returns all of them."""
    keys = dismissed_keys(store) | set(keys)
    store.set_meta(DISMISSED_META_KEY, orjson.dumps(sorted(keys)).decode())
    return keys


def undismiss(store: ProjectStore, keys: Iterable[str]) -> frozenset[str]:
    """Forget `keys` (the person changed their mind); returns the ones left."""
    keys = dismissed_keys(store) - set(keys)
    store.set_meta(DISMISSED_META_KEY, orjson.dumps(sorted(keys)).decode())
    return keys


def dismissed_in_file(path: Path) -> frozenset[str]:
    """The dismissed keys of a project file, read without opening it for writing (the window may hold
    it); none when the file has no such entry or cannot be read."""
    try:
        check_sidecars(path)  # SQLite opens -wal and -shm by name: never through a link
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except (sqlite3.Error, DatasetError):
        return frozenset()
    try:
        row = connection.execute("SELECT value FROM meta WHERE key = ?", (DISMISSED_META_KEY,)).fetchone()
    except sqlite3.Error:
        return frozenset()
    finally:
        connection.close()
    return _parse(row[0]) if row else frozenset()
