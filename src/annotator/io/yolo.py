"""YOLO segmentation export: `labels/<image path>.txt` lines `class x1 y1 x2 y2 ...` (normalised).

One line per polygon part. Masks are traced with holes filled (YOLO polygons cannot carry holes), and
every filled hole or dropped sliver is reported. Class index = position of the category in COCO-id
order; `data.yaml` and `classes.txt` list the names in that order and `data.yaml` maps each index back
to its COCO category id. Crowd regions are left out, as ultralytics' JSON2YOLO does.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import numpy as np

from annotator.core.geometry import Mask, area
from annotator.core.model import Category, Dataset, Image
from annotator.core.region import traced_polygons
from annotator.core.wording import counted
from annotator.io.atomic import write_bytes_atomic
from annotator.io.paths import export_target, left_from_before, make_export_folder
from annotator.io.problems import NO_PIXELS, Problems, Written


def yolo_classes(dataset: Dataset) -> list[Category]:
    """Categories in class-index order (sorted by COCO id)."""
    return sorted(dataset.categories.values(), key=lambda c: c.id)


def save_yolo(dataset: Dataset, out_dir: str | Path) -> Written:
    """Write `labels/`, `classes.txt` and `data.yaml` under `out_dir`; returns the instances written and
    what was changed or left out."""
    out_dir = Path(out_dir)
    make_export_folder(out_dir)
    export_target(out_dir, "labels/-")  # makes the folder (never through a link), even with no images
    classes = yolo_classes(dataset)
    index_of = {category.id: index for index, category in enumerate(classes)}
    problems = Problems()
    written: dict[str, str] = {}  # label file (case folded) -> the image it holds
    targets: list[Path] = []
    count = 0
    for image in sorted(dataset.images.values(), key=lambda i: i.id):
        relative = PurePosixPath("labels", image.file_name).with_suffix(".txt").as_posix()
        owner = written.setdefault(relative.casefold(), image.file_name)
        if owner != image.file_name:  # YOLO finds a label file by the image's name without extension
            problems.add(
                f"image {image.id}",
                f"{image.file_name!r} needs {relative}, already written for {owner!r}; not written "
                "(YOLO cannot tell them apart: rename one of the images)",
            )
            continue
        target = export_target(out_dir, relative)
        targets.append(target)
        lines = yolo_lines(dataset, image, index_of, problems)
        count += len({instance_id for instance_id, _ in lines})
        write_bytes_atomic(target, "".join(line + "\n" for _, line in lines).encode("utf-8"))
    names = [category.name.replace("\n", " ") for category in classes]
    write_bytes_atomic(out_dir / "classes.txt", "".join(n + "\n" for n in names).encode("utf-8"))
    write_bytes_atomic(out_dir / "data.yaml", _data_yaml(classes).encode("utf-8"))
    stale = left_from_before(out_dir / "labels", targets, ".txt")
    return Written(count, problems.lines() + ([stale] if stale else []))


def yolo_lines(
    dataset: Dataset, image: Image, index_of: dict[int, int], problems: Problems
) -> list[tuple[int, str]]:
    """(instance id, label line) for each polygon written: an instance in parts has several lines."""
    lines = []
    scale = np.array([image.width, image.height], dtype=np.float64)
    for inst in dataset.instances_of(image.id):
        item = f"instance {inst.id}"
        if inst.iscrowd:
            problems.add(item, "crowd region left out (YOLO has no crowd regions)")
            continue
        if not area(inst.geometry, image.height, image.width):
            problems.add(f"{item} on {image.file_name}", NO_PIXELS)
            continue
        rings = (
            inst.geometry.rings
            if not isinstance(inst.geometry, Mask)
            else _traced(inst.geometry, item, problems)
        )
        if len(rings) > 1:  # the count of objects in the files is not the count of instances
            problems.add(
                item, f"in {len(rings)} parts: written as {len(rings)} YOLO objects, one polygon each"
            )
        for ring in rings:
            normalised = np.clip(ring / scale, 0.0, 1.0).ravel()
            line = " ".join([str(index_of[inst.category_id]), *(f"{v:.6f}" for v in normalised)])
            lines.append((inst.id, line))
    return lines


def _traced(mask: Mask, item: str, problems: Problems) -> tuple[np.ndarray, ...]:
    traced = traced_polygons(mask, fill_holes=True)  # on the mask's crop, never an image-sized array
    if traced.hole_count:
        problems.add(item, f"mask has {counted(traced.hole_count, 'hole')}; filled in the YOLO polygon")
    if traced.dropped_parts:
        problems.add(item, f"{counted(traced.dropped_parts, 'part')} too small to trace; left out")
    if traced.polygons is None:
        problems.add(item, "mask too small to trace as a polygon; left out")
        return ()
    return traced.polygons.rings


def _data_yaml(classes: list[Category]) -> str:
    """YAML written by hand (names JSON-quoted, which YAML reads): no YAML library needed."""
    lines = [
        "# Written by annotator. Class index = position of the category in COCO-id order.",
        "# Set path/train/val to your image folders before training.",
        "path: .",
        "train: images",
        "val: images",
        f"nc: {len(classes)}",
        "names:",
        *(f"  {i}: {json.dumps(c.name, ensure_ascii=False)}" for i, c in enumerate(classes)),
        "# class index -> COCO category id",
        "category_ids:",
        *(f"  {i}: {c.id}" for i, c in enumerate(classes)),
    ]
    return "\n".join(lines) + "\n"
