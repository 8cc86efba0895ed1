"""A full disk while opening or creating a project says "the disk is full" (not "not a readable project"),
and leaves nothing half-made. A real full file system: a 256 KiB tmpfs, filled up (needs the right to
mount, as root in CI; skipped elsewhere)."""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest
from PIL import Image as PilImage

from annotator.io.errors import DatasetError
from annotator.io.project import FOLDER_PROJECT_NAME, open_project


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(disk) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    for size in (65536, 4096, 1):
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * size)
    os.close(fd)


def test_creating_a_project_on_a_full_disk_says_so(tiny_disk):
    folder = tiny_disk / "data"
    folder.mkdir()
    PilImage.new("RGB", (8, 6)).save(folder / "a.png")
    _fill(tiny_disk)
    with pytest.raises(DatasetError, match="the disk is full"):
        open_project(folder)
    assert not (folder / FOLDER_PROJECT_NAME).exists()
    assert [p.name for p in folder.iterdir() if "creating" in p.name] == []


def test_opening_a_project_on_a_full_disk_says_so_and_keeps_it(tiny_disk):
    folder = tiny_disk / "data"
    folder.mkdir()
    PilImage.new("RGB", (8, 6)).save(folder / "a.png")
    open_project(folder).close()
    before = (folder / FOLDER_PROJECT_NAME).read_bytes()
    _fill(tiny_disk)
    with pytest.raises(DatasetError, match="the disk is full"):
        open_project(folder).close()
    assert (folder / FOLDER_PROJECT_NAME).read_bytes() == before
    (tiny_disk / "filler").unlink()
    with open_project(folder) as project:
        assert [i.file_name for i in project.dataset.images.values()] == ["a.png"]


def test_a_folder_that_cannot_be_written_is_said_as_such_not_as_a_disk_io_error(tmp_path):
    """SQLite says "disk I/O error" when its folder went away or cannot be written (a drive unplugged,
    `chattr +i`); the window showed "could not save (disk I/O error)" with no hint."""
    import sqlite3

    from annotator.io.project_file import describe_sqlite_error

    error = sqlite3.OperationalError("disk I/O error")
    assert describe_sqlite_error(error, tmp_path / "unplugged") == (
        "the project's folder cannot be written (its permissions, or it is gone)"
    )
    assert describe_sqlite_error(error, tmp_path) == "disk I/O error"  # writable: SQLite's words stand
