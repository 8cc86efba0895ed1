"""LabelMe JSON: import a file or a folder of them, export one JSON per image.

Shapes with the same label and `group_id` on one image are one instance in several parts (labelme2coco's
rule). Polygons, rectangles and circles become polygon rings; `mask` shapes (a base64 PNG placed at the
shape's first point) make the instance a bitmap mask. `__ignore__` shapes are skipped as labelme2coco
does, and every other shape that cannot be a region (point, line, ...) is reported, never dropped
silently. X-AnyLabeling's variant (extra keys, `visible: false`, `rotation` boxes) reads the same way.
See docs/decisions/0006-annotation-formats.md.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image as PilImage
from PIL import UnidentifiedImageError

from annotator.core.geometry import Geometry, GeometryError, Polygons, Rle
from annotator.core.model import Category, Dataset, Image, Instance
from annotator.io.coco import with_default_z_order
from annotator.io.errors import DatasetError
from annotator.io.images import IMAGE_SUFFIXES, MAX_PIXELS, image_size, oriented_size
from annotator.io.jsonfile import read_json
from annotator.io.labelme_masks import MaskBudget, MaskBudgetExceeded, placed_mask, union
from annotator.io.labelme_write import save_labelme
from annotator.io.paths import normalise_file_name
from annotator.io.problems import Problems
from annotator.io.values import clean_extra, clean_name

__all__ = [
    "LabelmeImport",
    "has_labelme_files",
    "is_labelme",
    "labelme_beside_images",
    "load_labelme",
    "save_labelme",
]

IGNORE_LABEL = "__ignore__"
POLYGON_TYPES = frozenset({"polygon", "rotation"})  # X-AnyLabeling's rotated box is a 4-point polygon
_SHAPE_KEYS = frozenset({"label", "points", "group_id", "shape_type", "mask"})


@dataclass
class LabelmeImport:
    """Loaded LabelMe files: the dataset (file names relative to `root`) and what was skipped."""

    dataset: Dataset
    problems: list[str] = field(default_factory=list)
    root: Path = Path(".")
    root_note: str = ""  # where the images were found when not beside the files: news, not a problem


@dataclass
class _Part:
    geometry: np.ndarray | Rle  # an (N, 2) ring, or a mask on the whole image
    is_mask: bool
    shape: dict


def is_labelme(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("shapes"), list)


def load_labelme(
    path: str | Path, *, labels: str | Path | None = None, data: Any = None, to_merge: bool = False
) -> LabelmeImport:
    """Load one LabelMe JSON or every LabelMe JSON below a folder (`data`: the one file's content,
    when the caller has parsed it already). `to_merge`: the files go into a project, which finds their
    images by name, so an `imagePath` outside the folder (labelme's `../images/a.jpg`) is no problem.

    Category ids and order come from `labels` (or a `labels.txt` in the folder or its parent, labelme's
    convention: `__ignore__` first, then `_background_` as id 0); otherwise labels in order of first
    appearance get ids 1, 2, ...
    """
    path = Path(path)
    if path.is_dir():
        root, files = path, _json_files(path)
        if not files:
            raise DatasetError(path, "no JSON files in this folder")
    elif path.is_file():
        root, files = path.parent, [path]
    else:
        raise DatasetError(path, "no such file or folder")
    labels_file = Path(labels) if labels is not None else _find_labels_file(root)
    reader = _Reader(root, _read_labels(labels_file) if labels_file else {})
    reader.outside_ok = to_merge
    for file in files:
        reader.read_file(file, single=len(files) == 1 and not path.is_dir(), data=data)
    if not reader.images:
        raise DatasetError(path, "no usable LabelMe file found")
    found = reader.images_outside()
    if found is not None:  # the images' own folder is the root: file names are theirs there
        root = next(iter(found.values())).parent
        reader.images = {
            i: replace(im, file_name=found[im.file_name].name) for i, im in reader.images.items()
        }
        note = f"the images are in {root} (their imagePath): read from there"
        return LabelmeImport(reader.build(), reader.problems.lines(), root, note)
    return LabelmeImport(reader.build(), reader.problems.lines(), root)


LOOK_FOR_LABELME = 5  # JSON files named after images read before deciding a folder has no LabelMe file


def labelme_beside_images(folder: Path, image_names: Iterable[str]) -> LabelmeImport | None:
    """The LabelMe files of a folder of images, read as `load_labelme` reads a folder; None when there
    is none. Only a JSON file named after one of the images (`a.json` for `a.jpg`, where labelme saves
    it) is looked at, so a large COCO file kept with the images is not parsed for nothing; and when the
    first few of those are not LabelMe's (SA-1B's per-image files), none is. A LabelMe file that cannot
    be used is reported."""
    files = _named_after_images(folder, image_names)
    if not files:
        return None
    labels_file, note = _find_labels_file(folder), None
    try:
        label_ids = _read_labels(labels_file) if labels_file else {}
    except DatasetError as exc:  # the images still open; the labels get ids in order of appearance
        label_ids, note = {}, f"{exc}; labels numbered in order of appearance"
    reader = _Reader(folder, label_ids, quiet_others=True)
    for count, file in enumerate(files):
        if count == LOOK_FOR_LABELME and not reader.images and not reader.problems:
            return None
        reader.read_file(file, single=False)
    reader.note_outside()
    if note and reader.images:
        reader.problems.add(None, note)
    return LabelmeImport(reader.build(), reader.problems.lines(), folder) if reader.images else None


def has_labelme_files(folder: Path, image_names: Iterable[str]) -> bool:
    """Whether one of the first JSON files named after the images is a LabelMe file."""
    for file in _named_after_images(folder, image_names)[:LOOK_FOR_LABELME]:
        try:
            if is_labelme(read_json(file)):
                return True
        except DatasetError:
            continue
    return False


def _named_after_images(folder: Path, image_names: Iterable[str]) -> list[Path]:
    stems = {PurePosixPath(name).stem for name in image_names}
    return [file for file in _json_files(folder) if file.stem in stems]


def _json_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*.json")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _find_labels_file(root: Path) -> Path | None:
    for folder in (root, root.parent):
        candidate = folder / "labels.txt"
        if candidate.is_file():
            return candidate
    return None


def _read_labels(path: Path) -> dict[str, int]:
    """labelme's labels.txt: line i has id i - 1 when the first line is `__ignore__`, else i + 1."""
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"cannot read the label list: {exc}") from None
    offset = -1 if names and names[0] == IGNORE_LABEL else 1
    return {name: index + offset for index, name in enumerate(names) if name != IGNORE_LABEL}


