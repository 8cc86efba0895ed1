"""One process at a time per project: an exclusive `flock` on `<project>.lock` beside it.

The lock file sits in the dataset's folder, which may come from an archive or a git repository: a
`.lock` shipped as a symlink (or a hard link) to some other file must not get that file truncated and a
process id written into it. So it is opened with O_NOFOLLOW, only a plain file with one link is used, and
nothing is written to it before it is ours and locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from annotator.io.errors import DatasetError, ProjectLockedError
from annotator.io.project_file import describe_os_error, open_nofollow


def lock_path_for(project_path: Path) -> Path:
    return project_path.with_name(project_path.name + ".lock")


def lock_project(project_path: Path) -> int:
    """The descriptor holding the project's lock (close it to release); ProjectLockedError if another
    process (or another window of this one) has the project open."""
    lock_path = lock_path_for(project_path)
    try:
        fd = open_nofollow(lock_path, os.O_RDWR | os.O_CREAT)
    except DatasetError as exc:
        if not os.access(lock_path.parent, os.W_OK):  # say what to do, and how to get the work out now
            raise DatasetError(
                project_path,
                f"its folder {lock_path.parent} cannot be written here, and the window saves every edit into "
                "it: make the folder writable, or copy the project elsewhere and open the copy; `annotator "
                "info` and `annotator convert` read it as it is",
            ) from None
        raise DatasetError(project_path, f"cannot lock the project: {lock_path.name} {exc.reason}") from None
    try:
        if os.fstat(fd).st_nlink > 1:
            raise DatasetError(
                lock_path, "has other hard links; annotator will not write into it: remove it and try again"
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProjectLockedError(
                project_path, "this project is already open in another annotator window; close it there first"
            ) from None
        except OSError as exc:
            raise DatasetError(project_path, f"cannot lock the project: {describe_os_error(exc)}") from None
    except BaseException:
        os.close(fd)
        raise
    with contextlib.suppress(OSError):  # for a person wondering who holds it; never needed to work
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    return fd
