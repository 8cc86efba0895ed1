"""Image embeddings for the "label next" ranking: descriptors computed from the image files and kept in
a sidecar file beside the dataset, or vectors supplied from elsewhere (pooled model features).

The sidecar (`<dataset file>.descriptors.npz`) holds one row per image file name, with the file's size
and modification time: a changed image is described again, an unchanged one is read back. It is only a
cache: a missing, damaged or unwritable sidecar costs time, never data.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotator.core.image_descriptor import LENGTH, SIDE, VERSION, image_descriptor
from annotator.core.model import Dataset
from annotator.io.atomic import write_bytes_atomic
from annotator.io.errors import DatasetError
from annotator.io.images import load_thumbnail
from annotator.io.paths import resolve_inside

SIDECAR_SUFFIX = ".descriptors.npz"


@dataclass
class Descriptors:
    """Vectors by image id, and the images that could not be described (one line each)."""

    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    computed: int = 0  # described now rather than read from the sidecar


def sidecar_path(dataset_path: str | Path) -> Path:
    path = Path(dataset_path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def describe_images(
    dataset: Dataset,
    root: Path,
    *,
    sidecar: Path | None,
    image_ids: list[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Descriptors:
    """Descriptors of the images (all when `image_ids` is None), read from `sidecar` where the file is
    unchanged, computed otherwise; the sidecar is rewritten when anything was computed."""
    cached = _read_sidecar(sidecar) if sidecar is not None else {}
    result = Descriptors()
    fresh: dict[str, tuple[int, int, np.ndarray]] = {}
    ids = sorted(dataset.images) if image_ids is None else image_ids
    for done, image_id in enumerate(ids):
        image = dataset.images[image_id]
        try:
            path = resolve_inside(root, image.file_name)
            stat = path.stat()
        except (DatasetError, OSError) as exc:
            result.problems.append(f"{image.file_name}: {getattr(exc, 'reason', None) or 'cannot be read'}")
            continue
        key = (stat.st_size, stat.st_mtime_ns)
        found = cached.get(image.file_name)
        if found is not None and found[:2] == key:
            vector = found[2]
        else:
            try:
                vector = image_descriptor(load_thumbnail(path, 2 * SIDE))
            except DatasetError as exc:
                result.problems.append(f"{image.file_name}: {exc.reason}")
                continue
            result.computed += 1
        fresh[image.file_name] = (*key, vector)
        result.vectors[image_id] = vector
        if progress is not None:
            progress(done + 1, len(ids))
    if sidecar is not None and result.computed:
        _write_sidecar(sidecar, {**cached, **fresh})
    return result


def _read_sidecar(path: Path) -> dict[str, tuple[int, int, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["version"]) != VERSION or data["vectors"].shape[1:] != (LENGTH,):
                return {}
            names, sizes, times, vectors = (data[k] for k in ("file_names", "sizes", "mtimes", "vectors"))
    except (OSError, ValueError, KeyError, IndexError):
        return {}  # absent or damaged: described again
    return {
        str(name): (int(size), int(mtime), vector.astype(np.float32))
        for name, size, mtime, vector in zip(names, sizes, times, vectors, strict=True)
    }


def _write_sidecar(path: Path, rows: dict[str, tuple[int, int, np.ndarray]]) -> None:
    names = sorted(rows)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        version=np.int64(VERSION),
        file_names=np.array(names, dtype=str),
        sizes=np.array([rows[n][0] for n in names], np.int64),
        mtimes=np.array([rows[n][1] for n in names], np.int64),
        vectors=np.stack([rows[n][2] for n in names]).astype(np.float32),
    )
    with contextlib.suppress(DatasetError):  # a read-only folder: described again next time
        write_bytes_atomic(path, buffer.getvalue())


def load_embeddings(path: str | Path, dataset: Dataset) -> dict[int, np.ndarray]:
    """Vectors from an .npz with `file_names` (str) and `vectors` (one float row each), such as pooled
    model features, by the dataset's image ids (matched by file name)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            names, vectors = data["file_names"], data["vectors"]
    except FileNotFoundError:
        raise DatasetError(path, "no such file") from None
    except KeyError as exc:
        raise DatasetError(path, f"needs arrays 'file_names' and 'vectors' (missing {exc})") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(path, f"not a readable .npz file ({exc})") from None
    if vectors.ndim != 2 or len(vectors) != len(names) or vectors.dtype.kind not in "fiu":
        raise DatasetError(
            path, f"'vectors' must be one numeric row per file name, got shape {vectors.shape}"
        )
    by_name = {image.file_name: image.id for image in dataset.images.values()}
    return {
        by_name[str(name)]: np.asarray(row, np.float32)
        for name, row in zip(names, vectors, strict=True)
        if str(name) in by_name
    }
