"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from annotator.io.errors import DatasetError
from annotator.io.output_target import refuse_special_target


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[BinaryIO]:
    """Write to a temporary file beside `path`, fsync it, then rename it over `path`.

    On any failure (full disk, read-only folder, an exception in the caller) the temporary file is
    removed and the previous `path` is left exactly as it was.
    """
    path = Path(path)
    refuse_special_target(path)  # the rename would replace a pipe or a device node (as root: /dev/null)
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise DatasetError(path, f"cannot write here: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, _mode_for(path))  # mkstemp's 0600 would hide exports from everyone else
            yield handle
        replace_durably(Path(temp_name), path)
    except OSError as exc:
        _remove_quietly(temp_name)
        raise DatasetError(path, f"cannot write: {exc.strerror or exc}") from None
    except BaseException:
        _remove_quietly(temp_name)
        raise


def replace_durably(temp: Path, path: Path) -> None:
    """Put the finished file `temp` in place of `path`: fsync it, rename it, fsync the folder (so the
    rename itself survives a power cut). Raises OSError; the caller removes `temp` on failure."""
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, path)
    _fsync_directory(path.parent)


def link_durably(temp: Path, path: Path) -> None:
    """Put the finished file `temp` at `path` only if nothing is there (FileExistsError otherwise): a
    hard link cannot replace an existing file, so two processes creating one file never overwrite each
    other. Where the file system has no hard links, a rename after checking (the caller holds a lock).
    `temp` stays; the caller removes it."""
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    try:
        os.link(temp, path, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS):
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.rename(temp, path)
    _fsync_directory(path.parent)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_writer(path) as handle:
        handle.write(data)


def _mode_for(path: Path) -> int:
    """An existing file keeps its mode; a new one gets what `open()` would give it (0666 less the umask)."""
    with contextlib.suppress(OSError):
        existing = os.lstat(path)
        if stat.S_ISREG(existing.st_mode):
            return stat.S_IMODE(existing.st_mode)
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (os.umask sets it, and another
    thread creating a file meanwhile would get the wrong mode)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_quietly(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)
