"""COCO instances JSON: import (this module) and export (`coco_write`, re-exported here).

Import is lenient item by item and strict about the file: a file that is not JSON, or not an instances
file (panoptic, captions, a results list, LabelMe, SA-1B), raises DatasetError; a bad image, category
or annotation is skipped and reported in `CocoImport.problems` while every valid item is kept.
Area and bbox in the file are never trusted: export recomputes them from the geometry.
An annotation with a numeric `score` (and none of our own fields) is a model's prediction: source model
(named after the file), the score kept, unreviewed, and its image prelabeled, as pre-labelling makes
them; so a detector's output opens ready for review and comparison with ground truth.
Our own fields (z-order, source, score, review, image status, class colour and order) travel in an
`"annotator"` object on each item, which other tools ignore (docs/decisions/0006-annotation-formats.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from annotator.core.geometry import Geometry, GeometryError, Mask, Polygons
from annotator.core.model import (
    MANUAL,
    Z_LIMIT,
    Category,
    Dataset,
    Image,
    ImageStatus,
    Instance,
    Review,
    Source,
    SourceKind,
    default_z_order,
)
from annotator.core.wording import counted
from annotator.io.coco_write import OWN_KEY, coco_dict, save_coco, save_coco_results
from annotator.io.errors import DatasetError
from annotator.io.gc_pause import gc_paused
from annotator.io.images import MAX_PIXELS
from annotator.io.jsonfile import read_json
from annotator.io.paths import normalise_file_name, resolve_inside
from annotator.io.problems import Problems
from annotator.io.values import clean_extra, clean_name, clean_text, fits_int64

__all__ = ["CocoImport", "coco_dict", "coco_from_dict", "load_coco", "save_coco", "save_coco_results"]

_TOP_KEYS = ("images", "annotations", "categories")
_IMAGE_KEYS = frozenset({"id", "file_name", "width", "height", OWN_KEY})
_CATEGORY_KEYS = frozenset({"id", "name", "supercategory", OWN_KEY})
# area and bbox are dropped on purpose: export recomputes them from the geometry.
_ANNOTATION_KEYS = frozenset(
    {"id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd", OWN_KEY}
)
BBOX_NOTE = "has no segmentation: kept as a polygon of its bbox"


@dataclass
class CocoImport:
    """A loaded COCO file: the dataset, and what was skipped or changed on the way (one line each)."""

    dataset: Dataset
    problems: list[str] = field(default_factory=list)
    path: Path | None = None


def load_coco(path: str | Path, *, images_root: str | Path | None = None) -> CocoImport:
    """Load a COCO instances file. `images_root`, if given, is only used to report missing images."""
    path = Path(path)
    with gc_paused():
        return coco_from_dict(read_json(path), source=path, images_root=images_root)


def coco_from_dict(
    data: Any, *, source: Path, images_root: str | Path | None = None, strict: bool = False
) -> CocoImport:
    """`strict`: the first item that would be skipped, dropped or renumbered raises DatasetError naming
    it (for ground truth, where a quietly dropped item changes the score)."""
    check_instances_file(data, source)
    reader = _Reader(
        source, None if images_root is None else Path(images_root), model_name=source.stem, strict=strict
    )
    dataset = reader.read(data)
    return CocoImport(dataset, reader.problems.lines(), source)


def check_instances_file(data: Any, source: Path) -> None:
    """Raise DatasetError unless `data` has the shape of a COCO instances file."""
    if isinstance(data, list):
        looks_like_results = bool(data) and isinstance(data[0], dict) and "score" in data[0]
        kind = "a COCO results list (detections)" if looks_like_results else "a JSON list"
        raise DatasetError(source, f"not an instances file: {kind}, not a dataset object")
    if not isinstance(data, dict):
        raise DatasetError(source, f"not an instances file: the top level is a {type(data).__name__}")
    if "shapes" in data:
        raise DatasetError(source, "not an instances file: this is a LabelMe file")
    if "images" not in data and isinstance(data.get("image"), dict):
        raise DatasetError(source, "not an instances file: this is an SA-1B per-image file")
    if not isinstance(data.get("images"), list):
        raise DatasetError(source, "not an instances file: no 'images' list")
    for key in ("annotations", "categories"):
        if key in data and not isinstance(data[key], list):
            raise DatasetError(source, f"'{key}' must be a list, got {type(data[key]).__name__}")
    annotations = [a for a in data.get("annotations", ()) if isinstance(a, dict)]
    if any("segments_info" in a for a in annotations):
        raise DatasetError(source, "not an instances file: this is a COCO panoptic file")
    has_regions = any("segmentation" in a or "bbox" in a for a in annotations)
    if not has_regions and any("caption" in a for a in annotations):
        raise DatasetError(source, "not an instances file: this is a COCO captions file")


def as_int(value: Any) -> int | None:
    """An integer from JSON, accepting integral floats (640.0) and refusing bools, strings and numbers
    outside SQLite's 64-bit integers (ids of 2^63 or more cannot be stored or matched)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if fits_int64(value) else None
    if isinstance(value, float) and value.is_integer() and fits_int64(int(value)):
        return int(value)
    return None


