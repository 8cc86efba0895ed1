"""Where pre-labelling results go, whichever engine made them: a COCO file, or a project.

A COCO file is written once, atomically, from the journal (see `prelabel_journal`) when the run ends,
images in the order of the input listing: so a run that was killed and resumed, or whose results came
back out of order from a cluster, writes the same file as one uninterrupted in-process run. A project is
written as results arrive, one transaction per image (its predictions and its status together).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from annotator.core.geometry import GeometryError
from annotator.core.model import Category, Dataset, Image, fresh_ids
from annotator.core.prelabel import prelabel_edit
from annotator.io.errors import DatasetError
from annotator.io.prelabel_journal import PrelabelRecord
from annotator.io.project import PROJECT_SUFFIX, Project, create_project, dataset_from_folder, open_project


@dataclass(frozen=True)
class OutputSummary:
    images: int
    predictions: int


def is_project_target(out: Path) -> bool:
    return out.suffix == PROJECT_SUFFIX


def check_output_path(out: Path) -> None:
    """Refuse, before any image is run, an output that could never be written."""
    if out.is_dir():
        raise DatasetError(out, "is a folder: --out takes a file name (a .json, or a .annotator project)")
    if not out.parent.is_dir():
        raise DatasetError(out, f"the folder {out.parent} does not exist")


def dataset_from_records(
    records: Mapping[str, PrelabelRecord],
    order: Iterable[str],
    *,
    model_name: str,
    categories: Sequence[Category],
) -> Dataset:
    """The predictions as a dataset: the finished images of `order`, ids 1.. in that order."""
    dataset = Dataset()
    dataset.put_categories(categories, notify=False)
    for file_name in order:
        record = records.get(file_name)
        if record is None or not record.ok:
            continue
        image_id = len(dataset.images) + 1
        dataset.put_images([Image(image_id, file_name, record.width, record.height)], notify=False)
        prelabel_edit(
            dataset, image_id, record.detections, model_name=model_name, categories=categories
        ).apply(dataset)
    return dataset


class CocoOutput:
    """A COCO instances file (RLE masks with scores), or with `results` a COCO results list."""

    keeps_detections = True  # the journal holds them until the file is written

    def __init__(self, out: Path, *, results: bool) -> None:
        self.out = out
        self.results = results

    def put(self, record: PrelabelRecord) -> str | None:
        return None  # written from the journal at the end

    def finish(
        self,
        records: Mapping[str, PrelabelRecord],
        order: Iterable[str],
        *,
        model_name: str,
        categories: Sequence[Category],
    ) -> OutputSummary:
        from annotator.io.coco import save_coco, save_coco_results

        dataset = dataset_from_records(records, order, model_name=model_name, categories=categories)
        if self.results:
            save_coco_results(dataset, self.out)
        else:
            save_coco(dataset, self.out, rle=True, include_scores=True)
        return OutputSummary(len(dataset.images), len(dataset.instances))

    def close(self) -> None:
        pass


class ProjectOutput:
    """A `.annotator` project: opened (or made from the images folder) and locked before the run;
    each image's predictions written through as they arrive, replacing its unreviewed ones."""

    keeps_detections = False  # the project holds them

    def __init__(self, project: Project, *, model_name: str, categories: Sequence[Category]) -> None:
        self.project = project
        self.model_name = model_name
        self.categories = tuple(categories)
        self._ids = {image.file_name: image.id for image in project.dataset.images.values()}

    @classmethod
    def open(cls, out: Path, images_root: Path, paths: Sequence[Path]) -> Project:
        """The project at `out` (made from `images_root` if new); the images must lie in its folder."""
        if os.path.lexists(out):  # a link there (to nothing too) is refused, never followed
            project = open_project(out)
        else:
            dataset, problems = dataset_from_folder(images_root)
            project = create_project(out.absolute(), dataset, images_root.resolve(), problems)
        root = project.root.resolve()
        outside = next((p for p in paths if not p.resolve().is_relative_to(root)), None)
        if outside is not None:
            project.close()
            raise DatasetError(outside, f"is not in the folder of the project {out} ({root})")
        return project

    def put(self, record: PrelabelRecord) -> str | None:
        """Write one image's predictions in one transaction; an error text if they do not fit it."""
        if not record.ok:
            return None
        dataset, store = self.project.dataset, self.project.store
        with store.grouped():
            image_id = self._ids.get(record.file_name)
            if image_id is None:
                image_id = fresh_ids(dataset.images, 1)[0]
                dataset.put_images([Image(image_id, record.file_name, record.width, record.height)])
                self._ids[record.file_name] = image_id
            try:
                edit = prelabel_edit(
                    dataset,
                    image_id,
                    record.detections,
                    model_name=self.model_name,
                    categories=self.categories,
                )
            except GeometryError as exc:
                return f"{record.file_name}: not written to the project: {exc}"
            edit.apply(dataset)
        if store.save_error is not None:  # a full disk: stop, keeping what is written
            raise store.save_error
        return None

    def finish(self, records, order, *, model_name, categories) -> OutputSummary:
        dataset = self.project.dataset
        done = [self._ids[name] for name, record in records.items() if record.ok and name in self._ids]
        predictions = sum(
            1
            for image_id in done
            for inst in dataset.instances_of(image_id)
            if inst.source.model == model_name
        )
        return OutputSummary(len(done), predictions)

    def close(self) -> None:
        self.project.close()
