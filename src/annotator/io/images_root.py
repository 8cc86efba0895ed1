"""Where a COCO file's images are: its `file_name`s are relative to a folder the file does not name."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def guess_images_root(json_path: Path, data: Any = None) -> Path:
    """Beside the file, or in a usual images folder near it: the first candidate holding all of the first
    20 images, else the first holding any. `data`: the file's content when the caller has parsed it."""
    if data is None:
        import orjson

        try:
            data = orjson.loads(json_path.read_bytes())
        except (OSError, ValueError):
            return json_path.parent
    images = data.get("images") if isinstance(data, dict) else None
    names = (
        [img.get("file_name") for img in images[:20] if isinstance(img, dict)]
        if isinstance(images, list)
        else []
    )
    names = [n for n in names if isinstance(n, str) and n]
    here = json_path.parent
    candidates = [here, here / "images", here.parent, here.parent / "images", here.parent.parent]
    if (here.parent / "images").is_dir():
        candidates += [p for p in (here.parent / "images").glob("*") if p.is_dir()]
    for candidate in candidates:
        if names and all((candidate / n).is_file() for n in names):
            return candidate
    for candidate in candidates:
        if any((candidate / n).is_file() for n in names):
            return candidate
    return here
