"""The project store: a SQLite file that mirrors a Dataset, written through on every change.

Each dataset Change is committed in its own transaction as it happens, so a finished edit is on disk
at once (well within the one second the spec allows) and killing the process never corrupts the file
(WAL journal: a half-written transaction is rolled back on the next open). Values go in as parameters.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from annotator.core.geometry import GeometryError, Mask
from annotator.core.model import Category, Change, ChangeKind, Dataset, Image, Instance
from annotator.core.model_rounds import ModelRound
from annotator.core.wording import counted
from annotator.io.atomic import link_durably
from annotator.io.errors import DatasetError, ProjectFileChangedError
from annotator.io.file_guard import FileGuard
from annotator.io.gc_pause import gc_paused
from annotator.io.project_file import (
    Kind,
    check_schema,
    check_sidecars,
    connect_readonly,
    describe_os_error,
    describe_sqlite_error,
    identify,
    open_nofollow,
)
from annotator.io.store_rows import (
    RowError,
    category_from_row,
    category_row,
    from_json,
    image_from_row,
    image_row,
    instance_from_row,
    instance_row,
    to_json,
    valid_masks,
)
from annotator.io.values import is_valid_text

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
"""
_MODELS_TABLE = """CREATE TABLE IF NOT EXISTS models (
    round INTEGER PRIMARY KEY, path TEXT NOT NULL, date TEXT NOT NULL, images INTEGER NOT NULL,
    val_ap REAL, val_ap50 REAL, details TEXT NOT NULL)"""
_SCHEMA += _MODELS_TABLE + ";\n"
# Tables are only ever added (CREATE ... IF NOT EXISTS): an older file gains `models` with its first
# round (an existing file is identified, never changed, on opening), and an older annotator ignores a
# table it does not know, so adding one keeps SCHEMA_VERSION.
_INSERT_INSTANCE = "INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?,?,?,?,?,?,?)"
_INSERT_IMAGE = "INSERT OR REPLACE INTO images VALUES (?,?,?,?,?,?)"
_INSERT_CATEGORY = "INSERT OR REPLACE INTO categories VALUES (?,?,?,?,?)"
_SET_APPLICATION_ID = "PRAGMA application_id = 1095650900"  # project_file.APPLICATION_ID, "ANNT"


