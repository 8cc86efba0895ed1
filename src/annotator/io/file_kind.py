"""What a path is, when it is not a plain file: reading a named pipe or a device as a dataset would block
forever (a FIFO waits for a writer, /dev/zero never ends), so inputs are checked before they are opened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from annotator.io.errors import DatasetError


def kind_of(mode: int) -> str:
    """'a folder', 'a named pipe (FIFO)', ... for a `st_mode` that is not a regular file."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def require_regular_file(path: Path) -> os.stat_result:
    """`path`'s stat (following a link, as reading does) when it is a plain file; else DatasetError."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DatasetError(path, "no such file") from None
    except OSError as exc:
        raise DatasetError(path, f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise DatasetError(path, f"is {kind_of(info.st_mode)}, not a file")
    return info
