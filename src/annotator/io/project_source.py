"""A project made from a COCO file remembers which file it was made from, so that opening the file
again after it changed says so (instead of silently showing the older project) and can re-import it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import orjson

from annotator.io.errors import DatasetError
from annotator.io.store import ProjectStore

SOURCE_KEY = "source"  # meta key: {"name", "size", "mtime_ns", "sha256"} of the imported file


def source_fingerprint(path: Path) -> str:
    info = path.stat()
    return orjson.dumps(
        {"name": path.name, "size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": _sha256(path)}
    ).decode()


def source_changed(store: ProjectStore, path: Path) -> str | None:
    """A sentence for the person when `path` differs from the file the project was made from."""
    try:
        recorded = orjson.loads(store.meta(SOURCE_KEY) or "null")
        info = path.stat()
    except (ValueError, OSError):
        return None  # made before this was recorded, or the file is gone: nothing to compare
    if not isinstance(recorded, dict):
        return None
    if (recorded.get("size"), recorded.get("mtime_ns")) == (info.st_size, info.st_mtime_ns):
        return None
    try:
        if recorded.get("sha256") == _sha256(path):
            return None  # touched, not changed
    except OSError:
        return None
    return (
        f"{path.name} has changed since {store.path.name} was made from it; the project shows the "
        "earlier content. Re-import it to see the new content (the project is kept beside it)."
    )


def set_aside(project_path: Path) -> Path:
    """Rename a closed project out of the way (never over another file), before re-importing."""
    if os.path.lexists(project_path.with_name(project_path.name + "-wal")):
        raise DatasetError(project_path, "cannot set it aside: open and close it once first (it has a log)")
    for n in range(1, 1000):
        aside = project_path.with_name(f"{project_path.stem}.before-reimport-{n}{project_path.suffix}")
        try:
            os.link(project_path, aside, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as exc:
            raise DatasetError(project_path, f"cannot set it aside: {exc.strerror or exc}") from None
        os.unlink(project_path)
        return aside
    raise DatasetError(project_path, "cannot set it aside: too many earlier copies beside it")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
