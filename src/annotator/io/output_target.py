"""Checks on a path the command line was asked to write, made before anything is computed or written.

Two refusals: a target that is not a file one can replace (a named pipe, a device, a socket: the atomic
rename would replace the node itself, which as root means replacing `/dev/null`; writing into a pipe
waits for a reader), and a target that is one of the command's own inputs (the dataset file, the
predictions, an image of the dataset), which the write would destroy.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from annotator.core.model import Dataset
from annotator.io.errors import DatasetError

_KINDS = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFSOCK: "a socket",
}


def refuse_special_target(path: str | Path) -> None:
    """A DatasetError when `path` (or what a link at it points to) is a pipe, a device or a socket."""
    for follow in (False, True):
        try:
            mode = os.stat(path, follow_symlinks=follow).st_mode
        except (OSError, ValueError):
            return  # absent (or a dangling link): nothing there to replace by mistake
        kind = _KINDS.get(stat.S_IFMT(mode))
        if kind is not None:
            raise DatasetError(path, f"is {kind}, not a file: name a file to write")


def refuse_writing_over_inputs(out: str | Path, inputs: Iterable[str | Path]) -> None:
    """A DatasetError when `out` is one of `inputs` (the same file, through links or hard links too)."""
    if first_written_over([out], inputs) is not None:
        raise DatasetError(out, "is an input file: --out would write over it; choose another --out")


def first_written_over(targets: Iterable[str | Path], kept: Iterable[str | Path]) -> str | Path | None:
    """The first of `targets` that is one of the files `kept` (the same file through a link or a hard
    link too: compared by device and inode), or None. One stat per file: 100,000 images take a
    fraction of a second."""
    identities = set()
    for path in kept:
        info = _stat(path)
        if info is not None and stat.S_ISREG(info.st_mode):
            identities.add((info.st_dev, info.st_ino))
    if not identities:
        return None
    for target in targets:
        info = _stat(target)
        if info is not None and (info.st_dev, info.st_ino) in identities:
            return target
    return None


def _stat(path: str | Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def dataset_inputs(source: Path, dataset: Dataset, roots: Iterable[Path | None], out: Path) -> list[Path]:
    """The files a dataset read from `source` stands on that `out` could name: the JSON files read, and
    the images under any of `roots` whose file name ends like `out` (cheap for 100,000 images)."""
    found = [source] if not source.is_dir() else list(source.rglob("*.json"))
    name = out.name
    for root in {Path(r) for r in roots if r is not None}:
        found.extend(
            root / image.file_name
            for image in dataset.images.values()
            if PurePosixPath(image.file_name).name == name
        )
    return found


def check_output(
    out: str | Path,
    *,
    inputs: Iterable[str | Path] = (),
) -> None:
    """Both checks, for a command about to write `out`."""
    refuse_special_target(out)
    refuse_writing_over_inputs(out, inputs)


def check_dataset_output(
    out: str | Path, loaded, roots: Iterable[Path | None], *, also: Iterable[str | Path | None] = ()
) -> None:
    """Both checks for a command writing `out` from a loaded dataset file (`io.dataset_files`): its
    files, its images under any of `roots`, and the other inputs `also` (predictions, embeddings)."""
    inputs = dataset_inputs(loaded.path, loaded.dataset, roots, Path(out))
    check_output(out, inputs=[*inputs, *(path for path in also if path)])
