"""A project file whose rows were changed by hand or by another program: one bad row is named and set aside
(or, for an instance whose class is gone, given a stand-in class) and the rest opens; a file changed in
ways that could change what is saved (a trigger, a table that is a view or lost its key) is refused with
one clear line. Never another exception, and an edit after opening is saved."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage

from annotator.core.geometry import Mask, Polygons
from annotator.core.model import Category, Instance
from annotator.io.errors import DatasetError
from annotator.io.project import FOLDER_PROJECT_NAME, open_project, read_project

TRIANGLE = Polygons((np.array([[1, 1], [8, 1], [8, 7]], dtype=np.float64),))
BAD_UTF8 = "CAST(x'61ff80' AS TEXT)"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("made")
    for name in ("a", "b"):
        PilImage.new("RGB", (10, 8)).save(folder / f"{name}.png")
    mask = np.zeros((8, 10), np.uint8)
    mask[2:5, 2:6] = 1
    with open_project(folder) as project:
        project.dataset.put_categories([Category(1, "one"), Category(2, "two", color=(1, 2, 3))])
        project.dataset.put_instances(
            [
                Instance(1, 1, 1, TRIANGLE),
                Instance(2, 2, 2, Mask.from_array(mask)),
                Instance(3, 1, 2, TRIANGLE),
            ]
        )
    return folder


def _tampered(made: Path, folder: Path, *statements: tuple[str, tuple]) -> Path:
    for file in made.iterdir():
        shutil.copy(file, folder)
    path = folder / FOLDER_PROJECT_NAME
    conn = sqlite3.connect(path)
    for sql, args in statements:
        conn.execute(sql, args)
    conn.commit()
    conn.close()
    return path


def _opens_and_saves(path: Path) -> list[str]:
    """The problems listed on opening; an edit made then is in the file afterwards."""
    with read_project(path) as project:
        read_problems = list(project.problems)
    with open_project(path) as project:
        assert project.problems == read_problems
        dataset = project.dataset
        if not dataset.images or not dataset.categories:
            return read_problems
        new_id = dataset.new_instance_id()
        dataset.put_instances([Instance(new_id, min(dataset.images), min(dataset.categories), TRIANGLE)])
        assert project.store.save_error is None
    with read_project(path) as project:
        assert new_id in project.dataset.instances
    return read_problems


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("UPDATE images SET file_name = 'a.png' WHERE id = 2", "image 2: damaged row not loaded"),
        (f"UPDATE images SET file_name = {BAD_UTF8} WHERE id = 2", "image 2: damaged row not loaded"),
        (f"UPDATE categories SET name = {BAD_UTF8} WHERE id = 2", "category 2: damaged row not loaded"),
        (f"UPDATE instances SET extra = {BAD_UTF8} WHERE id = 3", "instance 3: damaged row not loaded"),
        (f"UPDATE instances SET model = {BAD_UTF8} WHERE id = 3", "instance 3: damaged row not loaded"),
        (f"UPDATE instances SET source = {BAD_UTF8} WHERE id = 3", "instance 3: damaged row not loaded"),
        ("UPDATE instances SET z = 9223372036854775807 WHERE id = 3", "instance 3: damaged row not loaded"),
        ("UPDATE instances SET category_id = 99 WHERE id = 3", "class 99: instances point at it"),
        ("UPDATE instances SET image_id = 77 WHERE id = 3", "instance 3: damaged row not loaded"),
        ("UPDATE images SET width = 'wide' WHERE id = 2", "image 2: damaged row not loaded"),
    ],
)
def test_one_bad_row_is_named_and_the_rest_opens(made, tmp_path, sql, named):
    path = _tampered(made, tmp_path, (sql, ()))
    problems = _opens_and_saves(path)
    assert any(p.startswith(named) for p in problems), problems
    with read_project(path) as project:
        assert 1 in project.dataset.instances  # the untouched rows are all there


def test_an_instance_whose_class_is_gone_keeps_a_stand_in_class(made, tmp_path):
    path = _tampered(made, tmp_path, ("UPDATE instances SET category_id = 99 WHERE id = 3", ()))
    with read_project(path) as project:
        assert project.dataset.instances[3].category_id == 99
        assert project.dataset.categories[99].name == "99"


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("CREATE TRIGGER wipe AFTER INSERT ON instances BEGIN DELETE FROM instances; END", "trigger"),
        ("ALTER TABLE images RENAME TO old_images", "another application"),
        ("UPDATE meta SET value = x'00ff' WHERE key = 'root'", "setting 'root'"),
        (f"UPDATE meta SET value = {BAD_UTF8} WHERE key = 'root'", "setting 'root'"),
        ("UPDATE meta SET value = 'a' || char(0) || 'b' WHERE key = 'root'", "setting 'root'"),
    ],
)
def test_a_file_changed_in_ways_that_could_change_what_is_saved_is_refused(made, tmp_path, sql, reason):
    path = _tampered(made, tmp_path, (sql, ()))
    before = path.read_bytes()
    for opener in (read_project, open_project):
        with pytest.raises(DatasetError, match=reason) as caught:
            opener(path)
        assert "\n" not in str(caught.value)
    assert path.read_bytes() == before


def test_a_table_rebuilt_without_its_key_is_refused(made, tmp_path):
    path = _tampered(
        made,
        tmp_path,
        ("CREATE TABLE loose AS SELECT * FROM images", ()),
        ("DROP TABLE images", ()),
        ("CREATE TABLE images (id, file_name, width, height, status, extra)", ()),
        ("INSERT INTO images SELECT * FROM loose", ()),
    )
    with pytest.raises(DatasetError, match="not keyed by id"):
        open_project(path)


def test_tampered_model_rounds_are_passed_over(made, tmp_path):
    path = _tampered(
        made,
        tmp_path,
        ("INSERT INTO models VALUES (1, 'm.pt', 'today', 2, 0.5, 0.6, '{}')", ()),
        (f"INSERT INTO models VALUES (2, {BAD_UTF8}, 'today', 2, 0.5, 0.6, '{{}}')", ()),
        ("INSERT INTO models VALUES (3, 'm.pt', 'today', 'many', 0.5, 0.6, '{}')", ()),
        ("INSERT INTO models VALUES (4, 'm.pt', 'today', 2, 9e999, 0.6, '{}')", ()),
        ("INSERT INTO models VALUES (5, 'm.pt', 'today', 2, 0.5, 0.6, 7)", ()),
    )
    with read_project(path) as project:
        assert [r.number for r in project.store.model_rounds()] == [1]


HOSTILE = [None, "text", b"\x00\xff", 1.5, 2**63 - 1, -(2**63), -1, 0, 1e308, float("nan"), "", "{}", "[1]",
           '{"a":' * 300, "x" * 5000, "../x.png", "/etc/passwd", 1, 2, 99]  # fmt: skip
COLUMNS = {
    "categories": ["id", "name", "supercategory", "color", "extra"],
    "images": ["id", "file_name", "width", "height", "status", "extra"],
    "instances": ["id", "image_id", "category_id", "geometry", "z", "source", "model", "score", "review",
                  "iscrowd", "extra"],
}  # fmt: skip


@st.composite
def tampering(draw) -> list[tuple[str, tuple]]:
    statements = []
    for _ in range(draw(st.integers(1, 4))):
        table = draw(st.sampled_from(sorted(COLUMNS)))
        column = draw(st.sampled_from(COLUMNS[table]))
        row = draw(st.integers(1, 3))
        if draw(st.booleans()):
            statements.append(
                (
                    f"UPDATE OR IGNORE {table} SET {column} = ? WHERE rowid = ?",
                    (draw(st.sampled_from(HOSTILE)), row),
                )
            )
        else:
            statements.append((f"UPDATE OR IGNORE {table} SET {column} = {BAD_UTF8} WHERE rowid = ?", (row,)))
    return statements


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(statements=tampering())
def test_any_tampered_rows_open_with_each_named_or_are_refused_clearly(made, tmp_path_factory, statements):
    folder = tmp_path_factory.mktemp("t")
    try:
        path = _tampered(made, folder, *statements)
    except sqlite3.IntegrityError:  # NOT NULL and the like: SQLite itself refused that change
        return
    try:
        problems = _opens_and_saves(path)
    except DatasetError as error:
        assert "\n" not in str(error)
        return
    assert all("\n" not in p for p in problems)


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotator.cli.main", *map(str, args)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.slow  # two processes per case
@pytest.mark.parametrize(
    ("sql", "outcome", "said"),
    [
        (
            f"UPDATE categories SET name = {BAD_UTF8} WHERE id = 2",
            "rows",
            "category 2: damaged row not loaded",
        ),
        ("UPDATE images SET file_name = 'a.png' WHERE id = 2", "rows", "image 2: damaged row not loaded"),
        ("UPDATE instances SET category_id = 99 WHERE id = 3", "whole", "class 99: instances point at it"),
        ("CREATE TRIGGER t AFTER INSERT ON instances BEGIN SELECT 1; END", "refused", "holds a trigger"),
        ("UPDATE meta SET value = x'00ff' WHERE key = 'root'", "refused", "setting 'root'"),
    ],
)
def test_info_and_convert_on_a_tampered_project_name_the_row_or_exit_2_with_one_line(
    made, tmp_path, sql, outcome, said
):
    """Damaged rows: the rest is summarised or written, each row named, then exit 2 with a last line
    saying how many were left out, so a script never takes the export for whole. A stand-in class
    loses nothing: exit 0. A file refused whole: one line, exit 2, nothing written."""
    path = _tampered(made, tmp_path, (sql, ()))
    out = tmp_path / "out.json"
    for args in (("info", path), ("convert", path, "--to", "coco", "--out", out)):
        result = _cli(*args)
        assert result.returncode == (0 if outcome == "whole" else 2), result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        if outcome == "refused":
            assert len(result.stderr.strip().splitlines()) == 1 and said in result.stderr
            continue
        assert said in result.stdout + result.stderr
        if outcome == "rows":  # the image's instances are left out with it
            last = result.stderr.strip().splitlines()[-1]
            assert re.search(r"\d+ damaged rows? not read \(named above\); the rest was used$", last), last
    assert out.exists() == (outcome != "refused")


def test_a_save_a_tampered_constraint_refuses_is_reported_and_kept_in_memory(made, tmp_path):
    """A CHECK constraint added to a table passes the opening checks; a save it refuses is said (the
    window shows it and offers to save elsewhere) and the edit stays pending, never silently unsaved."""
    path = _tampered(
        made,
        tmp_path,
        ("ALTER TABLE instances RENAME TO old_instances", ()),
        ("CREATE TABLE instances (id INTEGER PRIMARY KEY, image_id INTEGER NOT NULL, category_id INTEGER NOT "
         "NULL, geometry BLOB NOT NULL, z INTEGER NOT NULL CHECK (z < 100), source TEXT NOT NULL, model TEXT, "
         "score REAL, review TEXT NOT NULL, iscrowd INTEGER NOT NULL, extra TEXT NOT NULL)", ()),
        ("INSERT INTO instances SELECT * FROM old_instances", ()),
        ("DROP TABLE old_instances", ()),
    )  # fmt: skip
    with open_project(path) as project:
        reported = []
        project.store.on_save_error = reported.append
        project.dataset.put_instances([Instance(9, 1, 1, TRIANGLE, z=500)])
        assert project.store.pending == 1 and len(reported) == 1
        assert "could not save" in str(reported[0]) and "\n" not in str(reported[0])
        project.close(discard=True)
