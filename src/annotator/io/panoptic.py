"""COCO panoptic export as panopticapi defines it: `panoptic.json` and one RGB PNG per image.

Each PNG pixel holds its segment id as R + 256*G + 256*256*B (0 = unlabelled). Instances overlap in our
data but not in a panoptic PNG, so they are painted back to front by z-order, as the canvas draws them:
the front-most instance owns a pixel. `area` and `bbox` are counted from the pixels a segment really
owns, and an instance left with no pixels (hidden by those in front, or empty) is dropped and reported.
Segment ids are the instance ids when they fit in 24 bits; others are renumbered to the smallest free
ids of their image (the same numbering on every run) and reported.
"""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image as PILImage

from annotator.core.colors import category_color
from annotator.core.geometry import GeometryError, Mask
from annotator.core.model import Category, Dataset, Image, Instance
from annotator.core.region import mask_crop
from annotator.core.rules import is_accepted
from annotator.io.atomic import write_bytes_atomic
from annotator.io.jsonfile import write_json
from annotator.io.paths import export_target, left_from_before, make_export_folder
from annotator.io.problems import NO_PIXELS, Problems, Written

MAX_SEGMENT_ID = 256**3 - 1
PNG_FOLDER = "panoptic"
JSON_NAME = "panoptic.json"
_MAX_NAME_BYTES = 200  # below the usual 255-byte file name limit, with room for a suffix


def save_panoptic(dataset: Dataset, out_dir: str | Path, *, accepted_only: bool = False) -> Written:
    """Write `panoptic.json` and `panoptic/*.png` under `out_dir`; returns the segments written and what
    was dropped or renamed."""
    out_dir = Path(out_dir)
    make_export_folder(out_dir)
    problems = Problems()
    images = sorted(dataset.images.values(), key=lambda image: image.id)
    png_names = png_file_names(images, problems)
    annotations, targets = [], []
    for image in images:
        ids = segment_ids(dataset.instances_of(image.id))
        kept = [i for i in dataset.instances_of(image.id) if not accepted_only or is_accepted(i)]
        canvas, segments = render(image, kept, ids, problems)
        target = export_target(out_dir, f"{PNG_FOLDER}/{png_names[image.id]}")
        targets.append(target)
        write_bytes_atomic(target, encode_png(canvas))
        annotations.append(
            {"image_id": image.id, "file_name": png_names[image.id], "segments_info": segments}
        )
    data: dict[str, Any] = {k: dataset.extra[k] for k in ("info", "licenses") if k in dataset.extra}
    data["images"] = [_image_dict(image) for image in images]
    data["annotations"] = annotations
    data["categories"] = [_category_dict(c) for c in sorted(dataset.categories.values(), key=lambda c: c.id)]
    write_json(out_dir / JSON_NAME, data)
    stale = left_from_before(out_dir / PNG_FOLDER, targets, ".png")
    written = sum(len(annotation["segments_info"]) for annotation in annotations)
    return Written(written, problems.lines() + ([stale] if stale else []))


def segment_ids(instances: list[Instance]) -> dict[int, int]:
    """Instance id -> segment id for one image: the instance id when it fits in 24 bits and is not 0,
    otherwise the smallest free id, in instance-id order (so every run numbers them the same)."""
    ids = {inst.id: inst.id for inst in instances if 0 < inst.id <= MAX_SEGMENT_ID}
    taken = set(ids.values())
    candidate = 1
    for inst in sorted(instances, key=lambda i: i.id):
        if inst.id in ids:
            continue
        while candidate in taken:
            candidate += 1
        ids[inst.id] = candidate
        taken.add(candidate)
    return ids


