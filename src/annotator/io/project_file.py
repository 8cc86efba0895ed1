"""Know a project file for ours before writing a byte to it, and never write through a link.

A dataset folder can ship anything under our names: `project.annotator` as a symlink to a file outside,
another application's SQLite database, an empty file, sidecar files (`-wal`, `-shm`, `-journal`, which
SQLite opens by name itself) that are symlinks. Each is refused with a clear message before SQLite opens
the file for writing: the header is read through a descriptor opened with O_NOFOLLOW, our
`application_id` (set when we create a project) is checked there, and a file without it is adopted only
if a read-only connection finds our schema (projects made before the id existed).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
import urllib.parse
from enum import Enum
from pathlib import Path

from annotator.io.errors import DatasetError
from annotator.io.file_kind import kind_of

APPLICATION_ID = 0x414E4E54  # "ANNT", in the SQLite header at offset 68
SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")
_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100
# our tables and the columns each must have (the reader selects them by position)
SCHEMA_COLUMNS = {
    "meta": ("key", "value"),
    "categories": ("id", "name", "supercategory", "color", "extra"),
    "images": ("id", "file_name", "width", "height", "status", "extra"),
    "instances": (
        "id", "image_id", "category_id", "geometry", "z", "source", "model", "score", "review", "iscrowd",
        "extra",
    ),
}  # fmt: skip


class Kind(Enum):
    OURS = "ours"  # our application_id
    LEGACY = "legacy"  # no application_id, but our schema: made before the id existed


def open_nofollow(path: Path, flags: int = os.O_RDONLY) -> int:
    """A descriptor for `path` itself, never for what a symlink there points at; only regular files."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetError(path, link_refusal(path)) from None
        raise DatasetError(path, f"cannot open: {describe_os_error(exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DatasetError(path, f"is {kind_of(info.st_mode)}, not a file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def link_refusal(path: Path) -> str:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return (
        f"is a symbolic link (to {target}); annotator never writes through links: "
        "open the file it points to, or remove the link"
    )


def check_sidecars(path: Path) -> None:
    """Refuse a project whose `-wal`, `-shm` or `-journal` file is a link or not a plain file: SQLite
    would open it by name and write into whatever it points at."""
    for suffix in SIDECAR_SUFFIXES:
        sidecar = path.with_name(path.name + suffix)
        try:
            info = os.lstat(sidecar)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise DatasetError(sidecar, f"cannot check: {describe_os_error(exc)}") from None
        if stat.S_ISLNK(info.st_mode):
            raise DatasetError(sidecar, link_refusal(sidecar))
        if not stat.S_ISREG(info.st_mode):
            raise DatasetError(sidecar, f"is {kind_of(info.st_mode)}, not a file; remove it")
        if info.st_nlink > 1:
            raise DatasetError(sidecar, "has other hard links; annotator will not write into it: remove it")


def check_project_file(path: Path) -> Kind:
    """`identify` through a descriptor of its own, with the sidecar files checked too."""
    check_sidecars(path)
    fd = open_nofollow(path)
    try:
        return identify(path, fd)
    finally:
        os.close(fd)


def identify(path: Path, fd: int) -> Kind:
    """Ours, or made by an older annotator; anything else raises DatasetError naming what it is."""
    header = os.pread(fd, _HEADER_SIZE, 0)
    if not header:
        raise DatasetError(
            path, "is empty (0 bytes), not an annotator project: delete it to start a new project here"
        )
    if len(header) < _HEADER_SIZE or not header.startswith(_MAGIC):
        raise DatasetError(path, "not an annotator project (not a SQLite database)")
    application_id = int.from_bytes(header[68:72], "big")
    if application_id == APPLICATION_ID:
        return Kind.OURS
    if application_id != 0:
        raise DatasetError(
            path, f"is a database of another application (application_id {application_id:#x}), not a project"
        )
    # made by an older annotator? Its schema may still be in a log left by a killed process.
    has_log = os.path.lexists(path.with_name(path.name + "-wal"))
    with contextlib.closing(connect_readonly(path, immutable=not has_log)) as conn:
        try:
            check_schema(conn, path)
        except sqlite3.DatabaseError as exc:
            raise DatasetError(path, f"not an annotator project ({describe_sqlite_error(exc)})") from None
    return Kind.LEGACY


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Our four tables with their columns; raises DatasetError for any other SQLite file."""
    for table, columns in SCHEMA_COLUMNS.items():
        found = tuple(row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (table,)))
        if found[: len(columns)] != columns:
            raise DatasetError(path, "is a SQLite database of another application, not an annotator project")
    _check_untampered(conn, path)


def _check_untampered(conn: sqlite3.Connection, path: Path) -> None:
    """Our tables as we make them: real tables keyed by their first column, and no trigger (a trigger
    shipped in a project could delete or rewrite rows on every save)."""
    triggers = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    if triggers:
        raise DatasetError(
            path, f"holds a trigger ({triggers[0]!r}), which annotator projects never have; refused, as it "
            "could change what is saved",
        )  # fmt: skip
    for table, columns in SCHEMA_COLUMNS.items():
        kind = conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        keys = [row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?) WHERE pk > 0", (table,))]
        if kind is None or kind[0] != "table" or keys != [columns[0]]:
            raise DatasetError(
                path, f"its table {table} has been changed (not keyed by {columns[0]}); not an annotator "
                "project as annotator writes it",
            )  # fmt: skip


def connect_readonly(path: Path, *, immutable: bool = False) -> sqlite3.Connection:
    """A connection that cannot write. `immutable` also skips locks and the WAL: no file is created
    beside `path` (only for reading what the main file holds, such as its schema)."""
    query = "mode=ro&immutable=1" if immutable else "mode=ro"
    uri = f"file:{urllib.parse.quote(str(path.absolute()))}?{query}"
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=True)
    except sqlite3.Error as exc:
        raise DatasetError(path, f"cannot open: {describe_sqlite_error(exc)}") from None


def describe_sqlite_error(exc: sqlite3.Error, where: Path | None = None) -> str:
    """SQLite's message as a person would say it; the full disk and read-only cases first. SQLite
    reports a full disk met while making its shared-memory file as a plain I/O error: `where` (the
    project's folder) lets the free space decide."""
    text = str(exc)
    lowered = text.lower()
    if "disk is full" in lowered or (where is not None and "i/o error" in lowered and disk_is_full(where)):
        return "the disk is full"
    if "readonly" in lowered or "read-only" in lowered:
        return "the project file or its folder is read-only"
    if "not a database" in lowered:
        return "not a SQLite database"
    if "malformed" in lowered:
        return f"the file is damaged ({text})"
    if "locked" in lowered:
        return "another program holds the file locked"
    if where is not None and "i/o error" in lowered and not os.access(where, os.W_OK):  # SQLite's words
        return "the project's folder cannot be written (its permissions, or it is gone)"
    return text


def disk_is_full(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"not allowed here ({exc.strerror})"
    return exc.strerror or str(exc)
