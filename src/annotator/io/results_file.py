"""A COCO results list (the detections format: `image_id`, `category_id`, `segmentation`, `score`) read
as a dataset of predictions on the images it names.

A results list names its images only by id: the ids of the dataset the model ran on, which the person
gives. That is a COCO file (its images, their folder and its class names) or a folder of images whose
names end in the id, as COCO's do (`000000013923.jpg`, `COCO_val2014_000000000042.jpg`). Detections
become predictions as pre-labelling makes them (source model named after the file, score kept,
unreviewed; their images prelabeled). Detections on ids the dataset lacks are left out and reported.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from annotator.core.model import Category, Dataset, Image, ImageStatus
from annotator.core.wording import counted
from annotator.io.coco import coco_from_dict, with_default_z_order
from annotator.io.errors import DatasetError
from annotator.io.images import image_size, list_images
from annotator.io.images_root import guess_images_root
from annotator.io.jsonfile import read_json
from annotator.io.predictions import predictions_on

_TRAILING_NUMBER = re.compile(r"(\d+)$")


class NeedsDatasetError(DatasetError):
    """A results list was given without the dataset its image ids belong to."""


@dataclass
class ResultsImport:
    """The predictions as a dataset (only the images they name), where those images are, what was left
    out, and the COCO file they were checked against (if one was given)."""

    dataset: Dataset
    root: Path
    problems: list[str] = field(default_factory=list)
    reference: Path | None = None


def is_results_list(data: Any) -> bool:
    """A JSON list of detections (or an empty list)."""
    return isinstance(data, list) and all(isinstance(d, dict) and "image_id" in d for d in data[:20])


def needs_dataset(path: Path) -> NeedsDatasetError:
    return NeedsDatasetError(
        path,
        "a COCO results list names its images only by id: give the dataset it was computed on "
        "(a COCO file or a folder of images named by id)",
    )


def load_results(path: Path, data: list, *, reference: Path) -> ResultsImport:
    """The detections in `data` (read from `path`) on the images of `reference` they name."""
    if not data:
        raise DatasetError(path, "the results list holds no detection")
    if reference.is_dir():
        images, categories, root = _folder_images(reference, data), {}, reference
        reference_file = None
    else:
        images, categories, root = _coco_images(reference)
        reference_file = reference
    unknown: Counter = Counter()
    found = predictions_on(data, path, images, unknown_images=unknown)
    if not found:
        raise DatasetError(path, f"none of its image ids is an image of {reference}")
    dataset = _predictions_dataset(images, categories, found)
    problems = []
    if unknown:
        shown = ", ".join(str(i) for i in list(unknown)[:5])
        problems.append(
            f"{counted(sum(unknown.values()), 'detection')} on {counted(len(unknown), 'image id')} not in "
            f"{reference.name} "
            f"left out ({shown}{', ...' if len(unknown) > 5 else ''})"
        )
    named = set(categories)
    for category_id in sorted({c.id for c in dataset.categories.values()} - named):
        problems.append(f"category {category_id} is not in {reference.name}: named 'class {category_id}'")
    return ResultsImport(dataset, root, problems, reference_file)


def _coco_images(reference: Path) -> tuple[Dataset, dict[int, Category], Path]:
    """The images and classes of a COCO file (its annotations are not read), and their folder."""
    raw = read_json(reference)
    if not isinstance(raw, dict):
        raise DatasetError(reference, "not a COCO dataset: give the COCO file the results were computed on")
    head = {key: raw[key] for key in ("images", "categories") if key in raw}
    loaded = coco_from_dict(head, source=reference)
    return loaded.dataset, dict(loaded.dataset.categories), guess_images_root(reference, raw)


def _folder_images(folder: Path, data: list) -> Dataset:
    """The folder's images whose names end in an image id the results use, with that id."""
    wanted = {d["image_id"] for d in data if isinstance(d, dict) and isinstance(d.get("image_id"), int)}
    by_id: dict[int, list[Path]] = {}
    for file in list_images(folder):
        match = _TRAILING_NUMBER.search(file.stem)
        if match and int(match[1]) in wanted:
            by_id.setdefault(int(match[1]), []).append(file)
    images = []
    for image_id, files in sorted(by_id.items()):
        if len(files) > 1:
            names = ", ".join(f.name for f in files)
            raise DatasetError(folder, f"image id {image_id} could be any of {names}")
        width, height = image_size(files[0])
        images.append(Image(image_id, files[0].relative_to(folder).as_posix(), width, height))
    dataset = Dataset()
    dataset.put_images(images, notify=False)
    return dataset


def _predictions_dataset(images: Dataset, categories: dict[int, Category], found: dict) -> Dataset:
    dataset = Dataset()
    dataset.put_images(
        (replace(images.images[i], status=ImageStatus.PRELABELED) for i in sorted(found)), notify=False
    )
    used = sorted({inst.category_id for group in found.values() for inst in group})
    dataset.put_categories(
        (categories.get(cid) or Category(cid, f"class {cid}") for cid in used), notify=False
    )
    numbered = [
        inst.with_changes(id=number)
        for number, inst in enumerate((i for image_id in sorted(found) for i in found[image_id]), start=1)
    ]
    dataset.put_instances(with_default_z_order(numbered, dataset.images), notify=False)
    return dataset
