"""Rows of the project file <-> model values, and the checks a row must pass before the tool uses it.

A project file can arrive from anywhere (shipped with a dataset, edited by hand): a row is checked as
strictly as an imported COCO item (sizes, names, enums, a mask's run lengths, which pycocotools would
otherwise trust and write past its buffer). A damaged row is named and skipped; the others open.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson

from annotator.core.geometry import Geometry, GeometryError, Mask, Polygons, Rle
from annotator.core.model import Z_LIMIT, Category, Image, ImageStatus, Instance, Review, Source, SourceKind
from annotator.io.errors import DatasetError
from annotator.io.geometry_codec import decode_geometry, encode_geometry
from annotator.io.images import MAX_PIXELS
from annotator.io.paths import normalise_file_name
from annotator.io.values import fits_int64, is_valid_text

_EXACT_JSON = " "  # marks JSON written by the standard library (integers orjson cannot hold exactly)


class RowError(ValueError):
    """A row that cannot be used; the message says which field and why."""


# -- writing ---------------------------------------------------------------------------------------
def to_json(value: Any) -> str:
    """orjson for speed; the standard library (exact, marked) for integers past 64 bits."""
    try:
        return orjson.dumps(dict(value)).decode()
    except TypeError:
        return _EXACT_JSON + json.dumps(dict(value), ensure_ascii=False)


# The class's place in the person's order rides in the extra column under this key (no schema change);
# it never reaches `Category.extra`, where COCO's own unknown keys live.
_OWN_CATEGORY_KEY = "annotator"


def category_row(c: Category) -> tuple:
    color = None if c.color is None else ",".join(map(str, c.color))
    extra = dict(c.extra)
    extra.pop(_OWN_CATEGORY_KEY, None)
    if c.rank is not None:
        extra[_OWN_CATEGORY_KEY] = {"rank": c.rank}
    return (c.id, c.name, c.supercategory, color, to_json(extra))


def image_row(i: Image) -> tuple:
    return (i.id, i.file_name, i.width, i.height, i.status.value, to_json(i.extra))


def instance_row(i: Instance) -> tuple:
    s = i.source
    return (
        i.id, i.image_id, i.category_id, encode_geometry(i.geometry), i.z, s.kind.value, s.model, s.score,
        i.review.value, int(i.iscrowd), to_json(i.extra),
    )  # fmt: skip


# -- reading ---------------------------------------------------------------------------------------
def from_json(text: Any, field: str = "extra") -> dict[str, Any]:
    if text == "{}":
        return {}
    if not isinstance(text, str):
        raise RowError(f"{field} is not JSON text")
    try:
        value = json.loads(text) if text.startswith(_EXACT_JSON) else orjson.loads(text)
    except (ValueError, RecursionError):
        raise RowError(f"{field} is not valid JSON") from None
    if not isinstance(value, dict):
        raise RowError(f"{field} is not a JSON object")
    return value


def category_from_row(row: tuple) -> Category:
    cid, name, supercategory, color, extra = row
    extra = from_json(extra)
    own = extra.pop(_OWN_CATEGORY_KEY, None)
    rank = own.get("rank") if isinstance(own, dict) else None
    rank = rank if isinstance(rank, int) and not isinstance(rank, bool) and fits_int64(rank) else None
    return Category(
        _int(cid, "id"), _text(name, "name"), _text(supercategory, "supercategory"), _color(color), extra,
        rank=rank,
    )  # fmt: skip


def image_from_row(row: tuple) -> Image:
    iid, file_name, width, height, status, extra = row
    try:
        name = normalise_file_name(_text(file_name, "file_name"), source=None, item=None)
    except DatasetError as exc:
        raise RowError(exc.reason) from None
    if name != file_name:
        raise RowError(f"file_name {file_name!r} is not a plain relative path")
    width, height = _int(width, "width"), _int(height, "height")
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise RowError(f"size {width}x{height} is not one of an image this tool opens")
    return Image(
        _int(iid, "id"), file_name, width, height, _enum(ImageStatus, status, "status"), from_json(extra)
    )


def instance_from_row(row: tuple, images: dict[int, Image]) -> Instance:
    iid, image_id, category_id, blob, z, kind, model, score, review, iscrowd, extra = row
    image = images.get(image_id)
    if image is None:
        raise RowError(f"points at image {image_id!r}, which is not in the project")
    if not isinstance(blob, bytes):
        raise RowError("geometry is not binary data")
    try:
        geometry = checked_geometry(decode_geometry(blob), image)
    except (GeometryError, ValueError, IndexError, OverflowError) as exc:
        raise RowError(f"geometry is damaged ({exc})") from None
    if model is not None and not (isinstance(model, str) and is_valid_text(model)):
        raise RowError("model name is not text")
    if score is not None and not (isinstance(score, float | int) and math.isfinite(score)):
        raise RowError("score is not a finite number")
    if iscrowd not in (0, 1):
        raise RowError(f"iscrowd is {iscrowd!r}, not 0 or 1")
    source = Source(_enum(SourceKind, kind, "source"), model, None if score is None else float(score))
    return Instance(
        _int(iid, "id"), image_id, _int(category_id, "category_id"), geometry, _z(z), source,
        _enum(Review, review, "review"), bool(iscrowd), from_json(extra),
    )  # fmt: skip


def checked_geometry(geometry: Geometry, image: Image) -> Geometry:
    """A decoded geometry that fits its image (a mask's run lengths are checked by `valid_masks`)."""
    if isinstance(geometry, Mask):
        rle = geometry.rle
        if (rle.height, rle.width) != (image.height, image.width):
            raise GeometryError(f"mask is {rle.width}x{rle.height}, the image {image.width}x{image.height}")
    elif not isinstance(geometry, Polygons):
        raise GeometryError("unknown geometry")
    return geometry


def valid_masks(rles: list[Rle]) -> np.ndarray:
    """`_valid_masks` in chunks of about 200,000 characters: memory stays small."""
    out, chunk, size = [], [], 0
    for rle in rles:
        chunk.append(rle)
        size += len(rle.counts)
        if size > 200_000:
            out.append(_valid_masks(chunk))
            chunk, size = [], 0
    out.append(_valid_masks(chunk))
    return np.concatenate(out)


def _valid_masks(rles: list[Rle]) -> np.ndarray:
    count = len(rles)
    lengths = np.fromiter((len(r.counts) for r in rles), dtype=np.int64, count=count)
    expected = np.fromiter((r.height * r.width for r in rles), dtype=np.int64, count=count)
    ok = expected == 0  # an empty string covers nothing: only right for an empty image
    filled = np.flatnonzero(lengths)
    if filled.size == 0:
        return ok
    chars = np.frombuffer(b"".join(r.counts for r in rles), dtype=np.uint8).astype(np.int64) - 48
    char_start = (np.cumsum(lengths) - lengths)[filled]
    mask_start = np.zeros(chars.size, dtype=bool)
    mask_start[char_start] = True
    ends = (chars & 0x20) == 0
    starts_flag = np.concatenate(([True], ends[:-1])) | mask_start
    starts = np.flatnonzero(starts_flag)
    position = np.arange(chars.size) - starts[np.cumsum(starts_flag) - 1]
    bad = (chars < 0) | (chars > 63) | (position > 8) | (np.append(mask_start[1:], True) & ~ends)
    raw = np.add.reduceat((chars & 0x1F) << (5 * np.minimum(position, 8)), starts)
    last = np.append(starts[1:] - 1, chars.size - 1)
    raw -= ((chars[last] & 0x10) != 0) * np.left_shift(1, 5 * (np.minimum(position[last], 8) + 1))
    # numbers of each mask: from its first one; run i > 2 is raw i plus run i - 2 (two running sums)
    first = np.searchsorted(starts, char_start)
    index = np.arange(raw.size) - np.repeat(first, np.diff(np.append(first, raw.size)))
    odd = (index & 1).astype(bool)
    runs = raw
    for chain in (odd, ~odd & (index >= 2)):
        summed = np.cumsum(np.where(chain, raw, 0))
        base = np.concatenate(([0], summed))[first]
        runs = np.where(chain, summed - np.repeat(base, np.diff(np.append(first, raw.size))), runs)
    ok[filled] = (
        (np.maximum.reduceat(bad, char_start) == 0)
        & (np.minimum.reduceat(runs, first) >= 0)
        & (np.add.reduceat(runs, first) == expected[filled])
    )
    return ok


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowError(f"{field} is {value!r}, not an integer")
    return value


def _z(value: Any) -> int:
    """A stacking order the tool can put a shape in front of (top + 1 must still fit a 64-bit integer)."""
    z = _int(value, "z")
    if abs(z) > Z_LIMIT:
        raise RowError(f"z {z} is beyond the stacking orders this tool writes (+-2^53)")
    return z


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not is_valid_text(value):
        raise RowError(f"{field} is not text")
    return value


def _enum(kind: type, value: Any, field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise RowError(f"{field} {str(value)[:40]!r} is not one of: {allowed}") from None


def _color(value: Any) -> tuple[int, int, int] | None:
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else []
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) < 256 for p in parts):
        raise RowError(f"colour {str(value)[:40]!r} is not three values 0-255")
    return tuple(int(p) for p in parts)