class _Reader:
    def __init__(self, root: Path, label_ids: dict[str, int], *, quiet_others: bool = False) -> None:
        self.root = root
        self.quiet_others = quiet_others  # JSON files of other kinds are passed over unreported
        self.outside_ok = False  # an imagePath outside the root falls back to its base name unreported
        self.label_ids = dict(label_ids)
        self.listed = set(label_ids)
        self.used_labels: set[str] = set()
        self.problems = Problems()
        self.images: dict[int, Image] = {}
        self.file_names: set[str] = set()
        # file name used -> (the image file its imagePath names outside the root, the note to make)
        self.outside: dict[str, tuple[Path, str, str]] = {}
        self.instances: list[Instance] = []

    # -- files ------------------------------------------------------------------------------------
    def read_file(self, file: Path, *, single: bool, data: Any = None) -> None:
        item = file.relative_to(self.root).as_posix()
        try:
            if not single and file.is_symlink():  # in a folder scan, links are not followed
                raise DatasetError(file, "is a symbolic link; not read")
            data = read_json(file) if data is None else data
        except DatasetError as exc:
            if single:
                raise
            self.problems.add(item, f"{exc.reason}; skipped")
            return
        if not is_labelme(data):
            if single:
                raise DatasetError(file, "not a LabelMe file: no 'shapes' list")
            if not self.quiet_others:
                self.problems.add(item, "not a LabelMe file; skipped")
            return
        try:
            image = self._image(file, data, item)
        except DatasetError as exc:
            if single:
                raise
            self.problems.add(item, f"{exc.reason}; skipped")
            return
        try:
            self._read_shapes(data["shapes"], image, item)
        except MaskBudgetExceeded as exc:
            self.instances = [i for i in self.instances if i.image_id != image.id]
            if single:
                raise DatasetError(file, str(exc)) from None
            self.problems.add(item, f"{exc}; skipped")
            return
        self.images[image.id] = image

    def _image(self, file: Path, data: dict, item: str) -> Image:
        embedded = _embedded_image(data.get("imageData"))
        if embedded is not None:
            width, height, suffix = embedded
        else:
            width, height, suffix = _as_size(data.get("imageWidth")), _as_size(data.get("imageHeight")), None
        file_name = self._file_name(file, data.get("imagePath"), suffix, item)
        if width is None or height is None:
            try:
                width, height = image_size(self.root / file_name)
            except DatasetError:
                raise DatasetError(
                    file, "no image size: no imageData, imageWidth/imageHeight or image file"
                ) from None
        if width * height > MAX_PIXELS:
            raise DatasetError(file, f"image size {width}x{height} is larger than any image this tool opens")
        if embedded is not None and (data.get("imageWidth"), data.get("imageHeight")) != (width, height):
            self.problems.add(item, f"imageWidth/imageHeight disagree with imageData; using {width}x{height}")
        if file_name in self.file_names:
            raise DatasetError(file, f"image {file_name!r} is already described by another file")
        self.file_names.add(file_name)
        return Image(len(self.images) + 1, file_name, width, height)

    def _file_name(self, file: Path, image_path: Any, suffix: str | None, item: str) -> str:
        """`imagePath` relative to the root; a missing, outside or non-image path falls back to a name
        beside the JSON (its stem and the image's suffix)."""
        folder = file.parent.relative_to(self.root).as_posix()
        if isinstance(image_path, str) and image_path.strip():
            joined = os.path.normpath(PurePosixPath(folder, image_path.replace("\\", "/")).as_posix())
            if PurePosixPath(image_path).suffix.lower() in IMAGE_SUFFIXES:
                try:
                    return normalise_file_name(joined, source=file, item=item)
                except DatasetError as exc:
                    reason = exc.reason
                    if joined.startswith("../"):
                        name = PurePosixPath(folder, PurePosixPath(joined).name).as_posix()
                        name = normalise_file_name(name, source=file, item=item)
                        if not self.outside_ok:  # said at the end, unless the images' folder is found
                            target = Path(os.path.normpath(file.parent / image_path.replace("\\", "/")))
                            self.outside[name] = (target, item, f"{reason}; using {name!r}")
                        return name
            else:
                reason = f"imagePath {image_path!r} is not an image"
        else:
            reason = "no imagePath"
        name = PurePosixPath(folder, _fallback_name(file, image_path, suffix)).as_posix()
        self.problems.add(item, f"{reason}; using {name!r}")
        return normalise_file_name(name, source=file, item=item)

    def images_outside(self) -> dict[str, Path] | None:
        """Where each image is, when the images are in one folder outside the root that their
        `imagePath` names (labelme's `annotations/` beside `images/`, imagePath `../images/a.jpg`), the
        others by their name in that folder and none beside its JSON: file name -> image file. Else
        None, and each outside path is noted."""
        targets = [target for target, _item, _note in self.outside.values()]
        folders = {target.parent for target in targets}
        found = None
        if len(folders) == 1 and all(t.is_file() for t in targets):
            (folder,) = folders
            found = {name: target for name, (target, _item, _note) in self.outside.items()}
            for image in self.images.values():
                if image.file_name in found:
                    continue
                there = folder / PurePosixPath(image.file_name).name
                if (self.root / image.file_name).exists() or not there.is_file():
                    found = None  # some images are where their JSON says: not one folder for all
                    break
                found[image.file_name] = there
        if found is None:
            self.note_outside()
        return found

    def note_outside(self) -> None:
        for _target, item, note in self.outside.values():
            self.problems.add(item, note)

    # -- shapes -----------------------------------------------------------------------------------
    def _read_shapes(self, shapes: list, image: Image, item: str) -> None:
        groups: dict[tuple, list[_Part]] = {}
        budget = MaskBudget(image)
        for index, shape in enumerate(shapes):
            where = f"{item}: shape {index}"
            if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
                self.problems.add(where, "not a shape with a string label; skipped")
                continue
            label = clean_name(shape["label"], item=where, what="label", problems=self.problems)
            if label == IGNORE_LABEL:
                self.problems.add(item, f"shape labelled {IGNORE_LABEL} skipped (as labelme2coco does)")
                continue
            try:
                part = _part(shape, image, budget)
            except GeometryError as exc:
                self.problems.add(f"{where} ({label!r})", f"{exc}; skipped")
                continue
            group_id = shape.get("group_id")
            key = (
                label,
                ("single", index) if group_id is None or isinstance(group_id, list | dict) else group_id,
            )
            groups.setdefault(key, []).append(part)
        for (label, _group), parts in groups.items():
            self._add_instance(label, parts, image)

    def _add_instance(self, label: str, parts: list[_Part], image: Image) -> None:
        if any(part.is_mask for part in parts):
            geometry: Geometry = union([part.geometry for part in parts], image)
        else:
            geometry = Polygons(tuple(part.geometry for part in parts))
        self.used_labels.add(label)
        if label not in self.label_ids:
            self.label_ids[label] = max(self.label_ids.values(), default=0) + 1
        extra = {k: v for k, v in parts[0].shape.items() if k not in _SHAPE_KEYS}
        extra = clean_extra(extra, item=f"{image.file_name}: {label!r}", problems=self.problems)  # storable
        self.instances.append(
            Instance(len(self.instances) + 1, image.id, self.label_ids[label], geometry, extra=extra)
        )

    def build(self) -> Dataset:
        unlisted = sorted(self.used_labels - self.listed)
        if self.listed and unlisted:
            self.problems.add(None, f"labels not in labels.txt were given new ids: {unlisted}")
        dataset = Dataset()
        dataset.put_images(self.images.values(), notify=False)
        names = (
            self.label_ids
            if self.listed
            else {n: i for n, i in self.label_ids.items() if n in self.used_labels}
        )
        dataset.put_categories(
            (Category(i, n) for n, i in sorted(names.items(), key=lambda x: x[1])), notify=False
        )
        dataset.put_instances(with_default_z_order(self.instances, self.images), notify=False)
        return dataset


