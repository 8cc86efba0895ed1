"""The project file replaced, overwritten or deleted under the running tool (a git checkout, a sync
client, a backup restore): the store notices before its next write, stops writing, keeps every edit in
memory, and leaves the file that is there now exactly as the other program put it."""

from __future__ import annotations

import os
import shutil
import sqlite3

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage

from annotator.core import edits
from annotator.core.geometry import Polygons
from annotator.core.model import Category, Instance
from annotator.io.errors import DatasetError, ProjectFileChangedError
from annotator.io.project import create_project, open_project


def _instance(instance_id: int) -> Instance:
    x = float(instance_id % 20)
    ring = np.array([[x, 1.0], [x + 5, 1.0], [x + 5, 6.0]])
    return Instance(instance_id, 1, 1, Polygons((ring,)))


def _add(project, *ids: int) -> None:
    edits.AddInstances(tuple(_instance(i) for i in ids)).apply(project.dataset)


def _open(folder):
    project = open_project(folder)
    heard = []
    project.store.on_save_error = heard.append
    if 1 not in project.dataset.categories:
        project.dataset.put_categories([Category(1, "thing")])
    return project, heard


def _stored_ids(path) -> list[int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [row[0] for row in conn.execute("SELECT id FROM instances ORDER BY id")]
    finally:
        conn.close()


def _replace(path, older: bytes, how: str) -> None:
    if how == "renamed over":  # what git and most sync clients do
        temp = path.with_name("incoming")
        temp.write_bytes(older)
        os.replace(temp, path)
    elif how == "copied into":  # `cp backup project.annotator`: same inode, new bytes
        with open(path, "r+b") as handle:
            handle.write(older)
            handle.truncate()
    elif how == "deleted":
        path.unlink()
    else:  # the whole folder
        shutil.rmtree(path.parent)


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    PilImage.new("RGB", (30, 20)).save(folder / "a.png")
    return folder


@pytest.mark.parametrize("how", ["renamed over", "copied into", "deleted", "folder deleted"])
def test_a_replaced_project_stops_saving_and_keeps_the_edits(folder, how):
    project, heard = _open(folder)
    path = project.path
    _add(project, 1, 2, 3)
    project.close()
    older = path.read_bytes()  # the copy a restore will bring back: 3 instances
    project, heard = _open(folder)
    _add(project, *range(4, 40))  # saved, in the WAL
    _replace(path, older, how)
    _add(project, 40)
    assert isinstance(project.store.save_error, ProjectFileChangedError)
    assert heard and isinstance(heard[0], ProjectFileChangedError)
    assert "Save as new project" in str(heard[0])
    _add(project, 41)  # later edits are kept too, and nothing is written
    assert set(project.dataset.instances) == set(range(1, 42))
    assert project.store.pending == 2
    project.close(discard=True)
    if how in ("renamed over", "copied into"):
        assert path.read_bytes() == older  # exactly what the other program put there
        assert not os.path.exists(str(path) + "-wal")
        assert _stored_ids(path) == [1, 2, 3]
        with open_project(folder) as again:
            assert set(again.dataset.instances) == {1, 2, 3}
    else:
        assert not path.exists()


def test_the_edits_can_be_saved_as_a_new_project(folder, tmp_path):
    project, _ = _open(folder)
    _add(project, 1)
    _replace(project.path, b"", "renamed over")
    _add(project, 2)
    rescued = create_project(tmp_path / "rescued.annotator", project.dataset, project.root)
    project.close(discard=True)
    _add(rescued, 3)
    rescued.close()
    with open_project(tmp_path / "rescued.annotator") as reopened:
        assert set(reopened.dataset.instances) == {1, 2, 3}
        assert reopened.root == folder


def test_another_connection_writing_into_the_file_stops_our_writes(folder):
    project, _ = _open(folder)
    _add(project, 1)
    other = sqlite3.connect(project.path)
    other.execute("DELETE FROM instances")
    other.commit()
    other.close()
    _add(project, 2)
    assert isinstance(project.store.save_error, ProjectFileChangedError)
    project.close(discard=True)


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("edit"), st.integers(1, 5)),
        st.tuples(st.just("restore"), st.sampled_from(["renamed over", "copied into"])),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_any_mix_of_edits_and_restores_never_corrupts_the_file(tmp_path_factory, operations):
    """Property: the file on disk is always intact and is either everything we saved or exactly the
    copy another program put there; the dataset in memory holds every edit."""
    folder = tmp_path_factory.mktemp("data")
    PilImage.new("RGB", (30, 20)).save(folder / "a.png")
    project, _ = _open(folder)
    path = project.path
    _add(project, 1)
    project.close()
    backup = path.read_bytes()  # closed: the WAL is in the file
    project, _ = _open(folder)
    next_id, saved, restored = 2, {1}, False
    for operation, value in operations:
        if operation == "edit":
            ids = list(range(next_id, next_id + value))
            next_id += value
            _add(project, *ids)
            if project.store.save_error is None:
                saved.update(ids)
        elif not restored:
            _replace(path, backup, value)
            restored = True
    assert set(project.dataset.instances) == set(range(1, next_id))
    project.close(discard=True)
    stored = set(_stored_ids(path))
    assert stored == ({1} if restored else saved)


@pytest.mark.parametrize("how", ["renamed over", "copied into"])
def test_closing_after_a_restore_with_no_edit_since_leaves_the_restored_copy(folder, how):
    """Found by the property above: with no write after the restore, closing used to leave our WAL
    beside the restored copy, and the next open applied it."""
    project, _ = _open(folder)
    _add(project, 1)
    project.close()
    older = project.path.read_bytes()
    project, _ = _open(folder)
    _add(project, 2)
    _replace(project.path, older, how)
    with pytest.raises(DatasetError, match="not in it any more"):
        project.close()  # the edit is only in memory now: the window offers to save it elsewhere
    assert set(project.dataset.instances) == {1, 2}
    project.close(discard=True)
    assert project.path.read_bytes() == older
    assert _stored_ids(project.path) == [1]
