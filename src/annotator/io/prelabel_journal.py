"""The pre-labelling journal: one JSON line per finished image, appended as results arrive.

It lives beside the output (`OUT.journal`) while a run is under way, so a killed or failed run keeps
every finished image and `--resume` does only the rest. The first line records the run's settings (a
resume with other settings is refused: one output, one model); a line then names the model and its
classes, so a resume with nothing left to run writes the output without loading the model. A line cut
short by a kill is ignored and cut off; the output itself is written from the journal at the end.

Lines are written with one `os.write` each on a file opened with O_APPEND (a killed process leaves whole
lines in the page cache) and fsync'd at most once a second (a power cut loses at most that second).
The journal is opened with O_NOFOLLOW: a symlink planted at its name is refused, never written through.
A journal is read back as data from anywhere (it can be shipped beside a dataset's output name): a line
whose mask run lengths do not cover exactly its image, whose counts are not ASCII, whose image is larger
than any the tool opens or whose ids do not fit 64 bits is damaged, and its image is done again.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import math
import os
import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from annotator.core.geometry import Mask, Rle
from annotator.core.model import ID_MAX, Category
from annotator.core.predictor import Detection
from annotator.io.errors import DatasetError
from annotator.io.file_kind import kind_of
from annotator.io.images import MAX_PIXELS
from annotator.io.store_rows import valid_masks

FORMAT = "annotator.prelabel-journal"
VERSION = 1
SUFFIX = ".journal"
SYNC_EVERY_S = 1.0


@dataclass(frozen=True)
class PrelabelRecord:
    """One image's outcome: its size and detections, or why it failed. `file_name` is relative to the
    images root, as in the output."""

    file_name: str
    width: int
    height: int
    detections: tuple[Detection, ...] = ()
    error: str | None = None
    embedding: np.ndarray | None = None  # the image's pooled features (float32), with `prelabel --embeddings`

    @property
    def ok(self) -> bool:
        return self.error is None


def journal_path(out: Path) -> Path:
    return out.with_name(out.name + SUFFIX)


def encode_record(record: PrelabelRecord, *, detections: bool = True) -> bytes:
    """The record as one JSON line. Without `detections` only their count is kept (the project holds
    them)."""
    row: dict[str, Any] = {"file": record.file_name, "width": record.width, "height": record.height}
    if record.error is not None:
        row["error"] = record.error
    elif detections:
        row["detections"] = detection_rows(record.detections)
    else:
        row["count"] = len(record.detections)
    if record.embedding is not None:
        row["embedding"] = embedding_text(record.embedding)
    return orjson.dumps(row) + b"\n"


def embedding_text(vector: np.ndarray) -> str:
    """A vector as base64 of its little-endian float32 bytes: exact, and a third the size of decimals."""
    return base64.b64encode(np.asarray(vector, "<f4").tobytes()).decode("ascii")


def embedding_from_text(text: object) -> np.ndarray | None:
    """The inverse of `embedding_text` (None for None); ValueError for anything else than finite floats."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError("bad embedding")
    raw = base64.b64decode(text, validate=True)
    if not raw or len(raw) % 4:
        raise ValueError("bad embedding")
    vector = np.frombuffer(raw, "<f4").astype(np.float32)
    if not np.isfinite(vector).all():
        raise ValueError("embedding not finite")
    return vector


def decode_record(line: bytes) -> PrelabelRecord:
    """The record on one journal line; ValueError (or a subclass) when the line is not one."""
    row = orjson.loads(line)
    if not isinstance(row, dict):
        raise ValueError("not an object")
    file_name, width, height, error = row["file"], row["width"], row["height"], row.get("error")
    if not isinstance(file_name, str) or not _size(width, error) or not _size(height, error):
        raise ValueError("bad file, width or height")
    if width * height > MAX_PIXELS:
        raise ValueError("an image larger than any the tool opens")
    if error is not None:
        return PrelabelRecord(file_name, width, height, (), str(error))
    detections = detections_from_rows(row.get("detections", []), height, width)
    embedding = embedding_from_text(row.get("embedding"))
    return PrelabelRecord(file_name, width, height, detections, None, embedding)