def _part(shape: dict, image: Image, budget: MaskBudget) -> _Part:
    shape_type = shape.get("shape_type") or "polygon"
    if not isinstance(shape_type, str):
        raise GeometryError(f"shape_type must be a string, got {type(shape_type).__name__}")
    points = _points(shape.get("points"))
    if shape_type in POLYGON_TYPES or (shape_type == "rectangle" and len(points) == 4):
        if len(points) < 3:
            raise GeometryError(f"a polygon needs at least 3 points, got {len(points)}")
        return _Part(points, False, shape)
    if shape_type == "rectangle" and len(points) == 2:
        (x1, x2), (y1, y2) = sorted(points[:, 0]), sorted(points[:, 1])
        return _Part(np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]), False, shape)
    if shape_type == "circle" and len(points) == 2:
        return _Part(_circle(points), False, shape)
    if shape_type == "mask":
        return _Part(placed_mask(shape.get("mask"), points, image, budget), True, shape)
    raise GeometryError(f"unsupported shape type {shape_type!r} ({len(points)} points): not a region")


def _points(value: Any) -> np.ndarray:
    try:
        points = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise GeometryError("points must be a list of [x, y] pairs") from None
    if points.ndim != 2 or points.shape[1] != 2:
        raise GeometryError("points must be a list of [x, y] pairs")
    if not np.isfinite(points).all():
        raise GeometryError("points have a NaN or infinite coordinate")
    return points


