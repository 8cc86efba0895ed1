"""Read JSON input files fast (orjson), with one clear DatasetError when a file is not JSON at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from annotator.io.atomic import write_bytes_atomic
from annotator.io.errors import DatasetError
from annotator.io.file_kind import require_regular_file


def read_json(path: Path) -> Any:
    """Parse `path`; orjson first for speed, the standard library as a fallback.

    The fallback accepts NaN and Infinity, which some tools write: the file then still loads and the
    item holding the non-finite number is reported by the importer instead of the whole file failing.
    """
    require_regular_file(path)  # a FIFO or a device would never finish reading
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(path, "no such file") from None
    except OSError as exc:
        raise DatasetError(path, f"cannot read: {exc.strerror or exc}") from None
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark, as some Windows tools write
        data = data[3:]
    if not data.strip():
        raise DatasetError(path, "the file is empty")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        first_error = exc
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        pass
    kind = _binary_kind(data)
    if kind is not None:  # orjson's "str is not valid UTF-8: surrogates not allowed" says nothing
        raise DatasetError(path, f"not a JSON file: this is {kind}")
    detail = str(first_error)
    if "end of data" in detail:
        detail = f"the file is truncated ({detail})"
    raise DatasetError(path, f"not valid JSON: {detail}")


_SIGNATURES = (
    (b"SQLite format 3\x00", "an annotator project (SQLite): give the .json it was made from, or export it"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"PK\x03\x04", "a zip archive"),
)


def _binary_kind(data: bytes) -> str | None:
    """What a file that is not text is, when its first bytes say so; "binary data" for other bytes no
    JSON holds; None for text (then the JSON error itself is the news)."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    return "binary data" if b"\x00" in data[:4096] else None


def write_json(path: Path, value: Any, *, indent: bool = False) -> None:
    """Serialise with orjson and write atomically (compact unless `indent`: big COCO files stay small)."""
    option = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        data = orjson.dumps(value, option=option)
    except TypeError:
        # orjson stops at 64-bit integers, which an imported file's extra keys may hold: keep them exactly.
        data = json.dumps(value, indent=2 if indent else None, default=_plain).encode()
    write_bytes_atomic(path, data)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
