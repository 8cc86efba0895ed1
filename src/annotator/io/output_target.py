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
    try:
        target = os.stat(out)
    except (OSError, ValueError):
        return  # nothing there yet, so no input either
    for item in inputs:
        try:
            other = os.stat(item)
        except (OSError, ValueError):
            continue
        if (other.st_dev, other.st_ino) == (target.st_dev, target.st_ino):
            raise DatasetError(out, "is an input file: --out would write over it; choose another --out")


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