MAX_CIRCLE_VERTICES = 4096


def _circle(points: np.ndarray) -> np.ndarray:
    """labelme2coco's circle polygon: enough vertices that the chord gap stays under a pixel."""
    (cx, cy), (px, py) = points
    radius = float(np.hypot(px - cx, py - cy))
    if not radius > 0 or not np.isfinite(radius):
        raise GeometryError("a circle needs a finite radius")
    # Any circle that fits an image this tool opens needs far fewer vertices than the cap; past it the
    # formula would ask for billions (or divide by zero when 1/radius vanishes).
    if radius <= 0.5:
        count = 12
    else:
        angle = float(np.arccos(1 - 1 / radius))  # 0.0 once 1 / radius is below float64's resolution
        count = MAX_CIRCLE_VERTICES if angle == 0 else int(min(max(np.pi / angle, 12), MAX_CIRCLE_VERTICES))
    angles = 2 * np.pi * np.arange(count) / count
    return np.stack([cx + radius * np.sin(angles), cy + radius * np.cos(angles)], axis=1)


def _embedded_image(image_data: Any) -> tuple[int, int, str] | None:
    """(width, height, suffix) of the base64 image in `imageData`, EXIF orientation applied."""
    if not isinstance(image_data, str) or not image_data:
        return None
    try:
        with PilImage.open(io.BytesIO(base64.b64decode(image_data))) as embedded:
            width, height = oriented_size(embedded)
            suffix = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}.get(
                embedded.format or "", ".png"
            )
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError, PilImage.DecompressionBombError):
        return None
    return width, height, suffix


def _fallback_name(file: Path, image_path: Any, suffix: str | None) -> str:
    if (
        isinstance(image_path, str)
        and PurePosixPath(image_path.replace("\\", "/")).suffix.lower() in IMAGE_SUFFIXES
    ):
        return PurePosixPath(image_path.replace("\\", "/")).name
    for candidate in IMAGE_SUFFIXES:
        if file.with_suffix(candidate).is_file():
            return file.with_suffix(candidate).name
    return file.stem + (suffix or ".jpg")


def _as_size(value: Any) -> int | None:
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and float(value).is_integer()
        and value > 0
    ):
        return int(value)
    return None