def render(
    image: Image, instances: list[Instance], ids: dict[int, int], problems: Problems
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Paint `instances` (back to front) into an id canvas; `segments_info` from the pixels each owns."""
    canvas = np.zeros((image.height, image.width), dtype=np.uint32)
    painted: list[tuple[Instance, tuple[slice, slice]]] = []
    for inst in instances:
        try:
            # pycocotools' own raster (its RLE), cut to its box from the runs: never an image-sized mask
            crop = mask_crop(Mask(inst.geometry.to_rle(image.height, image.width)))
        except GeometryError as exc:
            problems.add(f"instance {inst.id}", f"{exc}; left out")
            continue
        if crop.empty:
            problems.add(f"instance {inst.id} on {image.file_name}", NO_PIXELS)
            continue
        height, width = crop.mask.shape
        box = (slice(crop.y0, crop.y0 + height), slice(crop.x0, crop.x0 + width))
        canvas[box][crop.mask.astype(bool)] = ids[inst.id]
        painted.append((inst, box))
    segments = []
    for inst, box in painted:
        segment = _segment_info(canvas[box], box, inst, ids[inst.id], problems)
        if segment is not None:
            segments.append(segment)
    return canvas, segments


def _box(mask: np.ndarray) -> tuple[slice, slice] | None:
    """The rows and columns holding the mask's pixels, or None for an empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _segment_info(
    crop: np.ndarray, box: tuple[slice, slice], inst: Instance, segment_id: int, problems: Problems
) -> dict[str, Any] | None:
    """`crop` is the canvas under the instance's own box: the pixels it owns can only lie there."""
    item = f"instance {inst.id}"
    mine = crop == segment_id
    owned = _box(mine)
    if owned is None:
        problems.add(item, "hidden by the instances in front of it; left out")
        return None
    rows, cols = owned
    area = int(np.count_nonzero(mine))
    x, y = box[1].start + cols.start, box[0].start + rows.start
    out: dict[str, Any] = {
        "id": segment_id,
        "category_id": inst.category_id,
        "area": area,
        "bbox": [x, y, cols.stop - cols.start, rows.stop - rows.start],
        "iscrowd": int(inst.iscrowd),
    }
    if segment_id != inst.id:
        out["annotator"] = {"instance_id": inst.id}
        problems.add(item, f"id does not fit in a panoptic PNG (24 bits); written as segment {segment_id}")
    return out


def encode_png(canvas: np.ndarray) -> bytes:
    """Segment ids as RGB: R + 256*G + 256*256*B."""
    # the little-endian bytes of each id are R, G, B (and 0): one uint8 copy, no image-sized temporaries
    little = canvas.astype("<u4", copy=False)
    rgb = np.ascontiguousarray(little.view(np.uint8).reshape(*canvas.shape, 4)[..., :3])
    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(data: bytes | Path) -> np.ndarray:
    """The segment id of every pixel of a panoptic PNG (the inverse of `encode_png`)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with PILImage.open(source) as png:
        rgb = np.asarray(png.convert("RGB"), dtype=np.uint32)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def png_file_names(images: list[Image], problems: Problems) -> dict[int, str]:
    """Image id -> PNG name: the file_name with `/` flattened and `.png`; unique even on a file system
    that ignores case (a clash, such as `a.jpg` and `a.png`, adds the image id and is reported)."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    for image in images:
        name = _flat_name(image.file_name)
        if name.casefold() in taken or len(name.encode("utf-8")) > _MAX_NAME_BYTES:
            stem = name[: -len(".png")].encode("utf-8")[: _MAX_NAME_BYTES - 30].decode("utf-8", "ignore")
            name, n = f"{stem}~{image.id}.png", 1
            while name.casefold() in taken:
                name, n = f"{stem}~{image.id}~{n}.png", n + 1
            problems.add(
                f"image {image.id}", f"PNG written as {name} (the plain name clashes or is too long)"
            )
        taken.add(name.casefold())
        names[image.id] = name
    return names


def _flat_name(file_name: str) -> str:
    """`sub/dir/a.jpg` -> `sub%2Fdir%2Fa.png`: `%` and `/` are escaped, so different paths stay different."""
    path = PurePosixPath(file_name)
    stem = path.with_suffix("").as_posix() if path.suffix else path.as_posix()
    return stem.replace("%", "%25").replace("/", "%2F") + ".png"


def _image_dict(image: Image) -> dict[str, Any]:
    out = dict(image.extra)
    out.update(id=image.id, file_name=image.file_name, width=image.width, height=image.height)
    return out


def _category_dict(category: Category) -> dict[str, Any]:
    out = dict(category.extra)
    out.update(id=category.id, name=category.name, supercategory=category.supercategory, isthing=1)
    out["color"] = list(category.color or category_color(category.id))
    return out
