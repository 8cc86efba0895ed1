"""What an export from the window would write over: the files each format writes, and the files the
open dataset stands on (its project and SQLite's files beside it, the file it was read from, its images
and the LabelMe files beside them). An export is refused before anything is written when the two meet:
exporting COCO onto the project file replaced it (every saved edit gone), onto an image or onto the
COCO file the project came from destroyed that file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from annotator.core.model import Dataset
from annotator.io.errors import DatasetError
from annotator.io.output_target import first_written_over

_PROJECT_SIDE_FILES = ("-wal", "-shm", "-journal", ".lock")


def export_files(dataset: Dataset, out: Path, export_format: str) -> list[Path]:
    """The files an export of `dataset` as `export_format` ("coco", "labelme", "yolo", "panoptic") to
    `out` writes, as the writers name them."""
    if export_format == "coco":
        return [out]
    images = sorted(dataset.images.values(), key=lambda image: image.id)
    if export_format == "labelme":
        from annotator.io.labelme_write import labelme_names

        return [out / name for name in labelme_names(dataset).values()]
    if export_format == "yolo":
        labels = [PurePosixPath("labels", image.file_name).with_suffix(".txt") for image in images]
        return [out / "classes.txt", out / "data.yaml", *(out / label for label in labels)]
    from annotator.io.panoptic import JSON_NAME, PNG_FOLDER, png_file_names
    from annotator.io.problems import Problems

    names = png_file_names(images, Problems())
    return [out / JSON_NAME, *(out / PNG_FOLDER / name for name in names.values())]


def dataset_files(
    dataset: Dataset, *, root: Path | None, project: Path | None, source: Path | None
) -> list[Path]:
    """The files the open dataset stands on, which no export may replace."""
    found = [] if source is None else [source]
    if project is not None:
        found += [project, *(project.with_name(project.name + side) for side in _PROJECT_SIDE_FILES)]
    if root is not None:
        for image in dataset.images.values():
            found += [root / image.file_name, root / PurePosixPath(image.file_name).with_suffix(".json")]
    return found


def refuse_writing_over(targets: Iterable[Path], protected: Iterable[Path]) -> None:
    """A DatasetError naming the first of `targets` that is one of the `protected` files."""
    target = first_written_over(targets, protected)
    if target is not None:
        raise DatasetError(
            target,
            "is one of the dataset's own files (its project, an image, a label file or the file it "
            "was read from): the export would write over it; choose another place",
        )


def refuse_linked_folder(folder: Path) -> None:
    """An export folder that is a symbolic link is refused: a dataset can ship the default export
    folder's name linked to anywhere, and the export would write there."""
    try:
        linked = stat.S_ISLNK(os.lstat(folder).st_mode)
    except (OSError, ValueError):
        return
    if linked:
        raise DatasetError(folder, "is a symbolic link; an export never writes through links")
