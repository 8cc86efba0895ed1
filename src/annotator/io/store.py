"""The project store: a SQLite file that mirrors a Dataset, written through on every change.

Each dataset Change is committed in its own transaction as it happens, so a finished edit is on disk
at once (well within the one second the spec allows) and killing the process never corrupts the file
(WAL journal: a half-written transaction is rolled back on the next open). Values go in as parameters.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from annotator.core.geometry import GeometryError
from annotator.core.model import (
    Category,
    Change,
    ChangeKind,
    Dataset,
    Image,
    ImageStatus,
    Instance,
    Review,
    Source,
    SourceKind,
)
from annotator.core.model_rounds import ModelRound
from annotator.io.atomic import replace_durably
from annotator.io.errors import DatasetError
from annotator.io.gc_pause import gc_paused
from annotator.io.geometry_codec import decode_geometry, encode_geometry

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS categories (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, supercategory TEXT NOT NULL,
    color TEXT, extra TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY, file_name TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
    status TEXT NOT NULL, extra TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instances (
    id INTEGER PRIMARY KEY, image_id INTEGER NOT NULL, category_id INTEGER NOT NULL,
    geometry BLOB NOT NULL, z INTEGER NOT NULL, source TEXT NOT NULL, model TEXT, score REAL,
    review TEXT NOT NULL, iscrowd INTEGER NOT NULL, extra TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS instances_by_image ON instances (image_id);
CREATE TABLE IF NOT EXISTS models (
    round INTEGER PRIMARY KEY, path TEXT NOT NULL, date TEXT NOT NULL, images INTEGER NOT NULL,
    val_ap REAL, val_ap50 REAL, details TEXT NOT NULL);
"""
# Tables are only ever added (CREATE ... IF NOT EXISTS, at every open): an older file gains them when it
# is opened, and an older annotator ignores a table it does not know, so adding one keeps SCHEMA_VERSION.
_INSERT_INSTANCE = "INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?,?,?,?,?,?,?)"
_INSERT_IMAGE = "INSERT OR REPLACE INTO images VALUES (?,?,?,?,?,?)"
_INSERT_CATEGORY = "INSERT OR REPLACE INTO categories VALUES (?,?,?,?,?)"


