"""Annotations to bring into an open project, from whatever file or folder the person picks: a COCO
dataset, a COCO results list (with the dataset it belongs to), a LabelMe JSON or folder, or YOLO
segmentation labels. The format is recognised from the content; a JSON file is parsed once.

YOLO coordinates are fractions of the image size, so YOLO labels are read against the project's images;
every other format carries its images' sizes, and `core.annotation_merge` matches them by file name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from annotator.core.model import Dataset
from annotator.io.coco import coco_from_dict
from annotator.io.errors import DatasetError
from annotator.io.file_kind import require_regular_file
from annotator.io.gc_pause import gc_paused
from annotator.io.jsonfile import read_json
from annotator.io.labelme import is_labelme, load_labelme
from annotator.io.results_file import is_results_list, load_results, needs_dataset
from annotator.io.yolo_read import NAME_FILES, is_yolo_labels, load_yolo


class LabelFormat(StrEnum):
    COCO = "COCO"
    COCO_RESULTS = "COCO results"
    LABELME = "LabelMe"
    YOLO = "YOLO segmentation"


@dataclass
class ReadAnnotations:
    """What a file holds, as a dataset of its own; `unplaced` names what found no image before any
    merge (YOLO label files, which need the project's images to be read at all)."""

    dataset: Dataset
    format: LabelFormat
    path: Path
    problems: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)


def read_annotations(path: str | Path, project: Dataset, *, reference: Path | None = None) -> ReadAnnotations:
    """Read `path` for merging into `project`. `reference`: the dataset a results list belongs to
    (NeedsDatasetError without it). Bad input raises DatasetError naming the file and the problem."""
    path = Path(path)
    if path.is_dir():
        return _read_folder(path, project)
    if not os.path.lexists(path):
        raise DatasetError(path, "no such file or folder")
    require_regular_file(path)  # a pipe or a device is named as one
    if path.suffix.lower() == ".txt" or path.name in NAME_FILES:
        return _yolo(path, project)
    if path.suffix.lower() != ".json":
        raise DatasetError(
            path, "not an annotation file: expected COCO or LabelMe .json, or YOLO .txt labels"
        )
    with gc_paused():
        data = read_json(path)
        if is_labelme(data):
            labelme = load_labelme(path, data=data, to_merge=True)
            return ReadAnnotations(labelme.dataset, LabelFormat.LABELME, path, labelme.problems)
        if is_results_list(data):
            if reference is None:
                raise needs_dataset(path)
            results = load_results(path, data, reference=reference)
            return ReadAnnotations(results.dataset, LabelFormat.COCO_RESULTS, path, results.problems)
        coco = coco_from_dict(data, source=path)
    return ReadAnnotations(coco.dataset, LabelFormat.COCO, path, coco.problems)


def _read_folder(folder: Path, project: Dataset) -> ReadAnnotations:
    """A folder of LabelMe files, else of YOLO label files."""
    has_json = any(p.is_file() for p in folder.rglob("*.json"))
    if has_json:
        try:
            labelme = load_labelme(folder, to_merge=True)
        except DatasetError:
            if not is_yolo_labels(folder):
                raise
        else:
            return ReadAnnotations(labelme.dataset, LabelFormat.LABELME, folder, labelme.problems)
    if is_yolo_labels(folder):
        return _yolo(folder, project)
    raise DatasetError(folder, "no LabelMe JSON or YOLO label (.txt) files in this folder")


def _yolo(path: Path, project: Dataset) -> ReadAnnotations:
    from annotator.io.yolo import yolo_classes

    known = [category.name for category in yolo_classes(project)]
    yolo = load_yolo(path, project.images.values(), known_classes=known)
    return ReadAnnotations(yolo.dataset, LabelFormat.YOLO, path, yolo.problems, yolo.unmatched)
