"""Open any dataset file the command line accepts: COCO JSON, LabelMe JSON or folder, `.annotator` project.

The format is recognised from the content (a LabelMe file has a `shapes` list), not from the name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from annotator.core.model import Dataset
from annotator.io.coco import coco_from_dict
from annotator.io.errors import DatasetError
from annotator.io.gc_pause import gc_paused
from annotator.io.jsonfile import read_json
from annotator.io.labelme import LabelmeImport, is_labelme, load_labelme

PROJECT_SUFFIX = ".annotator"  # the SQLite project store (annotator.io.project)


class InputFormat(StrEnum):
    COCO = "COCO instances"
    LABELME = "LabelMe"
    PROJECT = "annotator project"


@dataclass
class LoadedDataset:
    """A dataset read from `path`, what was skipped on the way, and where its images are (if known)."""

    dataset: Dataset
    format: InputFormat
    path: Path
    root: Path | None = None
    problems: list[str] = field(default_factory=list)
    damaged_rows: int = 0  # a project's rows that could not be read (tampered or corrupt), among `problems`


def load_dataset_file(path: str | Path, *, images_root: str | Path | None = None) -> LoadedDataset:
    """The whole read runs with the cyclic collector paused (`io.gc_pause`): building 100,000 instances
    from the parsed file otherwise walks the millions of parsed objects again at each collection
    (`bench/convert.py`: 7.0 s -> 4.6 s to load 100,000 polygons)."""
    with gc_paused():
        return _load(Path(path), images_root)


def _load(path: Path, images_root: str | Path | None) -> LoadedDataset:
    if images_root is not None and not Path(images_root).is_dir():  # else one "not found" per image
        raise DatasetError(Path(images_root), "no such folder of images (--images)")
    if path.is_dir():
        try:
            imported = load_labelme(path)
        except DatasetError as exc:
            project = path / ("project" + PROJECT_SUFFIX)  # a folder of images the window opened
            if not project.is_file():
                raise
            raise DatasetError(
                path, f"{exc.reason}; the folder's project is {project}: give that file"
            ) from None
        return _labelme_loaded(path, imported)
    if not path.exists():
        raise DatasetError(path, "no such file or folder")
    if path.suffix == PROJECT_SUFFIX:
        return _load_project(path)
    data = read_json(path)
    if is_labelme(data):
        imported = load_labelme(path)
        return _labelme_loaded(path, imported)
    root = None if images_root is None else Path(images_root)
    coco = coco_from_dict(data, source=path, images_root=root)
    return LoadedDataset(coco.dataset, InputFormat.COCO, path, root, coco.problems)


def _labelme_loaded(path: Path, imported: LabelmeImport) -> LoadedDataset:
    problems = imported.problems + ([imported.root_note] if imported.root_note else [])
    return LoadedDataset(imported.dataset, InputFormat.LABELME, path, imported.root, problems)


def _load_project(path: Path) -> LoadedDataset:
    """Read a project's dataset without locking or writing it: a read-only project reads too, and so
    does one open in a window."""
    from annotator.io.project import read_project  # the SQLite store is only needed for projects

    with read_project(path) as project:
        return LoadedDataset(
            project.dataset,
            InputFormat.PROJECT,
            path,
            project.root,
            list(project.problems),
            project.store.damaged_rows,
        )
