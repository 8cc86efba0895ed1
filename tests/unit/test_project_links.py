"""A dataset folder that ships links under our file names never gets a byte written outside it.

Each case puts a real symlink under one of the names the tool creates, locks or writes (the project,
its lock, SQLite's -wal/-shm/-journal, the project beside a COCO file), pointing at a canary file
outside the dataset, opens the dataset every way the tool can, and checks the canary byte for byte.
"""

from __future__ import annotations

import os
import sqlite3

import pytest
from PIL import Image as PilImage

from annotator.io.dataset_files import load_dataset_file
from annotator.io.errors import DatasetError
from annotator.io.project import FOLDER_PROJECT_NAME, create_project, open_project
from annotator.io.project_file import APPLICATION_ID
from annotator.io.store import _SET_APPLICATION_ID

LINKED_NAMES = ["", ".lock", "-wal", "-shm", "-journal"]  # suffixes of the project file name


@pytest.fixture
def canary(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    path = outside / "canary"
    path.write_bytes(b"precious \x00\xff bytes" * 300)
    return path


def _folder(tmp_path):
    folder = tmp_path / "dataset"
    folder.mkdir()
    PilImage.new("RGB", (8, 6)).save(folder / "a.png")
    return folder


def _coco(folder):
    (folder / "data.json").write_text(
        '{"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 6}], "annotations": [],'
        ' "categories": [{"id": 1, "name": "x"}]}'
    )
    return folder / "data.json"


def _attempt(open_it):
    try:
        with open_it() as project:
            project.dataset.put_images([])
    except DatasetError as exc:
        return exc
    return None


@pytest.mark.parametrize("suffix", LINKED_NAMES)
@pytest.mark.parametrize("entry", ["folder", "project file", "json"])
@pytest.mark.parametrize("dangling", [False, True])
def test_a_linked_project_file_never_writes_outside(tmp_path, canary, suffix, entry, dangling):
    folder = _folder(tmp_path)
    json_path = _coco(folder)
    project_name = "data.annotator" if entry == "json" else FOLDER_PROJECT_NAME
    if entry == "project file" and suffix:  # a real project, with one sidecar name linked away
        create_project(folder / project_name, load_dataset_file(json_path).dataset, folder).close()
    target = canary.with_name("missing") if dangling else canary
    before = canary.read_bytes()
    (folder / (project_name + suffix)).unlink(missing_ok=True)
    (folder / (project_name + suffix)).symlink_to(target)
    opener = {
        "folder": lambda: open_project(folder),
        "project file": lambda: open_project(folder / project_name),
        "json": lambda: open_project(json_path),
    }[entry]
    error = _attempt(opener)
    assert error is not None and ("link" in error.reason), error
    assert canary.read_bytes() == before
    assert not canary.with_name("missing").exists()
    assert sorted(p.name for p in canary.parent.iterdir()) == ["canary"]
    if suffix in ("-wal", "-shm", "-journal") and entry != "project file":  # a new project, refused:
        assert not (folder / project_name).exists()  # nothing of it is left half-made
        assert not (folder / (project_name + ".lock")).exists()


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_info_and_convert_never_write_through_a_link(tmp_path, canary, suffix):
    folder = _folder(tmp_path)
    project = folder / FOLDER_PROJECT_NAME
    create_project(project, load_dataset_file(_coco(folder)).dataset, folder).close()
    if suffix:
        (folder / (FOLDER_PROJECT_NAME + suffix)).symlink_to(canary)
        opened = project
    else:
        opened = folder / "linked.annotator"
        opened.symlink_to(canary)
    before = canary.read_bytes()
    with pytest.raises(DatasetError, match="link"):
        load_dataset_file(opened)
    assert canary.read_bytes() == before


def test_a_hard_linked_lock_file_is_not_written(tmp_path, canary):
    folder = _folder(tmp_path)
    os.link(canary, folder / (FOLDER_PROJECT_NAME + ".lock"))
    before = canary.read_bytes()
    with pytest.raises(DatasetError, match="hard links"):
        open_project(folder)
    assert canary.read_bytes() == before


@pytest.mark.parametrize("entry", ["folder", "project file"])
def test_a_project_hard_linked_to_one_outside_is_read_but_never_written(tmp_path, entry):
    """SQLite writes in place: `project.annotator` hard-linked to a project outside the dataset had
    every edit (and the WAL's checkpoints) written into that project."""
    from annotator.core.model import Category
    from annotator.io.project import read_project

    outside = tmp_path / "outside"
    outside.mkdir()
    PilImage.new("RGB", (8, 6)).save(outside / "a.png")
    open_project(outside).close()
    victim = outside / FOLDER_PROJECT_NAME
    before = victim.read_bytes()
    folder = _folder(tmp_path)
    os.link(victim, folder / FOLDER_PROJECT_NAME)
    opened = folder if entry == "folder" else folder / FOLDER_PROJECT_NAME
    with pytest.raises(DatasetError, match="hard links"), open_project(opened) as project:
        project.dataset.put_categories([Category(5, "planted")])
    with read_project(folder / FOLDER_PROJECT_NAME) as project:  # info and convert still read it
        assert len(project.dataset.images) == 1
    assert victim.read_bytes() == before
    assert sorted(os.listdir(outside)) == ["a.png", FOLDER_PROJECT_NAME, FOLDER_PROJECT_NAME + ".lock"]


def test_a_fifo_as_lock_or_project_is_refused_without_hanging(tmp_path):
    folder = _folder(tmp_path)
    os.mkfifo(folder / (FOLDER_PROJECT_NAME + ".lock"))
    with pytest.raises(DatasetError, match="FIFO"):
        open_project(folder)
    os.unlink(folder / (FOLDER_PROJECT_NAME + ".lock"))
    os.mkfifo(folder / FOLDER_PROJECT_NAME)
    with pytest.raises(DatasetError, match="FIFO"):
        open_project(folder)


def test_a_symlinked_json_gets_its_project_beside_the_link_not_the_target(tmp_path, canary):
    folder = _folder(tmp_path)
    real = _coco(canary.parent)
    (folder / "data.json").symlink_to(real)
    with open_project(folder / "data.json") as project:
        assert project.path == folder / "data.annotator"
    assert sorted(p.name for p in canary.parent.iterdir()) == ["canary", "data.json"]


def test_the_application_id_is_in_the_header_of_every_new_project(tmp_path):
    assert _SET_APPLICATION_ID.endswith(str(APPLICATION_ID))
    folder = _folder(tmp_path)
    open_project(folder).close()
    header = (folder / FOLDER_PROJECT_NAME).read_bytes()[:100]
    assert int.from_bytes(header[68:72], "big") == APPLICATION_ID
    conn = sqlite3.connect(folder / FOLDER_PROJECT_NAME)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


@pytest.mark.parametrize("dangling", [False, True])
def test_prelabel_into_a_linked_project_name_is_refused_never_followed(tmp_path, canary, dangling):
    """`prelabel --out p.annotator` with `p.annotator` a link to nothing outside: `exists()` said no, so
    the project was created at the link's resolved target, outside the dataset, with its lock."""
    from annotator.io.prelabel_output import ProjectOutput

    folder = _folder(tmp_path)
    out = folder / "p.annotator"
    out.symlink_to(canary.parent / "missing.annotator" if dangling else canary)
    with pytest.raises(DatasetError, match="symbolic link"):
        ProjectOutput.open(out, folder, [folder / "a.png"])
    assert sorted(os.listdir(canary.parent)) == ["canary"]
    assert canary.read_bytes() == b"precious \x00\xff bytes" * 300
