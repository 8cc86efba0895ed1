"""LabelMe export: one JSON per image, placed where the image sits relative to the output folder.

Polygon rings become `polygon` shapes (several rings share a `group_id`); masks become `mask` shapes
holding a PNG cropped to the mask's bbox, with the bbox corners as points (labelme's own layout).
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image as PilImage

from annotator.core.geometry import Mask, Polygons, area
from annotator.core.model import Dataset, Image, Instance
from annotator.core.region import mask_crops
from annotator.io.jsonfile import write_json
from annotator.io.paths import export_target, left_from_before, make_export_folder
from annotator.io.problems import NO_PIXELS, Problems, Written

LABELME_VERSION = "5.5.0"


def save_labelme(dataset: Dataset, out_dir: str | Path, *, images_root: str | Path | None = None) -> Written:
    """Write `<out_dir>/<file_name stem>.json` for every image; returns the instances written and notes on
    what could not be kept.

    `imagePath` points at the image under `images_root` when given, else at a file beside the JSON.
    Images whose names differ only in extension or case (`a.jpg`, `a.png`, `A.JPG`) would share a JSON
    name: the later ones get `<stem>~<image id>.json`, and that is reported (their `imagePath` still
    names their own image, so they import back the same).
    """
    out_dir = Path(out_dir)
    make_export_folder(out_dir)
    problems = Problems()
    names = labelme_names(dataset, problems)
    targets = []
    count = 0
    for image in sorted(dataset.images.values(), key=lambda i: i.id):
        target = export_target(out_dir, names[image.id])
        targets.append(target)
        image_path = _image_path(image, target, images_root)
        data, written = labelme_dict(dataset, image, image_path=image_path, problems=problems)
        count += written
        write_json(target, data, indent=True)
    stale = left_from_before(out_dir, targets, ".json")
    return Written(count, problems.lines() + ([stale] if stale else []))


def labelme_names(dataset: Dataset, problems: Problems | None = None) -> dict[int, str]:
    """Image id -> the JSON's path relative to the export folder, unique even where case is ignored."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    for image in sorted(dataset.images.values(), key=lambda i: i.id):
        path = PurePosixPath(image.file_name)
        name = path.with_suffix(".json").as_posix()
        if name.casefold() in taken:
            stem, n = path.with_suffix("").as_posix(), 1
            name = f"{stem}~{image.id}.json"
            while name.casefold() in taken:
                name, n = f"{stem}~{image.id}~{n}.json", n + 1
            if problems is not None:
                problems.add(
                    f"image {image.id}",
                    f"written as {name}: another image already has the name {path.stem}.json",
                )
        taken.add(name.casefold())
        names[image.id] = name
    return names


def labelme_dict(
    dataset: Dataset, image: Image, *, image_path: str, problems: Problems | None = None
) -> tuple[dict[str, Any], int]:
    """One image's LabelMe file, and how many instances it holds."""
    problems = problems if problems is not None else Problems()
    shapes: list[dict[str, Any]] = []
    next_group, written = 1, 0
    for inst in dataset.instances_of(image.id):  # back to front, as drawn
        label = (
            dataset.categories[inst.category_id].name
            if inst.category_id in dataset.categories
            else str(inst.category_id)
        )
        if inst.iscrowd:
            problems.add(f"instance {inst.id}", "crowd flag not kept: LabelMe has no crowd regions")
        new_shapes = _shapes(inst, label, image) if area(inst.geometry, image.height, image.width) else []
        if not new_shapes:
            problems.add(f"instance {inst.id} on {image.file_name}", NO_PIXELS)
            continue
        if len(new_shapes) > 1:
            for shape in new_shapes:
                shape["group_id"] = next_group
            next_group += 1
        shapes.extend(new_shapes)
        written += 1
    data = {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": image.height,
        "imageWidth": image.width,
    }
    return data, written


def _shapes(inst: Instance, label: str, image: Image) -> list[dict[str, Any]]:
    geometry = inst.geometry
    if isinstance(geometry, Polygons):
        return [_shape(label, ring.tolist(), "polygon") for ring in geometry.rings]
    assert isinstance(geometry, Mask)
    shapes = []
    for crop in mask_crops(geometry):  # the mask's box (or its parts' boxes), never an image-sized array
        (h, w), x0, y0 = crop.mask.shape, crop.x0, crop.y0
        shape = _shape(label, [[float(x0), float(y0)], [float(x0 + w - 1), float(y0 + h - 1)]], "mask")
        shape["mask"] = _png_base64(crop.mask.astype(bool))
        shapes.append(shape)
    return shapes


def _shape(label: str, points: list, shape_type: str) -> dict[str, Any]:
    return {
        "label": label,
        "points": points,
        "group_id": None,
        "description": "",
        "shape_type": shape_type,
        "flags": {},
        "mask": None,
    }


def _png_base64(mask: np.ndarray) -> str:
    buffer = io.BytesIO()
    PilImage.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _image_path(image: Image, target: Path, images_root: str | Path | None) -> str:
    if images_root is None:
        return PurePosixPath(image.file_name).name
    image_file = Path(images_root).resolve() / image.file_name
    return Path(os.path.relpath(image_file, target.parent.resolve())).as_posix()