def detection_rows(detections: Iterable[Detection]) -> list[dict[str, Any]]:
    """Detections as plain JSON values (RLE counts as text): how they are journalled and how Ray
    workers send them back."""
    return [
        {
            "category_id": d.category_id,
            "score": d.score,
            "box": list(d.box),
            "counts": d.mask.rle.counts.decode("ascii"),
        }
        for d in detections
    ]


def detections_from_rows(rows: object, height: int, width: int) -> tuple[Detection, ...]:
    """The inverse of `detection_rows` for an image of `height` x `width`; ValueError if malformed."""
    if not isinstance(rows, list):
        raise ValueError("detections are not a list")
    return tuple(_detection_from_row(row, height, width) for row in rows)


def _detection_from_row(row: Mapping[str, Any], height: int, width: int) -> Detection:
    if not isinstance(row, dict):
        raise ValueError("a detection is not an object")
    category_id, score, box, counts = row["category_id"], row["score"], row["box"], row["counts"]
    if (
        not _is_id(category_id)
        or not _is_number(score)
        or not isinstance(counts, str)
        or not counts.isascii()
    ):
        raise ValueError("bad detection")
    if not isinstance(box, list) or len(box) != 4 or not all(_is_number(v) for v in box):
        raise ValueError("bad box")
    rle = Rle(height, width, counts.encode("ascii"))
    if not valid_masks([rle])[0]:  # runs past the image: pycocotools' decoder writes past its buffer
        raise ValueError("mask run lengths do not cover the image")
    return Detection(category_id, float(score), tuple(float(v) for v in box), Mask(rle))


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -ID_MAX - 1 <= value <= ID_MAX


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _size(value: object, error: object) -> bool:
    """A width or height: positive, or 0 for an image that failed before its size was known."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (value > 0 or (value == 0 and error is not None))
    )


class PrelabelJournal:
    """An open journal. `records` holds what earlier runs finished (the last line per file wins)."""

    def __init__(
        self,
        path: Path,
        fd: int,
        records: dict[str, PrelabelRecord],
        skipped_lines: int,
        model: tuple[str, tuple[Category, ...]] | None = None,
    ) -> None:
        self.path = path
        self._fd: int | None = fd
        self.records = records
        self.skipped_lines = skipped_lines
        self.model = model  # (name, categories) of the model that made the records
        self._last_sync = time.monotonic()

    @classmethod
    def open(cls, path: Path, *, settings: Mapping[str, Any], resume: bool) -> PrelabelJournal:
        """Start a journal at `path`, or with `resume` continue the one there.

        Without `resume` a journal holding finished images is refused (one without any is started
        again); with it, a journal made with other `settings` is refused. Writes and fsyncs the header at once, so a folder that
        cannot be written or a full disk is found before any image is run.
        """
        header = {"format": FORMAT, "version": VERSION, "settings": dict(settings)}
        existing = _read(path)
        if existing is None or not existing[1]:  # none, or no image finished: start afresh
            journal = cls(path, _create(path), {}, 0)
            journal._write(orjson.dumps(header) + b"\n")
            journal.sync()
            return journal
        if not resume:
            raise DatasetError(
                path,
                f"an earlier run that stopped left {len(existing[1])} finished images here: add --resume "
                "to go on from where it stopped, or delete this file to start over",
            )
        old_settings, records, skipped, good_size, model = existing
        if old_settings != header["settings"]:
            raise DatasetError(path, _settings_mismatch(old_settings, header["settings"]))
        fd = _open_for_append(path)
        try:
            os.truncate(fd, good_size)  # cut a line left half-written by a kill
        except OSError as exc:
            os.close(fd)
            raise DatasetError(path, f"cannot write: {exc.strerror or exc}") from None
        return cls(path, fd, records, skipped, model)

    def set_model(self, name: str, categories: Iterable[Category]) -> None:
        """Record which model makes the results (its name and classes go into the output)."""
        categories = tuple(categories)
        entries = [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in categories]
        self._write(orjson.dumps({"model": {"name": name, "categories": entries}}) + b"\n")
        self.model = (name, categories)

    def append(self, record: PrelabelRecord, *, detections: bool = True) -> None:
        """Add one finished image; fsync if the last fsync is a second old."""
        self._write(encode_record(record, detections=detections))
        self.records[record.file_name] = record if detections else _without_detections(record)
        if time.monotonic() - self._last_sync >= SYNC_EVERY_S:
            self.sync()

    def done(self) -> set[str]:
        """The files already run, with or without error: `--resume` skips them all, so a resumed run
        reports and writes what one uninterrupted run would."""
        return set(self.records)

    def sync(self) -> None:
        if self._fd is None:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise DatasetError(self.path, f"cannot write: {exc.strerror or exc}") from None
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        """Close and delete: the output holds everything now."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _write(self, data: bytes) -> None:
        assert self._fd is not None, "journal is closed"
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            raise DatasetError(self.path, f"cannot write: {exc.strerror or exc}") from None
        if written != len(data):  # a full disk part-way: the cut line is ignored on resume
            raise DatasetError(self.path, "cannot write: the disk is full")


