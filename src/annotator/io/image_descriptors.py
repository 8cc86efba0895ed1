"""Image embeddings for the "label next" ranking: descriptors computed from the image files and kept in
a sidecar file beside the dataset, or vectors supplied from elsewhere (pooled model features).

The sidecar (`<dataset file>.descriptors.npz`) holds one row per image file name, with the file's size
and modification time: a changed image is described again, an unchanged one is read back. It is only a
cache: a missing, damaged or unwritable sidecar costs time, never data.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import stat
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
MAX_NPZ_BYTES = 4 << 30  # 100,000 images of 4096 float64 values is 3.1 GiB


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
        version, names, sizes, times, vectors = read_npz(
            path, ("version", "file_names", "sizes", "mtimes", "vectors")
        )
        if version.shape != () or int(version) != VERSION or vectors.shape[1:] != (LENGTH,):
            return {}
        if vectors.dtype.kind not in "fiu" or not np.isfinite(vectors.astype(np.float32)).all():
            return {}  # a NaN row would make every distance NaN
        return {
            str(name): (int(size), int(mtime), vector.astype(np.float32))
            for name, size, mtime, vector in zip(names, sizes, times, vectors, strict=True)
        }
    except (DatasetError, TypeError, ValueError, OverflowError):
        return {}  # absent or damaged (even one a dataset ships): described again


def read_npz(path: Path, keys: tuple[str, ...]) -> list[np.ndarray]:
    """The arrays `keys` of an .npz file, or one DatasetError: only a regular file is opened (a pipe would
    block), no pickles, and no array is read whose declared size exceeds what the archive holds
    uncompressed or MAX_NPZ_BYTES (a 1 KB file can declare an array of terabytes)."""
    import zipfile

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise DatasetError(path, "is not a file (a folder, a pipe or a device)")
        with zipfile.ZipFile(path) as archive:
            sizes = {info.filename: info.file_size for info in archive.infolist()}
            if sum(sizes.values()) > MAX_NPZ_BYTES:
                raise DatasetError(path, f"holds more than {MAX_NPZ_BYTES >> 20} MiB of arrays")
            out = []
            for key in keys:
                if f"{key}.npy" not in sizes:
                    raise DatasetError(path, f"needs arrays {', '.join(map(repr, keys))} (missing {key!r})")
                with archive.open(f"{key}.npy") as member:
                    fmt = np.lib.format
                    version = fmt.read_magic(member)
                    read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                    shape, _, dtype = read(member)
                    if dtype.hasobject:
                        raise DatasetError(path, f"array {key!r} holds Python objects")
                    if math.prod(shape) * dtype.itemsize > sizes[f"{key}.npy"]:
                        raise DatasetError(path, f"array {key!r} declares more data than the file holds")
                with archive.open(f"{key}.npy") as member:
                    out.append(np.lib.format.read_array(member, allow_pickle=False))
            return out
    except DatasetError:
        raise
    except FileNotFoundError:
        raise DatasetError(path, "no such file") from None
    except Exception as exc:  # zipfile, numpy's header parser and zlib raise many kinds for bad bytes
        raise DatasetError(path, f"not a readable .npz file ({type(exc).__name__}: {exc})") from None


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


def save_embeddings(path: str | Path, vectors: dict[str, np.ndarray], *, model: str | None = None) -> None:
    """Vectors by file name as `load_embeddings` reads them, written atomically; DatasetError when they
    differ in length (vectors of two models, as a tampered journal can hold). `model`: the key of the
    model that made them, kept beside them (`io.model_features`)."""
    names = sorted(vectors)
    width = len(vectors[names[0]]) if names else 0
    if any(len(vectors[name]) != width for name in names):
        raise DatasetError(path, "the images' vectors differ in length (made by more than one model)")
    arrays = {} if model is None else {"model": np.array(model, dtype=str)}
    buffer = io.BytesIO()
    np.savez(
        buffer,
        **arrays,
        file_names=np.array(names, dtype=str),
        vectors=np.stack([vectors[n] for n in names]).astype(np.float32) if names else np.zeros((0, width)),
    )
    write_bytes_atomic(Path(path), buffer.getvalue())


def load_embeddings(path: str | Path, dataset: Dataset) -> dict[int, np.ndarray]:
    """Vectors from an .npz with `file_names` (str) and `vectors` (one float row each), such as pooled
    model features, by the dataset's image ids (matched by file name)."""
    path = Path(path)
    names, vectors = read_npz(path, ("file_names", "vectors"))
    if names.ndim != 1 or vectors.ndim != 2 or len(vectors) != len(names) or vectors.dtype.kind not in "fiu":
        raise DatasetError(
            path, f"'vectors' must be one numeric row per file name, got shape {vectors.shape}"
        )
    if names.dtype.kind != "U":
        raise DatasetError(path, f"'file_names' must be text, got {names.dtype}")
    rows = vectors.astype(np.float32)  # past float32's range is infinite, and refused as such
    bad = np.flatnonzero(~np.isfinite(rows).all(axis=1))
    if bad.size:  # one NaN row made every distance NaN: the "ranking" was the file's order
        index = int(bad[0])
        raise DatasetError(
            path, f"row {index} ({str(names[index])!r:.80}): a value is NaN, infinite or past float32"
        )
    seen: dict[str, int] = {}
    for index, name in enumerate(names.tolist()):
        if name in seen:  # two vectors for one image: which one is meant cannot be told
            raise DatasetError(path, f"row {index}: file name {name!r:.80} is also row {seen[name]}")
        seen[name] = index
    by_name = {image.file_name: image.id for image in dataset.images.values()}
    return {by_name[name]: rows[index] for name, index in seen.items() if name in by_name}
