"""Only our own project files are written: other SQLite files, empty files and random bytes under our
name are refused before a byte changes; projects made before the application id existed still open."""

from __future__ import annotations

import os
import shutil
import sqlite3

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage

from annotator.core.model import Category, Dataset, Image
from annotator.io.dataset_files import load_dataset_file
from annotator.io.errors import DatasetError
from annotator.io.project import FOLDER_PROJECT_NAME, create_project, open_project
from annotator.io.project_file import APPLICATION_ID

OUR_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL, supercategory TEXT NOT NULL,
    color TEXT, extra TEXT NOT NULL);
CREATE TABLE images (id INTEGER PRIMARY KEY, file_name TEXT NOT NULL, width INTEGER NOT NULL,
    height INTEGER NOT NULL, status TEXT NOT NULL, extra TEXT NOT NULL);
CREATE TABLE instances (id INTEGER PRIMARY KEY, image_id INTEGER NOT NULL, category_id INTEGER NOT NULL,
    geometry BLOB NOT NULL, z INTEGER NOT NULL, source TEXT NOT NULL, model TEXT, score REAL,
    review TEXT NOT NULL, iscrowd INTEGER NOT NULL, extra TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
"""


def _sqlite_file(path, script: str, application_id: int = 0) -> bytes:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.execute(f"PRAGMA application_id = {application_id}")
    conn.commit()
    conn.close()
    return path.read_bytes()


def _sidecars(path):
    return [s for s in ("-wal", "-shm", "-journal") if os.path.exists(str(path) + s)]


FOREIGN = {
    "another app's database": (
        "CREATE TABLE notes (id INTEGER, body TEXT); INSERT INTO notes VALUES (1, 'x');",
        0,
    ),
    "another app's id": ("CREATE TABLE notes (id INTEGER);", 0x12345678),
    "our tables, another app's id": (OUR_TABLES, 0x12345678),
    "our table names, other columns": (
        "CREATE TABLE meta (k, v); CREATE TABLE categories (a); CREATE TABLE images (a);"
        " CREATE TABLE instances (a);",
        0,
    ),
}


@pytest.mark.parametrize("case", FOREIGN)
@pytest.mark.parametrize("opened_as", ["project file", "folder", "info"])
def test_a_foreign_sqlite_file_is_refused_and_left_byte_for_byte(tmp_path, case, opened_as):
    script, app_id = FOREIGN[case]
    path = tmp_path / (FOLDER_PROJECT_NAME if opened_as == "folder" else "other.annotator")
    before = _sqlite_file(path, script, app_id)
    with pytest.raises(DatasetError, match="another application|not an annotator project"):
        if opened_as == "info":
            load_dataset_file(path)
        else:
            open_project(tmp_path if opened_as == "folder" else path)
    assert path.read_bytes() == before
    assert _sidecars(path) == []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # never switched to WAL
    conn.close()


def test_an_empty_project_file_is_refused_with_a_clear_message(tmp_path):
    (tmp_path / FOLDER_PROJECT_NAME).write_bytes(b"")
    PilImage.new("RGB", (4, 4)).save(tmp_path / "a.png")
    for target in (tmp_path, tmp_path / FOLDER_PROJECT_NAME):
        with pytest.raises(DatasetError, match=r"is empty \(0 bytes\)"):
            open_project(target)
    assert (tmp_path / FOLDER_PROJECT_NAME).read_bytes() == b""


def test_a_project_made_before_the_application_id_is_adopted(tmp_path):
    path = tmp_path / "old.annotator"
    _sqlite_file(path, OUR_TABLES + "INSERT INTO images VALUES (1, 'a.png', 4, 3, 'new', '{}');")
    with open_project(path) as project:
        assert [i.file_name for i in project.dataset.images.values()] == ["a.png"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


def test_creating_never_replaces_an_existing_file(tmp_path):
    path = tmp_path / "p.annotator"
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 4, 3)])
    create_project(path, dataset, tmp_path).close()
    before = path.read_bytes()
    other = Dataset()
    other.put_categories([Category(1, "x")])
    with pytest.raises(DatasetError, match="appeared|already"):
        create_project(path, other, tmp_path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if "creating" in p.name] == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.sampled_from([b"", b"SQLite format 3\x00", b"\x00" * 16, b"PK\x03\x04"]),
    body=st.binary(max_size=4096),
    cut=st.integers(min_value=0, max_value=8192),
)
def test_random_and_truncated_files_under_our_name_are_never_changed(tmp_path_factory, header, body, cut):
    """Random bytes, a SQLite header with junk after it, a truncated real project: refused or opened,
    and never modified unless it is ours."""
    folder = tmp_path_factory.mktemp("f")
    path = folder / "p.annotator"
    if header == b"PK\x03\x04":  # a real project cut short
        create_project(path, Dataset(), folder).close()
        data = path.read_bytes()[: max(cut, 1)]
    else:
        data = header + body
    path.write_bytes(data)
    try:
        open_project(path).close()
    except DatasetError:
        assert path.read_bytes() == data
        assert _sidecars(path) == []


def test_a_damaged_row_is_named_and_the_rest_opens(tmp_path):
    PilImage.new("RGB", (10, 8)).save(tmp_path / "a.png")
    PilImage.new("RGB", (10, 8)).save(tmp_path / "b.png")
    with open_project(tmp_path) as project:
        project.dataset.put_categories([Category(1, "ok"), Category(2, "bad colour", color=(1, 2, 3))])
    conn = sqlite3.connect(tmp_path / FOLDER_PROJECT_NAME)
    conn.execute("UPDATE categories SET color = '1e99,0,-4' WHERE id = 2")
    conn.execute("UPDATE images SET width = -5 WHERE file_name = 'b.png'")
    conn.commit()
    conn.close()
    with open_project(tmp_path) as project:
        assert set(project.dataset.categories) == {1}
        # the damaged row is set aside; b.png is found again in the folder, with its real size
        assert [(i.file_name, i.width) for i in project.dataset.images.values()] == [
            ("a.png", 10),
            ("b.png", 10),
        ]
        text = "\n".join(project.problems)
        assert "category 2" in text and "colour" in text and "image 2" in text
        assert "kept in table damaged_categories" in text  # the table it really is in
        project.dataset.put_categories([Category(2, "new")])  # the damaged row's id, free now
    conn = sqlite3.connect(tmp_path / FOLDER_PROJECT_NAME)
    assert conn.execute("SELECT color FROM damaged_categories WHERE id = 2").fetchone()[0] == "1e99,0,-4"
    assert conn.execute("SELECT width FROM damaged_images WHERE id = 2").fetchone()[0] == -5
    assert conn.execute("SELECT name FROM categories WHERE id = 2").fetchone()[0] == "new"
    conn.close()


@pytest.mark.parametrize("version", ["abc", "1.5", "", "99999999999999999999999"])
def test_a_non_integer_or_future_schema_version_is_a_clear_error(tmp_path, version):
    path = tmp_path / "p.annotator"
    create_project(path, Dataset(), tmp_path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    conn.commit()
    conn.close()
    with pytest.raises(DatasetError, match="schema"):
        open_project(path)
    with pytest.raises(DatasetError, match="schema"):
        load_dataset_file(path)


def test_info_reads_a_project_that_a_window_has_open(tmp_path):
    PilImage.new("RGB", (10, 8)).save(tmp_path / "a.png")
    with open_project(tmp_path):
        loaded = load_dataset_file(tmp_path / FOLDER_PROJECT_NAME)
        assert len(loaded.dataset.images) == 1


def test_info_reads_a_read_only_project_file_without_creating_anything(tmp_path):
    PilImage.new("RGB", (10, 8)).save(tmp_path / "a.png")
    open_project(tmp_path).close()
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(tmp_path / FOLDER_PROJECT_NAME, copy / "p.annotator")
    os.chmod(copy / "p.annotator", 0o444)
    before = sorted(os.listdir(copy))
    loaded = load_dataset_file(copy / "p.annotator")
    assert len(loaded.dataset.images) == 1
    assert sorted(os.listdir(copy)) == before


def test_a_mask_whose_run_lengths_overrun_its_image_is_never_decoded(tmp_path):
    """pycocotools' decoder writes as many pixels as the runs say: a tampered row must not reach it."""
    from annotator.core.geometry import Mask, Rle
    from annotator.core.model import Instance
    from annotator.io.geometry_codec import encode_geometry

    PilImage.new("RGB", (10, 8)).save(tmp_path / "a.png")
    with open_project(tmp_path) as project:
        project.dataset.put_categories([Category(1, "thing")])
        mask = Mask.from_array(np.ones((8, 10), np.uint8))
        project.dataset.put_instances([Instance(1, 1, 1, mask), Instance(2, 1, 1, mask)])
    overrun = Mask(Rle(8, 10, b"0" + b"0" * 2 + b"ogg1"))  # runs summing far past 80 pixels
    conn = sqlite3.connect(tmp_path / FOLDER_PROJECT_NAME)
    conn.execute("UPDATE instances SET geometry = ? WHERE id = 2", (encode_geometry(overrun),))
    conn.commit()
    conn.close()
    with open_project(tmp_path) as project:
        assert set(project.dataset.instances) == {1}
        assert any("instance 2" in p and "run lengths" in p for p in project.problems)


def test_reading_a_project_releases_every_file_it_opened(tmp_path):
    PilImage.new("RGB", (10, 8)).save(tmp_path / "a.png")
    open_project(tmp_path).close()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        load_dataset_file(tmp_path / FOLDER_PROJECT_NAME)
    assert len(os.listdir("/proc/self/fd")) == before
