"""COCO export: instances files (polygons or RLE) and results lists, area and bbox from the geometry.

A polygon geometry is written as polygons unless RLE is asked for. A mask is written as polygons only
when polygons were asked for, it is not a crowd region, and tracing gives it back pixel for pixel
(no holes, nothing dropped, IoU 1.0); otherwise it stays RLE, so no export loses pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annotator.core.geometry import Geometry, Mask, Polygons, area
from annotator.core.model import Category, Dataset, Image, ImageStatus, Instance, Review
from annotator.core.region import traced_polygons
from annotator.core.rules import is_accepted
from annotator.io.gc_pause import gc_paused
from annotator.io.jsonfile import write_json
from annotator.io.problems import NO_PIXELS, Problems

OWN_KEY = "annotator"  # our namespaced key on images, categories and annotations


def coco_dict(
    dataset: Dataset,
    *,
    rle: bool = False,
    accepted_only: bool = False,
    include_scores: bool = False,
    arrays: bool = False,
    problems: Problems | None = None,
) -> dict[str, Any]:
    """The dataset as a COCO instances dict; top-level keys from the imported file come first.

    An instance of area 0 is left out (noted in `problems`). `arrays` leaves polygon rings as flat
    numpy arrays, which orjson writes directly: saving 100k polygons then skips a second of converting
    them to lists.
    """
    out: dict[str, Any] = {k: v for k, v in dataset.extra.items()}
    images = sorted(dataset.images.values(), key=lambda image: image.id)
    out["images"] = [_image_dict(image) for image in images]
    annotations = []
    for image in images:
        for inst in sorted(dataset.instances_of(image.id), key=lambda i: i.id):
            if accepted_only and not is_accepted(inst):
                continue
            annotation = _annotation_dict(inst, image, rle=rle, include_scores=include_scores, arrays=arrays)
            if annotation["area"] > 0:
                annotations.append(annotation)
            elif problems is not None:
                problems.add(f"instance {inst.id} on {image.file_name}", NO_PIXELS)
    out["annotations"] = annotations
    out["categories"] = [_category_dict(c) for c in sorted(dataset.categories.values(), key=lambda c: c.id)]
    return out


def save_coco(
    dataset: Dataset,
    path: str | Path,
    *,
    rle: bool = False,
    accepted_only: bool = False,
    include_scores: bool = False,
    problems: Problems | None = None,
) -> int:
    """Write a COCO instances file atomically; returns the number of annotations written. What was left
    out (instances of area 0) is noted in `problems`."""
    with gc_paused():
        data = coco_dict(
            dataset,
            rle=rle,
            accepted_only=accepted_only,
            include_scores=include_scores,
            arrays=True,
            problems=problems,
        )
        write_json(Path(path), data)
    return len(data["annotations"])


def coco_results(dataset: Dataset, *, accepted_only: bool = False) -> list[dict[str, Any]]:
    """COCO results format (what `COCO.loadRes` and COCOeval take): RLE masks with scores.

    Rejected instances are left out; an instance without a model score (drawn by hand) scores 1.0.
    """
    results = []
    for image in sorted(dataset.images.values(), key=lambda image: image.id):
        for inst in sorted(dataset.instances_of(image.id), key=lambda i: i.id):
            if inst.review is Review.REJECTED or (accepted_only and not is_accepted(inst)):
                continue
            geometry = inst.geometry
            results.append(
                {
                    "image_id": image.id,
                    "category_id": inst.category_id,
                    "segmentation": _rle_dict(geometry, image),
                    "bbox": list(geometry.bbox(image.height, image.width)),
                    "area": float(area(geometry, image.height, image.width)),
                    "score": 1.0 if inst.score is None else float(inst.score),
                }
            )
    return results


def save_coco_results(dataset: Dataset, path: str | Path, *, accepted_only: bool = False) -> int:
    results = coco_results(dataset, accepted_only=accepted_only)
    write_json(Path(path), results)
    return len(results)


def segmentation_of(
    geometry: Geometry, image: Image, *, rle: bool, iscrowd: bool = False, arrays: bool = False
) -> Any:
    """COCO `segmentation` for a geometry: polygons when asked and exact, otherwise compressed RLE."""
    if not rle and isinstance(geometry, Polygons):
        if geometry.is_near(image.height, image.width):
            return [ring.ravel() for ring in geometry.rings] if arrays else geometry.to_flat()
        # Vertices far outside the image crash pycocotools' rasteriser: write the part inside instead.
        clipped = geometry.clipped(image.height, image.width)
        if clipped is not None:
            return clipped.to_flat()
    if not rle and not iscrowd and isinstance(geometry, Mask):
        traced = traced_polygons(geometry)  # on the mask's crop: a huge image costs nothing more
        exact = traced.hole_count == 0 and traced.dropped_parts == 0 and traced.iou == 1.0
        if traced.polygons is not None and exact:
            return traced.polygons.to_flat()
    return _rle_dict(geometry, image)


def _rle_dict(geometry: Geometry, image: Image) -> dict[str, Any]:
    rle = geometry.to_rle(image.height, image.width)
    return {"size": [rle.height, rle.width], "counts": rle.counts.decode("ascii")}


def _image_dict(image: Image) -> dict[str, Any]:
    out = dict(image.extra)
    out.update(id=image.id, file_name=image.file_name, width=image.width, height=image.height)
    if image.status is not ImageStatus.NEW:
        out[OWN_KEY] = {"status": image.status.value}
    return out


def _category_dict(category: Category) -> dict[str, Any]:
    out = dict(category.extra)
    out.update(id=category.id, name=category.name, supercategory=category.supercategory)
    own: dict[str, Any] = {}
    if category.color is not None:
        own["color"] = list(category.color)
    if category.rank is not None:
        own["rank"] = category.rank  # the person's order of the classes; ids stay as they are
    if own:
        out[OWN_KEY] = own
    return out


def _annotation_dict(
    inst: Instance, image: Image, *, rle: bool, include_scores: bool, arrays: bool
) -> dict[str, Any]:
    geometry = inst.geometry
    out = dict(inst.extra)
    out.update(
        id=inst.id,
        image_id=inst.image_id,
        category_id=inst.category_id,
        segmentation=segmentation_of(geometry, image, rle=rle, iscrowd=inst.iscrowd, arrays=arrays),
        area=float(area(geometry, image.height, image.width)),
        bbox=list(geometry.bbox(image.height, image.width)),
        iscrowd=int(inst.iscrowd),
    )
    if include_scores and inst.score is not None:
        out["score"] = float(inst.score)
    own: dict[str, Any] = {"z": inst.z, "source": inst.source.kind.value, "review": inst.review.value}
    if inst.source.model is not None:
        own["model"] = inst.source.model
    if inst.source.score is not None:
        own["score"] = inst.source.score
    out[OWN_KEY] = own
    return out