def _own(raw: Mapping) -> Mapping:
    own = raw.get(OWN_KEY)
    return own if isinstance(own, dict) else {}


class _Reader:
    """One pass over a COCO dict; collects problems and builds the Dataset."""

    def __init__(
        self, source: Path, images_root: Path | None, *, model_name: str = "", strict: bool = False
    ) -> None:
        self.source = source
        self.model_name = model_name or source.stem
        self.strict = strict
        self.images_root = images_root
        self.problems = Problems()
        self.images: dict[int, Image] = {}
        self.skipped_images: dict[int, int] = {}  # image id -> annotations dropped with it
        self.categories: dict[int, Category] = {}
        self.own_z: dict[int, int] = {}  # instance id -> z from our own key
        self.scored_images: set[int] = set()  # images with a prediction read from a plain `score`
        self.unusable_ids: dict[int, str] = {}  # annotation index -> an id that is not a usable integer

    def read(self, data: dict) -> Dataset:
        for index, raw in enumerate(data["images"]):
            self._read_image(index, raw)
        has_categories = "categories" in data
        for index, raw in enumerate(data.get("categories", ())):
            self._read_category(index, raw)
        instances = []
        for index, raw in enumerate(data.get("annotations", ())):
            instance = self._read_annotation(index, raw, has_categories)
            if instance is not None:
                instances.append(instance)
        if not has_categories:
            self._synthesise_categories(instances)
        for image_id, count in self.skipped_images.items():
            if count:
                self._lost(f"image {image_id}", f"{counted(count, 'annotation')} dropped with the image")
        instances = self._unique_ids(instances)
        instances = self._with_z_order(instances)
        self._mark_prelabeled()
        dataset = Dataset(extra=self._extra(data, frozenset(_TOP_KEYS), None))
        dataset.put_images(self.images.values(), notify=False)
        dataset.put_categories(sorted(self.categories.values(), key=lambda c: c.id), notify=False)
        dataset.put_instances(instances, notify=False)
        return dataset

    # -- images -----------------------------------------------------------------------------------
    def _read_image(self, index: int, raw: Any) -> None:
        if not isinstance(raw, dict):
            self._lost(f"image at index {index}", "not an object; skipped")
            return
        image_id = as_int(raw.get("id"))
        if image_id is None:
            self._lost(
                f"image at index {index}",
                f"id must be an integer below 2^63, got {_short_repr(raw.get('id'))}; skipped",
            )
            return
        item = f"image {image_id}"
        if image_id in self.images or image_id in self.skipped_images:
            raise DatasetError(self.source, "duplicate image id: annotations cannot be assigned", item=item)
        try:
            file_name = normalise_file_name(raw.get("file_name"), source=self.source, item=item)
        except DatasetError as exc:
            self._skip_image(image_id, f"{exc.reason}; skipped")
            return
        width, height = as_int(raw.get("width")), as_int(raw.get("height"))
        if width is None or height is None or width <= 0 or height <= 0:
            self._skip_image(image_id, "width and height must be positive integers; skipped")
            return
        if width * height > MAX_PIXELS:
            self._skip_image(image_id, f"{width}x{height} is larger than any image this tool opens; skipped")
            return
        own = _own(raw)
        try:
            status = ImageStatus(own.get("status", ImageStatus.NEW))
        except ValueError:
            status = ImageStatus.NEW
        extra = self._extra(raw, _IMAGE_KEYS, item)
        self.images[image_id] = Image(image_id, file_name, width, height, status, extra)
        self._check_present(item, file_name)

    def _mark_prelabeled(self) -> None:
        """A new image holding a prediction read from a plain `score` becomes prelabeled."""
        for image_id in self.scored_images:
            image = self.images[image_id]
            if image.status is ImageStatus.NEW:
                self.images[image_id] = replace(image, status=ImageStatus.PRELABELED)

    def _lost(self, item: str, reason: str) -> None:
        """An item skipped, dropped or renumbered: reported, or (strict) the end of the import."""
        if self.strict:
            raise DatasetError(self.source, reason.rsplit("; ", 1)[0], item=item)
        self.problems.add(item, reason)

    def _skip_image(self, image_id: int, reason: str) -> None:
        self._lost(f"image {image_id}", reason)
        self.skipped_images[image_id] = 0

    def _check_present(self, item: str, file_name: str) -> None:
        if self.images_root is None:
            return
        try:
            present = resolve_inside(self.images_root, file_name).is_file()
        except DatasetError:
            present = False
        if not present:
            self.problems.add(item, f"image file {file_name!r} not found under {self.images_root}")

    # -- categories -------------------------------------------------------------------------------
    def _read_category(self, index: int, raw: Any) -> None:
        if not isinstance(raw, dict) or as_int(raw.get("id")) is None:
            self._lost(f"category at index {index}", "needs an integer id below 2^63; skipped")
            return
        category_id = as_int(raw["id"])
        item = f"category {category_id}"
        if category_id in self.categories:
            self._lost(item, "duplicate category id; the later one is skipped")
            return
        name = raw.get("name")
        if not isinstance(name, str):
            self.problems.add(item, f"name must be a string, got {_short_repr(name)}; named {category_id}")
            name = str(category_id)
        name = clean_name(name, item=item, what="name", problems=self.problems)
        supercategory = raw.get("supercategory")
        supercategory = (
            clean_name(supercategory, item=item, what="supercategory", problems=self.problems)
            if isinstance(supercategory, str)
            else ""
        )
        color = self._color(_own(raw).get("color"), item)
        extra = self._extra(raw, _CATEGORY_KEYS, item)
        self.categories[category_id] = Category(
            category_id, name, supercategory, color, extra, rank=as_int(_own(raw).get("rank"))
        )

    def _color(self, value: Any, item: str) -> tuple[int, int, int] | None:
        if value is None:
            return None
        color = _color(value)
        if color is None:
            self.problems.add(item, f"colour {_short_repr(value)} is not three values 0-255; ignored")
        return color

    def _extra(self, raw: Mapping, known: frozenset[str], item: str | None) -> dict[str, Any]:
        return clean_extra(
            {k: v for k, v in raw.items() if k not in known}, item=item, problems=self.problems
        )

    def _synthesise_categories(self, instances: list[dict]) -> None:
        used = sorted({inst["category_id"] for inst in instances})
        if used:
            self.problems.add(None, f"no 'categories' list: categories {used} are named after their ids")
        for category_id in used:
            self.categories[category_id] = Category(category_id, str(category_id))

    # -- annotations ------------------------------------------------------------------------------
    def _read_annotation(self, index: int, raw: Any, has_categories: bool) -> dict | None:
        """The Instance's fields (it is built once z is known: replacing frozen values costs time)."""
        if not isinstance(raw, dict):
            self._lost(f"annotation at index {index}", "not an object; skipped")
            return None
        ann_id = as_int(raw.get("id"))
        if ann_id is None and raw.get("id") is not None:
            self.unusable_ids[index] = _short_repr(raw["id"])
        item = f"annotation {ann_id}" if ann_id is not None else f"annotation at index {index}"
        image_id, category_id = as_int(raw.get("image_id")), as_int(raw.get("category_id"))
        image = self.images.get(image_id)
        if image is None:
            if image_id in self.skipped_images:
                self.skipped_images[image_id] += 1
            else:
                self._lost(item, f"points at missing image {_short_repr(raw.get('image_id'))}; skipped")
            return None
        if category_id is None or (has_categories and category_id not in self.categories):
            self._lost(item, f"points at missing category {_short_repr(raw.get('category_id'))}; skipped")
            return None
        iscrowd = raw.get("iscrowd", 0)
        if iscrowd not in (0, 1):  # True and False compare equal to 1 and 0
            self._lost(item, f"iscrowd must be 0 or 1, got {_short_repr(iscrowd)}; skipped")
            return None
        geometry = self._geometry(raw, image, item)
        if geometry is None:
            return None
        own = _own(raw)
        source = _source(own, raw.get("score"), self.model_name)
        if not own and source.is_model:
            self.scored_images.add(image.id)
        z = as_int(own.get("z"))
        if z is not None and abs(z) <= Z_LIMIT and ann_id is not None:  # else larger regions behind
            self.own_z[ann_id] = z
        extra = self._extra(raw, _ANNOTATION_KEYS, item)
        return {
            "id": -1 - index if ann_id is None else ann_id,  # negative: a new id is given in _unique_ids
            "image_id": image.id,
            "category_id": category_id,
            "geometry": geometry,
            "source": source,
            "review": _review(own),
            "iscrowd": bool(iscrowd),
            "extra": extra,
        }

    def _geometry(self, raw: dict, image: Image, item: str) -> Geometry | None:
        segmentation = raw.get("segmentation")
        try:
            if segmentation is None or segmentation == [] or segmentation == {}:
                return self._bbox_polygon(raw.get("bbox"), item)
            if isinstance(segmentation, dict):
                return _rle_geometry(segmentation, image)
            if isinstance(segmentation, list):
                return self._polygons(segmentation, item)
            raise GeometryError(f"segmentation must be polygons or an RLE, got {type(segmentation).__name__}")
        except GeometryError as exc:
            self._lost(item, f"{exc}; skipped")
            return None

    def _bbox_polygon(self, bbox: Any, item: str) -> Polygons:
        if not _is_number_list(bbox) or len(bbox) != 4:
            raise GeometryError("has no segmentation and no usable bbox")
        x, y, w, h = (finite_float(v) for v in bbox)
        if any(v is None for v in (x, y, w, h)) or w <= 0 or h <= 0:
            raise GeometryError(f"has no segmentation and its bbox {bbox} is empty or not finite")
        self.problems.add(item, BBOX_NOTE)
        return Polygons((np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]),))

    def _polygons(self, segmentation: list, item: str) -> Polygons:
        if segmentation and not isinstance(segmentation[0], list):
            self.problems.add(item, "segmentation is one flat list of numbers: read as one polygon")
            segmentation = [segmentation]
        rings = []
        for part, ring in enumerate(segmentation):
            values = _number_array(ring)
            if values is None:
                raise GeometryError(f"polygon part {part} is not a list of numbers")
            if values.size % 2 or values.size < 6:
                self._lost(
                    item,
                    f"polygon part {part} has {values.size} values (needs an even count >= 6); part dropped",
                )
                continue
            rings.append(values.reshape(-1, 2))
        if not rings:
            raise GeometryError("no usable polygon part")
        return Polygons(tuple(rings))

    # -- ids and draw order -----------------------------------------------------------------------
    def _unique_ids(self, instances: list[dict]) -> list[dict]:
        """Keep every annotation: a repeated or missing id gets a fresh one, and is reported."""
        seen: set[int] = set()
        fresh = _fresh_ids({inst["id"] for inst in instances})
        for inst in instances:
            if inst["id"] in seen or inst["id"] < 0:
                old = inst["id"]
                inst["id"] = next(fresh)
                if old < 0:
                    given = self.unusable_ids.get(-1 - old)
                    what = "has no id" if given is None else f"id {given} is not an integer below 2^63"
                    self._lost(f"annotation at index {-1 - old}", f"{what}; given id {inst['id']}")
                else:
                    self._lost(f"annotation {old}", f"duplicate id; the later one is kept as {inst['id']}")
            seen.add(inst["id"])
        return instances

    def _with_z_order(self, instances: list[dict]) -> list[Instance]:
        """Our own z when every instance of the image carries it; otherwise larger regions behind."""
        by_image: dict[int, list[dict]] = {}
        for inst in instances:
            by_image.setdefault(inst["image_id"], []).append(inst)
        out = []
        for image_id, members in by_image.items():
            if all(inst["id"] in self.own_z for inst in members):
                order = self.own_z
            else:
                image = self.images[image_id]
                order = default_z_order({inst["id"]: fast_area(inst["geometry"], image) for inst in members})
            out.extend(Instance(z=order[inst["id"]], **inst) for inst in members)
        return out


