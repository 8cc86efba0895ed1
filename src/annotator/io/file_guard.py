"""Notice that the project file on disk is no longer the one we opened, before writing to it again.

A git checkout, a sync client or a backup restore can put an older copy in its place (a new file renamed
over it, or the old bytes copied into it), or the folder can be deleted. SQLite keeps writing to the file
it opened and to the `-wal` beside the path; the next open then mixes our log with the other file and
the project is corrupt. So before each write the path is checked against the open file (device and
inode, size and modification time after our own last write, SQLite's `data_version` for commits by
another connection), and on a mismatch writing stops for good and our log is taken out of the way.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from pathlib import Path

from annotator.io.errors import ProjectFileChangedError

_WAL_INDEX_HEADER = 136  # two copies of the 48-byte header and the checkpoint info (SQLite's wal.c)
_KEEP = "your edits are kept in memory: save them as a new project (File ▸ Save as new project…)"


class FileGuard:
    """Created right after the project file is opened (with the descriptor it was identified by)."""

    def __init__(self, path: Path, fd: int, conn: sqlite3.Connection) -> None:
        self.path = path
        opened = os.fstat(fd)
        self._identity = (opened.st_dev, opened.st_ino)
        self._conn = conn
        self._stamp = self._current_stamp()
        if self._stamp is None or self._stamp[:2] != self._identity:
            raise ProjectFileChangedError(path, "the file changed while it was being opened; try again")
        self._data_version = self._version()
        self._sidecars: dict[str, tuple[int, int]] = {}
        self._remember_sidecars()

    def check(self) -> None:
        """Raise ProjectFileChangedError if anything but this connection changed the file since."""
        stamp = self._current_stamp()
        if stamp is None:
            raise ProjectFileChangedError(self.path, f"the project file was deleted; {_KEEP}")
        if stamp[:2] != self._identity:
            raise ProjectFileChangedError(
                self.path, f"the project file was replaced by another program (a restore or sync?); {_KEEP}"
            )
        if stamp != self._stamp or self._version() != self._data_version:
            raise ProjectFileChangedError(self.path, f"another program changed the project file; {_KEEP}")

    def written(self) -> None:
        """After each of our commits (SQLite may have copied its log into the file)."""
        self._stamp = self._current_stamp()
        if len(self._sidecars) < 2:
            self._remember_sidecars()

    def stand_down(self) -> None:
        """The file is not ours any more: make sure our log is never applied to it. Call before closing
        the connection (SQLite checkpoints on close when the file kept its inode), then `remove_log`."""
        wal = self._own_sidecar("-wal")
        if wal is not None:
            with contextlib.closing(wal):
                os.ftruncate(wal.fd, 0)
        shm = self._own_sidecar("-shm")
        if shm is not None:  # an invalid index header makes SQLite rebuild it from the (now empty) log
            with contextlib.closing(shm):
                os.pwrite(shm.fd, bytes(_WAL_INDEX_HEADER), 0)

    def remove_log(self) -> None:
        for suffix in ("-wal", "-shm"):
            sidecar = self._own_sidecar(suffix)
            if sidecar is not None:
                with contextlib.closing(sidecar):
                    os.unlink(self.path.with_name(self.path.name + suffix))

    # -- internals --------------------------------------------------------------------------------
    def _current_stamp(self) -> tuple[int, int, int, int] | None:
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return None
        except OSError:
            return (0, 0, 0, 0)
        if stat.S_ISLNK(info.st_mode):
            return (0, 0, 0, 0)
        return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)

    def _version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _remember_sidecars(self) -> None:
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(OSError):
                info = os.lstat(self.path.with_name(self.path.name + suffix))
                if stat.S_ISREG(info.st_mode):
                    self._sidecars.setdefault(suffix, (info.st_dev, info.st_ino))

    def _own_sidecar(self, suffix: str) -> _Fd | None:
        """Our `-wal` or `-shm`, opened without following links, if the file at that name is still ours."""
        expected = self._sidecars.get(suffix)
        if expected is None:
            return None
        try:
            fd = os.open(
                self.path.with_name(self.path.name + suffix), os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
            )
        except OSError:
            return None
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != expected:
            os.close(fd)
            return None
        return _Fd(fd)


class _Fd:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)