def _without_detections(record: PrelabelRecord) -> PrelabelRecord:
    return PrelabelRecord(record.file_name, record.width, record.height, (), record.error, record.embedding)


def _create(path: Path) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise DatasetError(path, f"cannot write here: {exc.strerror or exc}") from None
    _refuse_shared(fd, path)
    _lock(fd, path)
    os.ftruncate(fd, 0)  # what was there holds no finished image (a header, perhaps cut by a kill)
    return fd


def _open_for_append(path: Path) -> int:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DatasetError(path, f"cannot write: {exc.strerror or exc}") from None
    _refuse_shared(fd, path)
    _lock(fd, path)
    return fd


def _refuse_shared(fd: int, path: Path) -> None:
    """A journal with other hard links is another file's data too (a dataset can ship `OUT.journal`
    hard-linked to any file the person can write, and an empty one got our header and every image's
    predictions): closed and refused, never truncated or appended to."""
    if os.fstat(fd).st_nlink > 1:
        os.close(fd)
        raise DatasetError(path, "has other hard links; annotator will not write into it: remove it")


def _lock(fd: int, path: Path) -> None:
    """One run per journal: a second one (on the same output) is refused while the first writes."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise DatasetError(path, "another annotator prelabel is writing this output now") from None


def _read(path: Path) -> tuple[dict, dict[str, PrelabelRecord], int, int, Any] | None:
    """(settings, records, unreadable lines, size of the whole lines, model) of the journal at `path`;
    None if there is none, or a kill cut even its header."""
    try:  # never blocking: a named pipe at the name waited forever for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetError(
                path, "is a symbolic link; annotator never writes through links: remove it"
            ) from None
        raise DatasetError(path, f"cannot read: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise DatasetError(path, f"is {kind_of(mode)}, not a file: remove it, or give another --out")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    good_size = data.rfind(b"\n") + 1  # whatever follows the last newline was cut by a kill
    lines = data[:good_size].split(b"\n")[:-1]
    if not lines:
        return None
    try:
        header = orjson.loads(lines[0])
        if header.get("format") != FORMAT:
            raise ValueError
    except (ValueError, AttributeError):
        raise DatasetError(path, "not a pre-labelling journal (delete it, or give another --out)") from None
    if header.get("version") != VERSION or not isinstance(header.get("settings"), dict):
        raise DatasetError(path, f"a journal of another version ({header.get('version')!r}); delete it")
    records: dict[str, PrelabelRecord] = {}
    skipped, model = 0, None
    for line in lines[1:]:
        try:
            if line.startswith(b'{"model"'):
                model = _decode_model(line)
                continue
            record = decode_record(line)
        except (ValueError, KeyError, TypeError):  # binascii.Error is a ValueError
            skipped += 1  # damaged: the image is simply done again
            continue
        records[record.file_name] = record
    return header["settings"], records, skipped, good_size, model


def _decode_model(line: bytes) -> tuple[str, tuple[Category, ...]]:
    model = orjson.loads(line)["model"]
    categories = tuple(_category(c) for c in model["categories"])
    return str(model["name"]), categories


def _category(row: Any) -> Category:
    """A class of the model line; ValueError unless its id fits 64 bits and its names are text."""
    cid, name, supercategory = row["id"], row["name"], row.get("supercategory", "")
    if not _is_id(cid) or not isinstance(name, str) or not isinstance(supercategory, str):
        raise ValueError("bad class")
    return Category(cid, name, supercategory)


def _settings_mismatch(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    differences = [
        f"{key} {old.get(key)!r} then, {new.get(key)!r} now"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
    return (
        "made by a run with other settings (" + "; ".join(differences) + "): resume with the same "
        "settings, or delete it to start over"
    )