class ProjectStore:
    """One open SQLite project file. Use `write_all` once to fill it, then `attach` to write through."""

    def __init__(self, path: str | Path, *, bulk: bool = False, readonly: bool = False) -> None:
        """Open the project at `path`, or create an empty one there if nothing is there yet.

        `bulk`: no journal and no syncs, for filling a new file that is linked into place only once
        complete (see `create`). `readonly`: for reading only (`info`, `convert`), on a read-only
        project too. Every other store is WAL-journalled, and checks before each write that the file on
        disk is still the one it opened (`FileGuard`).
        """
        self.path = Path(path)
        self.readonly = readonly
        self.damaged_rows = 0  # rows the last `read_all` could not read (named in its problems)
        self._guard: FileGuard | None = None
        self._fd: int | None = None
        self._lost: ProjectFileChangedError | None = None
        try:
            if bulk:
                self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
                try:
                    self._conn.execute("PRAGMA journal_mode=OFF")
                    self._conn.execute("PRAGMA synchronous=OFF")
                    self._initialise()
                except BaseException:
                    self._conn.close()
                    raise
            else:
                self._conn = self._open_checked()
        except sqlite3.DatabaseError as exc:
            self._release_fd()
            reason = describe_sqlite_error(exc, self.path.parent)
            raise DatasetError(self.path, f"cannot open the project: {reason}") from None
        except BaseException:
            self._release_fd()
            raise
        self._dataset: Dataset | None = None
        self._pending: list[Change] = []
        self._grouping = 0
        self.save_error: DatasetError | None = None  # set while changes could not be written
        self.on_save_error: Callable[[DatasetError | None], None] | None = None

    def _open_checked(self) -> sqlite3.Connection:
        """Identify the file (or create it exclusively) through a descriptor that follows no link, then
        let SQLite open it; see `annotator.io.project_file`."""
        path = self.path
        check_sidecars(path)
        if self.readonly:
            self._fd = open_nofollow(path)
            identify(path, self._fd)
            return self._checked_connection(connect_readonly(path, immutable=not _has_log(path)), None)
        created = not os.path.lexists(path)
        if created:
            self._fd = open_nofollow(path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            kind = None
        else:
            self._fd = open_nofollow(path)
            _refuse_other_links(path, self._fd)
            kind = identify(path, self._fd)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
        try:
            _check_same_file(path, self._fd)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process; only a power cut can lose the last commit.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn = conn
            if created:
                self._initialise()
            else:
                self._checked_connection(conn, kind)
            self._guard = FileGuard(path, self._fd, conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _checked_connection(self, conn: sqlite3.Connection, kind: Kind | None) -> sqlite3.Connection:
        self._conn = conn
        conn.text_factory = _decoded  # a tampered row's bad UTF-8 names that row, not the whole file
        try:
            check_schema(conn, self.path)
            self._check_version()
            if kind is Kind.LEGACY:  # made before the id existed: adopt it
                conn.execute(_SET_APPLICATION_ID)
        except BaseException:
            conn.close()
            raise
        return conn

    def _initialise(self) -> None:
        self._conn.executescript(_SCHEMA)
        self._conn.execute(_SET_APPLICATION_ID)
        self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    # -- whole-dataset I/O ------------------------------------------------------------------------
    def write_all(self, dataset: Dataset, *, meta: dict[str, str] | None = None) -> None:
        """Replace the file's content with `dataset` in one transaction."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM instances")
            conn.execute("DELETE FROM images")
            conn.execute("DELETE FROM categories")
            conn.executemany(_INSERT_CATEGORY, map(category_row, dataset.categories.values()))
            conn.executemany(_INSERT_IMAGE, map(image_row, dataset.images.values()))
            conn.executemany(_INSERT_INSTANCE, map(instance_row, dataset.instances.values()))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('dataset_extra', ?)", (to_json(dataset.extra),))
            for key, value in (meta or {}).items():
                conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @classmethod
    def create(cls, path: Path, dataset: Dataset, *, meta: dict[str, str]) -> ProjectStore:
        """A new project file holding `dataset`, written unjournalled into a temporary file (twice as
        fast for 100k instances), synced and linked into place only if nothing is there yet: a crash
        leaves no half-made project, and an existing project is never replaced."""
        try:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".creating", dir=path.parent)
        except OSError as exc:
            raise DatasetError(path, f"cannot create the project: {describe_os_error(exc)}") from None
        os.close(fd)
        temp = Path(name)
        try:
            try:
                store = cls(temp, bulk=True)
                try:
                    store.write_all(dataset, meta=meta)
                finally:
                    store.close(discard=True)
            except DatasetError as exc:  # about the temporary file: say it of the project
                raise DatasetError(path, f"cannot create the project: {_reason(exc)}") from None
            link_durably(temp, path)
        except FileExistsError:
            raise DatasetError(path, "a project file appeared here meanwhile; it was left as it is") from None
        except OSError as exc:
            raise DatasetError(path, f"cannot create the project: {describe_os_error(exc)}") from None
        finally:
            temp.unlink(missing_ok=True)
        return cls(path)

    def read_all(self, problems: list[str] | None = None) -> Dataset:
        """The dataset in the file. A damaged row is skipped and named in `problems` (if given; otherwise
        it raises DatasetError naming it): the rest of the project still opens."""
        dataset = Dataset()
        reader = _RowReader(self.path, problems)
        try:
            categories = reader.rows(
                self._conn.execute("SELECT * FROM categories"), category_from_row, "category"
            )
            dataset.put_categories(categories, notify=False)
            images = reader.rows(self._conn.execute("SELECT * FROM images"), image_from_row, "image")
            dataset.put_images(reader.unique_file_names(images), notify=False)
            rows = self._conn.execute("SELECT * FROM instances ORDER BY id")
            with gc_paused():
                instances = list(
                    reader.rows(rows, lambda row: instance_from_row(row, dataset.images), "instance")
                )
                dataset.put_instances(reader.checked_masks(instances), notify=False)
            dataset.put_categories(reader.stand_ins(dataset), notify=False)
            try:
                dataset.extra.update(from_json(self.meta("dataset_extra") or "{}", "dataset_extra"))
            except RowError as exc:
                reader.damaged("meta row dataset_extra", str(exc))
        except sqlite3.DatabaseError as exc:
            raise DatasetError(
                self.path, f"project content is damaged ({describe_sqlite_error(exc)})"
            ) from None
        self.damaged_rows = reader.damaged_count
        if reader.skipped and not self.readonly:
            self._set_aside(reader.skipped)
        return dataset

    def _set_aside(self, skipped: dict[str, list[int]]) -> None:
        """Move damaged rows to `damaged_<table>`: kept for a person to look at, and out of the way of
        new items, which would otherwise get their ids and replace them."""
        with contextlib.suppress(DatasetError), self._transaction() as conn:
            for row_id in skipped.get("category", ()):
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS damaged_categories AS SELECT * FROM categories WHERE 0"
                )
                conn.execute(
                    "INSERT INTO damaged_categories SELECT * FROM categories WHERE id = ?", (row_id,)
                )
                conn.execute("DELETE FROM categories WHERE id = ?", (row_id,))
            for row_id in skipped.get("image", ()):
                conn.execute("CREATE TABLE IF NOT EXISTS damaged_images AS SELECT * FROM images WHERE 0")
                conn.execute("INSERT INTO damaged_images SELECT * FROM images WHERE id = ?", (row_id,))
                conn.execute("DELETE FROM images WHERE id = ?", (row_id,))
            for row_id in skipped.get("instance", ()):
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS damaged_instances AS SELECT * FROM instances WHERE 0"
                )
                conn.execute("INSERT INTO damaged_instances SELECT * FROM instances WHERE id = ?", (row_id,))
                conn.execute("DELETE FROM instances WHERE id = ?", (row_id,))

    def meta(self, key: str) -> str | None:
        """A setting the project holds, or None; a tampered one (not text) is a clear error naming it."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        value = row[0]
        if not isinstance(value, str) or "\x00" in value or not is_valid_text(value):
            raise DatasetError(
                self.path, f"the setting {key!r} in table meta is {repr(value)[:40]}, not text"
            )
        return value

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- the models trained on this project ---------------------------------------------------------
    def model_rounds(self) -> list[ModelRound]:
        """The rounds recorded so far, oldest first; a damaged row is left out."""
        rounds = []
        if self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'models'").fetchone() is None:
            return rounds  # a file made before rounds existed
        for row in self._conn.execute("SELECT * FROM models ORDER BY round"):
            with contextlib.suppress(ValueError, TypeError, OverflowError):
                rounds.append(_round_from_row(row))
        return rounds

    def add_model_round(self, model_round: ModelRound) -> None:
        """Record a round (in its own transaction, like every edit); a round of the same number is replaced."""
        with self._transaction() as conn:
            conn.execute(_MODELS_TABLE)
            conn.execute("INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?)", _round_row(model_round))

    def remove_model_round(self, number: int) -> None:
        """Forget round `number` (its files are the caller's to delete)."""
        with self._transaction() as conn:
            conn.execute(_MODELS_TABLE)
            conn.execute("DELETE FROM models WHERE round = ?", (number,))

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

    @property
    def lost(self) -> ProjectFileChangedError | None:
        """Set once the file was replaced, changed or deleted by another program: never written again."""
        return self._lost

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
            conn.executemany(_INSERT_INSTANCE, map(instance_row, change.items))
        elif kind is ChangeKind.INSTANCES_REMOVED:
            conn.executemany("DELETE FROM instances WHERE id = ?", ((i.id,) for i in change.items))
        elif kind in (ChangeKind.IMAGES_ADDED, ChangeKind.IMAGES_CHANGED):
            conn.executemany(_INSERT_IMAGE, map(image_row, change.items))
        elif kind is ChangeKind.CATEGORIES_CHANGED:
            self._sync_categories(conn)

    def _sync_categories(self, conn: sqlite3.Connection) -> None:
        assert self._dataset is not None
        categories = self._dataset.categories
        stored = {row[0] for row in conn.execute("SELECT id FROM categories")}
        conn.executemany("DELETE FROM categories WHERE id = ?", ((i,) for i in stored - set(categories)))
        conn.executemany(_INSERT_CATEGORY, map(category_row, categories.values()))

    def close(self, *, discard: bool = False) -> None:
        """Close the file; raises DatasetError (and stays open) while changes cannot be written, so the
        caller can tell the user and offer to save elsewhere instead of losing them. `discard` drops
        them (the person chose to)."""
        if not discard and not self.flush():
            raise DatasetError(
                self.path, f"{counted(self.pending, 'change')} could not be saved: {self.save_error.reason}"
            )
        if self._guard is not None and self._lost is None:
            try:  # replaced since our last write? Then SQLite must not close onto it (nor leave our WAL)
                self._guard.check()
            except ProjectFileChangedError as error:
                self._stand_down(error)
                if not discard:
                    self.save_error = error
                    raise DatasetError(
                        self.path, f"your saved edits are not in it any more: {error.reason}"
                    ) from None
        self._pending.clear()
        if self._dataset is not None:
            self._dataset.unsubscribe(self.on_change)
            self._dataset = None
        if self._lost is None:
            self._conn.close()
        self._release_fd()

    # -- internals --------------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        if self.readonly:
            raise DatasetError(self.path, "opened for reading only")
        if self._lost is not None:
            raise self._lost
        if self._guard is not None:
            try:
                self._guard.check()
            except ProjectFileChangedError as error:
                self._stand_down(error)
                raise
        return _Transaction(self._conn, self.path, self._guard)

    def _stand_down(self, error: ProjectFileChangedError) -> None:
        """Stop writing for good: close the connection without letting SQLite put our log into the file
        that is there now, and take our log away from beside it."""
        self._lost = error
        assert self._guard is not None
        with contextlib.suppress(OSError):
            self._guard.stand_down()
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        with contextlib.suppress(OSError):
            self._guard.remove_log()

    def _release_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _check_version(self) -> None:
        version = self.meta("schema_version")
        if not isinstance(version, str) or not version.strip().isdigit():
            raise DatasetError(
                self.path,
                f"project schema version {str(version)[:40]!r} is not a number: the file was altered",
            )
        if int(version) > SCHEMA_VERSION:
            raise DatasetError(self.path, f"made by a newer annotator (schema {version}); please upgrade")


DAMAGED_TABLES = {
    "category": "damaged_categories",
    "image": "damaged_images",
    "instance": "damaged_instances",
}


def _decoded(data: bytes) -> str:
    """SQLite text as str; bad UTF-8 becomes lone surrogates, which the row checks refuse by row."""
    return data.decode("utf-8", "surrogateescape")


class _RowReader:
    """Decode rows one by one; a damaged one is reported (or raised) with its table and id."""

    def __init__(self, path: Path, problems: list[str] | None) -> None:
        self.path, self.problems = path, problems
        self.skipped: dict[str, list[int]] = {}  # "image" -> ids of the rows not loaded
        self.damaged_count = 0

    def rows(self, cursor: Iterable[tuple], decode: Callable[[tuple], Any], what: str) -> Iterator[Any]:
        for row in cursor:
            try:
                yield decode(row)
            except (RowError, GeometryError, ValueError, TypeError) as exc:
                self.skipped.setdefault(what, []).append(row[0])
                self.damaged(
                    f"{what} {str(row[0])[:30]}",
                    f"damaged row not loaded, kept in table {DAMAGED_TABLES[what]} ({exc})",
                )

    def checked_masks(self, instances: list[Instance]) -> list[Instance]:
        """`instances` less those whose mask run lengths do not cover their image (checked all at once)."""
        masks = [(i, inst) for i, inst in enumerate(instances) if isinstance(inst.geometry, Mask)]
        valid = valid_masks([inst.geometry.rle for _, inst in masks])
        if valid.all():
            return instances
        dropped = {i for (i, _), ok in zip(masks, valid, strict=True) if not ok}
        for i in sorted(dropped):
            self.skipped.setdefault("instance", []).append(instances[i].id)
            self.damaged(
                f"instance {instances[i].id}",
                "damaged row not loaded, kept in table damaged_instances (mask run lengths do not cover the image)",
            )
        return [inst for i, inst in enumerate(instances) if i not in dropped]

    def unique_file_names(self, images: Iterable[Image]) -> Iterator[Image]:
        """`images` less a later row naming a file an earlier one has (two rows for one file would
        export it twice and save edits to either)."""
        first: dict[str, int] = {}
        for image in images:
            owner = first.setdefault(image.file_name, image.id)
            if owner == image.id:
                yield image
                continue
            self.skipped.setdefault("image", []).append(image.id)
            self.damaged(
                f"image {image.id}",
                f"damaged row not loaded, kept in table damaged_images (file_name {image.file_name!r} is "
                f"image {owner}'s too)",
            )

    def stand_ins(self, dataset: Dataset) -> list[Category]:
        """A class named after its id for each id instances point at that the project lacks (a tampered
        row, or a class row set aside): the instances stay visible and editable, and exports name it."""
        missing = sorted({i.category_id for i in dataset.instances.values()} - set(dataset.categories))
        for category_id in missing:
            if self.problems is not None:
                self.problems.append(
                    f"class {category_id}: instances point at it, but the project has no such class; "
                    f"a class named {str(category_id)!r} stands in for it"
                )
        return [Category(category_id, str(category_id)) for category_id in missing]

    def damaged(self, item: str, reason: str) -> None:
        self.damaged_count += 1
        if self.problems is None:
            raise DatasetError(self.path, reason, item=item)
        self.problems.append(f"{item}: {reason}")


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error; disk errors become DatasetError."""

    def __init__(self, conn: sqlite3.Connection, path: Path, guard: FileGuard | None) -> None:
        self._conn, self._path, self._guard = conn, path, guard

    def __enter__(self) -> sqlite3.Connection:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise DatasetError(
                self._path, f"could not save ({describe_sqlite_error(error, self._path.parent)})"
            ) from None
        return self._conn

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise DatasetError(
                    self._path, f"could not save ({describe_sqlite_error(error, self._path.parent)})"
                ) from None
            if self._guard is not None:
                self._guard.written()
            return False
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):  # a constraint a tampered file added fails too: say so
            raise DatasetError(
                self._path, f"could not save ({describe_sqlite_error(exc, self._path.parent)})"
            ) from None
        if isinstance(exc, OverflowError):  # a value SQLite cannot hold: never silently unsaved
            raise DatasetError(self._path, f"could not save ({exc})") from None
        return False


def _check_same_file(path: Path, fd: int) -> None:
    """The file SQLite just opened by name is the one identified through `fd` (no swap in between)."""
    opened, now = os.fstat(fd), os.lstat(path)
    if (opened.st_dev, opened.st_ino) != (now.st_dev, now.st_ino):
        raise DatasetError(path, "the file changed while it was being opened; try again")


def _reason(error: DatasetError) -> str:
    for prefix in ("cannot open the project: ", "could not save (", "cannot create the project: "):
        if error.reason.startswith(prefix):
            return error.reason[len(prefix) :].rstrip(")")
    return error.reason


def _round_row(r: ModelRound) -> tuple:
    return (r.number, r.path, r.date, r.images, r.val_ap, r.val_ap50, to_json(r.details))


def _round_from_row(row: tuple) -> ModelRound:
    """A recorded round; a tampered row (wrong types, bad text, a score that is not a finite number)
    raises ValueError and is passed over."""
    number, path, date, images, val_ap, val_ap50, details = row
    if not (_is_int(number) and _is_int(images) and images >= 0):
        raise ValueError("round and images must be integers")
    if not (isinstance(path, str) and isinstance(date, str) and is_valid_text(path + date)):
        raise ValueError("path and date must be text")
    if not isinstance(details, str | bytes):
        raise ValueError("details must be JSON text")
    details = orjson.loads(details)
    if not isinstance(details, dict):
        raise ValueError("details must be an object")
    return ModelRound(number=number, path=path, date=date, images=images, val_ap=_optional_float(val_ap),
                      val_ap50=_optional_float(val_ap50), details=details)  # fmt: skip


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_float(value: object) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError("a score must be a finite number")
    return float(value)


def _refuse_other_links(path: Path, fd: int) -> None:
    """SQLite writes a project in place: a file with other hard links is another name's data too (a
    dataset can ship `project.annotator` hard-linked to a project outside it, which every edit then
    changed). Reading it (`info`, `convert`) is fine; writing is refused, as for the lock and the log."""
    if os.fstat(fd).st_nlink > 1:
        raise DatasetError(
            path,
            "has other hard links (the same file under another name, perhaps outside this folder); "
            "annotator will not write into it: replace it by a copy of its own (cp, then mv over it)",
        )


def _has_log(path: Path) -> bool:
    return os.path.lexists(path.with_name(path.name + "-wal"))