def with_default_z_order(instances: Iterable[Instance], images: Mapping[int, Image]) -> Iterator[Instance]:
    """The instances with z from `default_z_order` on each image (larger behind), by `fast_area`."""
    by_image: dict[int, list[Instance]] = {}
    for inst in instances:
        by_image.setdefault(inst.image_id, []).append(inst)
    for image_id, members in by_image.items():
        order = default_z_order({i.id: fast_area(i.geometry, images[image_id]) for i in members})
        yield from (inst.with_changes(z=order[inst.id]) for inst in members)


def read_geometry(raw: Mapping, image: Image, item: str, problems: Problems, *, source: Path) -> Geometry:
    """One annotation's region on `image`, read exactly as the importer reads it (polygons, RLE, or a
    box); DatasetError naming `item` when it is unusable. Notes go to `problems`."""
    reader = _Reader(source, None, strict=True)
    reader.problems = problems
    geometry = reader._geometry(raw, image, item)
    assert geometry is not None  # strict: an unusable one raised
    return geometry


def _fresh_ids(taken: set[int]) -> Iterator[int]:
    """Ids after the largest one taken; from 1 upwards (skipping taken ones) once that reaches 2^63."""
    candidate = max(taken, default=0) + 1
    while fits_int64(candidate):
        yield candidate
        candidate += 1
    candidate = 1
    while True:
        if candidate not in taken:
            yield candidate
        candidate += 1