class ProjectStore:
    """One open SQLite project file. Use `write_all` once to fill it, then `attach` to write through."""

    def __init__(self, path: str | Path, *, bulk: bool = False) -> None:
        """`bulk`: no journal and no syncs, for filling a new file that is renamed into place only once
        complete (see `create`); every other store is WAL-journalled."""
        self.path = Path(path)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            if bulk:
                self._conn.execute("PRAGMA journal_mode=OFF")
                self._conn.execute("PRAGMA synchronous=OFF")
            else:
                self._conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives a killed process; only a power cut can lose the last commit.
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            raise DatasetError(self.path, f"not a readable annotator project ({exc})") from None
        self._dataset: Dataset | None = None
        self._pending: list[Change] = []
        self._grouping = 0
        self.save_error: DatasetError | None = None  # set while changes could not be written
        self.on_save_error: Callable[[DatasetError | None], None] | None = None

    # -- whole-dataset I/O ------------------------------------------------------------------------
    def write_all(self, dataset: Dataset, *, meta: dict[str, str] | None = None) -> None:
        """Replace the file's content with `dataset` in one transaction."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM instances")
            conn.execute("DELETE FROM images")
            conn.execute("DELETE FROM categories")
            conn.executemany(_INSERT_CATEGORY, map(_category_row, dataset.categories.values()))
            conn.executemany(_INSERT_IMAGE, map(_image_row, dataset.images.values()))
            conn.executemany(_INSERT_INSTANCE, map(_instance_row, dataset.instances.values()))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('dataset_extra', ?)", (_json(dataset.extra),))
            for key, value in (meta or {}).items():
                conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @classmethod
    def create(cls, path: Path, dataset: Dataset, *, meta: dict[str, str]) -> ProjectStore:
        """A new project file holding `dataset`, written unjournalled into a temporary file (twice as
        fast for 100k instances), synced and renamed into place: a crash leaves no half-made project."""
        temp = path.with_name(f".{path.name}.creating")
        temp.unlink(missing_ok=True)
        try:
            store = cls(temp, bulk=True)
            store.write_all(dataset, meta=meta)
            store.close()
            replace_durably(temp, path)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise DatasetError(path, f"cannot create the project: {exc.strerror or exc}") from None
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return cls(path)

    def read_all(self) -> Dataset:
        dataset = Dataset()
        conn = self._conn
        try:
            dataset.put_categories(
                map(_category_from_row, conn.execute("SELECT * FROM categories")), notify=False
            )
            dataset.put_images(map(_image_from_row, conn.execute("SELECT * FROM images")), notify=False)
            rows = conn.execute("SELECT * FROM instances ORDER BY id")
            with gc_paused():
                dataset.put_instances(map(_instance_from_row, rows), notify=False)
            extra = self.meta("dataset_extra")
            dataset.extra.update(orjson.loads(extra) if extra else {})
        except (sqlite3.DatabaseError, GeometryError, ValueError, KeyError) as exc:
            raise DatasetError(self.path, f"project content is damaged ({exc})") from None
        return dataset

    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- the models trained on this project ---------------------------------------------------------
    def model_rounds(self) -> list[ModelRound]:
        """The rounds recorded so far, oldest first; a damaged row is left out."""
        rounds = []
        for row in self._conn.execute("SELECT * FROM models ORDER BY round"):
            with contextlib.suppress(ValueError, TypeError):
                rounds.append(_round_from_row(row))
        return rounds

    def add_model_round(self, model_round: ModelRound) -> None:
        """Record a round (in its own transaction, like every edit); a round of the same number is replaced."""
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?)", _round_row(model_round))

    # -- write-through ----------------------------------------------------------------------------
    def attach(self, dataset: Dataset) -> None:
        """Write every later change of `dataset` to the file as it happens."""
        self._dataset = dataset
        dataset.subscribe(self.on_change)

    def on_change(self, change: Change) -> None:
        """Write the change now; if the disk refuses (full, read-only), keep it and every later change in
        order, and write them all as soon as a write succeeds again (writes are idempotent)."""
        self._pending.append(change)
        if not self._grouping:
            self.flush()

    @contextlib.contextmanager
    def grouped(self) -> Iterator[None]:
        """Write the changes made inside as one transaction: all of them on disk, or none (one
        pre-labelled image: its instances and its status together)."""
        self._grouping += 1
        try:
            yield
        finally:
            self._grouping -= 1
            if not self._grouping:
                self.flush()

    @property
    def pending(self) -> int:
        """Changes made in memory but not yet on disk (0 unless saving has failed)."""
        return len(self._pending)

    def flush(self) -> bool:
        """Try to write what is pending; True when everything is on disk."""
        try:
            if self._pending:
                with self._transaction() as conn:
                    for change in self._pending:
                        self._write(conn, change)
                self._pending.clear()
        except DatasetError as error:
            first_failure = self.save_error is None
            self.save_error = error
            if first_failure and self.on_save_error is not None:
                self.on_save_error(error)
            return False
        if self.save_error is not None:
            self.save_error = None
            if self.on_save_error is not None:
                self.on_save_error(None)
        return True

    def _write(self, conn: sqlite3.Connection, change: Change) -> None:
        kind = change.kind
        if kind in (ChangeKind.INSTANCES_ADDED, ChangeKind.INSTANCES_CHANGED):
            conn.executemany(_INSERT_INSTANCE, map(_instance_row, change.items))
        elif kind is ChangeKind.INSTANCES_REMOVED:
            conn.executemany("DELETE FROM instances WHERE id = ?", ((i.id,) for i in change.items))
        elif kind in (ChangeKind.IMAGES_ADDED, ChangeKind.IMAGES_CHANGED):
            conn.executemany(_INSERT_IMAGE, map(_image_row, change.items))
        elif kind is ChangeKind.CATEGORIES_CHANGED:
            self._sync_categories(conn)

    def _sync_categories(self, conn: sqlite3.Connection) -> None:
        assert self._dataset is not None
        categories = self._dataset.categories
        stored = {row[0] for row in conn.execute("SELECT id FROM categories")}
        conn.executemany("DELETE FROM categories WHERE id = ?", ((i,) for i in stored - set(categories)))
        conn.executemany(_INSERT_CATEGORY, map(_category_row, categories.values()))

    def close(self) -> None:
        """Close the file; raises DatasetError (and stays open) while changes cannot be written, so the
        caller can tell the user and offer to save elsewhere instead of losing them."""
        if not self.flush():
            raise DatasetError(
                self.path, f"{self.pending} change(s) could not be saved: {self.save_error.reason}"
            )
        if self._dataset is not None:
            self._dataset.unsubscribe(self.on_change)
            self._dataset = None
        self._conn.close()

    # -- internals --------------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn, self.path)

    def _check_version(self) -> None:
        version = self.meta("schema_version")
        if version is None:
            self._conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(version) > SCHEMA_VERSION:
            raise DatasetError(self.path, f"made by a newer annotator (schema {version}); please upgrade")


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error; disk errors become DatasetError."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn, self._path = conn, path

    def __enter__(self) -> sqlite3.Connection:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise DatasetError(self._path, f"could not save ({error})") from None
        return self._conn

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self._conn.execute("COMMIT")
                return False
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise DatasetError(self._path, f"could not save ({error})") from None
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError):
            raise DatasetError(self._path, f"could not save ({exc})") from None
        return False


def _json(value: Any) -> str:
    return orjson.dumps(dict(value)).decode()


# The class's place in the person's order rides in the extra column under this key (no schema change);
# it never reaches `Category.extra`, where COCO's own unknown keys live.
_OWN_CATEGORY_KEY = "annotator"


def _category_row(c: Category) -> tuple:
    color = None if c.color is None else ",".join(map(str, c.color))
    extra = dict(c.extra)
    extra.pop(_OWN_CATEGORY_KEY, None)
    if c.rank is not None:
        extra[_OWN_CATEGORY_KEY] = {"rank": c.rank}
    return (c.id, c.name, c.supercategory, color, _json(extra))


def _category_from_row(row: tuple) -> Category:
    cid, name, supercategory, color, extra = row
    rgb = None if color is None else tuple(int(v) for v in color.split(","))
    extra = orjson.loads(extra)
    own = extra.pop(_OWN_CATEGORY_KEY, None)
    rank = own.get("rank") if isinstance(own, dict) else None
    rank = rank if isinstance(rank, int) and not isinstance(rank, bool) else None
    return Category(cid, name, supercategory, rgb, extra, rank=rank)


def _image_row(i: Image) -> tuple:
    return (i.id, i.file_name, i.width, i.height, i.status.value, _json(i.extra))


def _image_from_row(row: tuple) -> Image:
    iid, file_name, width, height, status, extra = row
    return Image(iid, file_name, width, height, ImageStatus(status), orjson.loads(extra))


def _round_row(r: ModelRound) -> tuple:
    return (r.number, r.path, r.date, r.images, r.val_ap, r.val_ap50, _json(r.details))


def _round_from_row(row: tuple) -> ModelRound:
    number, path, date, images, val_ap, val_ap50, details = row
    details = orjson.loads(details)
    if not isinstance(details, dict):
        raise ValueError("details must be an object")
    return ModelRound(number=int(number), path=str(path), date=str(date), images=int(images),
                      val_ap=_optional_float(val_ap), val_ap50=_optional_float(val_ap50),
                      details=details)  # fmt: skip


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _instance_row(i: Instance) -> tuple:
    s = i.source
    return (
        i.id, i.image_id, i.category_id, encode_geometry(i.geometry), i.z, s.kind.value, s.model, s.score,
        i.review.value, int(i.iscrowd), _json(i.extra),
    )  # fmt: skip


def _instance_from_row(row: tuple) -> Instance:
    iid, image_id, category_id, blob, z, kind, model, score, review, iscrowd, extra = row
    return Instance(
        iid, image_id, category_id, decode_geometry(blob), z, Source(SourceKind(kind), model, score),
        Review(review), bool(iscrowd), orjson.loads(extra) if extra != "{}" else {},
    )  # fmt: skip