def fast_area(geometry: Geometry, image: Image) -> float:
    """Area good enough to order instances: shoelace for polygons, the exact RLE count for masks.

    Rasterising every polygon with pycocotools on import would cost more than parsing the JSON.
    """
    if isinstance(geometry, Mask):
        return float(mask_utils.area(geometry.rle.as_coco()))
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore"):  # far vertices (clipped later) overflow: no warning
        for ring in geometry.rings:
            x, y = ring[:, 0], ring[:, 1]
            twice = x[:-1] @ y[1:] - y[:-1] @ x[1:] + x[-1] * y[0] - y[-1] * x[0]
            total += abs(float(twice)) / 2.0
    return total


def _rle_geometry(segmentation: dict, image: Image) -> Mask:
    size = segmentation.get("size")
    if not _is_number_list(size) or [as_int(v) for v in size] != [image.height, image.width]:
        raise GeometryError(f"RLE size {size} does not match the image ({image.height}x{image.width})")
    return Mask.from_coco_rle(segmentation)


def _number_array(value: Any) -> np.ndarray | None:
    """A flat list of JSON numbers as float64; None for anything else (strings, bools, nesting, null)."""
    if not isinstance(value, list):
        return None
    try:
        values = np.asarray(value)
    except ValueError:  # ragged nesting
        return None
    if values.ndim != 1 or values.dtype.kind not in "if":
        return None if values.size else np.zeros(0)
    return values.astype(np.float64, copy=False)


def finite_float(value: Any) -> float | None:
    """A JSON number as a finite float; None for NaN, infinities, huge integers, bools and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _is_number_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    )


def _source(own: Mapping, score: Any, model_name: str) -> Source:
    """Our own fields when the file has them; else a numeric `score` makes a model's prediction."""
    if not own and _is_score(score):
        return Source.from_model(model_name, float(score))
    if own.get("source") == SourceKind.MODEL:
        score = own.get("score")
        model = own.get("model")
        return Source(
            SourceKind.MODEL,
            clean_text(model) if isinstance(model, str) else None,
            finite_float(score),
        )
    return MANUAL


def _is_score(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _review(own: Mapping) -> Review:
    if not own:
        return Review.UNREVIEWED
    try:
        return Review(own.get("review", Review.UNREVIEWED))
    except ValueError:
        return Review.UNREVIEWED


def _color(value: Any) -> tuple[int, int, int] | None:
    if isinstance(value, list) and len(value) == 3 and all(as_int(v) in range(256) for v in value):
        return tuple(int(v) for v in value)
    return None


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"
