"""Hostile YOLO labels and data.yaml files brought into a project (File ▸ Import): each is read with its
bad lines named, or refused with one DatasetError naming the file; what is read is stored and opens
again. Never another exception out of the import, never a memory bomb from YAML aliases, never a file
read through a link in the labels folder."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage

from annotator.core.annotation_merge import merge_edit
from annotator.io.annotation_files import read_annotations
from annotator.io.errors import DatasetError
from annotator.io.project import open_project

LINE = "0 0.1 0.1 0.5 0.1 0.5 0.5"


def laughs(levels: int) -> str:
    """A data.yaml of YAML aliases ("billion laughs") whose names list, spelled out, holds 9**levels
    items; 1 KB of text at 10 levels."""
    names = "abcdefghijk"[:levels]
    lines = [f"a: &a [{', '.join(['x'] * 9)}]"]
    lines += [f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip(names, names[1:], strict=False)]
    return "\n".join(lines) + f"\nnames: [*{names[-1]}]\n"


NUMBERS = ["0.5", "1e308", "-1e308", "1.7e308", "1e-320", "nan", "inf", "-0", "1_0", "0x10", "٣", "", "1e400"]
CLASS_INDEXES = ["0", "1", "-1", "99999999999999999999999", str(2**63), "1.5", "x", "\ufeff0"]
YAML_FILES = [
    None,
    "names: [one, two]\n",
    'names: ["\\ud800", "a\\udcffb"]\n',
    "names: {0: one, 99999999999999999999: two, -3: three, true: four}\n",
    "names: " + "[" * 20000 + "]" * 20000 + "\n",
    laughs(5),  # small enough to spell out: the property never needs a memory limit
    "names: &r [*r]\n",
    "names: {0: {1: 2}}\n",
    "names: [2001-12-14, 1e400, ~, !!binary aGk=]\n",
    "names: !!set {a, b}\n",
    "[1, 2]\n",
    "names: abc\n",
    "\ufeffnames: [one]\n",
]


def _address_space() -> int:
    """This process's virtual memory now, in bytes (RLIMIT_AS counts it all)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmSize in /proc/self/status")


def _project_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    PilImage.new("RGB", (64, 48)).save(folder / "a.png")
    return folder


def _import(folder: Path, labels: Path) -> list[str] | None:
    """Read `labels` into the project of `folder`, store the merge, close and open the project again:
    the problems listed, or None when the file was refused."""
    with open_project(folder) as project:
        try:
            found = read_annotations(labels, project.dataset)
        except DatasetError as error:
            assert str(labels.parent) in str(error)
            return None
        merge = merge_edit(project.dataset, found.dataset)
        if merge.edit is not None:
            merge.edit.apply(project.dataset)
        expected = _contents(project.dataset)
    with open_project(folder) as again:
        assert _contents(again.dataset) == expected
    return found.problems


def _contents(dataset) -> tuple[int, list[str]]:
    return len(dataset.instances), sorted(c.name for c in dataset.categories.values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.tuples(st.sampled_from(CLASS_INDEXES), st.lists(st.sampled_from(NUMBERS), max_size=9)),
        min_size=1,
        max_size=4,
    ),
    yaml=st.sampled_from(YAML_FILES),
)
def test_hostile_labels_are_read_or_refused_and_what_is_read_is_stored(tmp_path_factory, lines, yaml) -> None:
    tmp_path = tmp_path_factory.mktemp("yolo")
    folder = _project_folder(tmp_path)
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.txt").write_text("".join(f"{index} {' '.join(values)}\n" for index, values in lines))
    if yaml is not None:
        (labels / "data.yaml").write_text(yaml, encoding="utf-8")
    _import(folder, labels)


@pytest.mark.parametrize(
    ("yaml", "words"),
    [
        (laughs(10), "class 0: the name is list, not text"),
        ("names: " + "[" * 100000 + "]" * 100000 + "\n", "nested too deeply"),
        ("names: &r [*r]\n", "class 0: the name is list"),
        ("names: {0: {1: 2}}\n", "class 0: the name is dict"),
    ],
)
def test_a_data_yaml_whose_names_are_not_values_is_refused_at_once(tmp_path, yaml, words) -> None:
    """The aliases' list was spelled out by `str()` (9**8 items took 200 MB; one more level, 2 GB); a
    100,000-deep list raised RecursionError out of the import."""
    folder = _project_folder(tmp_path)
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.txt").write_text(LINE + "\n")
    (labels / "data.yaml").write_text(yaml)
    limit = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_address_space() + (1 << 30), limit[1]))  # a bomb fails here
    try:
        with open_project(folder) as project, pytest.raises(DatasetError, match=words) as error:
            read_annotations(labels, project.dataset)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, limit)
    assert error.value.path == labels / "data.yaml"


def test_a_name_with_a_lone_surrogate_is_replaced_and_said(tmp_path) -> None:
    """`"\\ud800"` in a data.yaml failed the store's write (UnicodeEncodeError out of File ▸ Import)."""
    folder = _project_folder(tmp_path)
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.txt").write_text(LINE + "\n")
    (labels / "data.yaml").write_text('names: ["\\ud800"]\n')
    problems = _import(folder, labels)
    assert any("class 0" in line and "lone surrogate" in line for line in problems)
    with open_project(folder) as project:
        assert [c.name for c in project.dataset.categories.values()] == ["\ufffd"]


@pytest.mark.parametrize("line", ["0 1e308 0.1 0.5 0.1 0.5 0.5", "0 1.7e308 0.5 1.7e308 1"])
def test_a_coordinate_that_overflows_the_image_size_is_a_skipped_line(tmp_path, line) -> None:
    """1e308 of the width is infinite: a GeometryError raised out of File ▸ Import."""
    folder = _project_folder(tmp_path)
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.txt").write_text(f"{line}\n{LINE}\n")
    problems = _import(folder, labels)
    assert any("line 1: a coordinate too large" in p for p in problems), problems
    with open_project(folder) as project:
        assert len(project.dataset.instances) == 1


def test_a_label_file_linked_outside_the_folder_is_not_read(tmp_path) -> None:
    folder = _project_folder(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text(LINE + "\n")
    labels = tmp_path / "labels"
    labels.mkdir()
    os.symlink(outside, labels / "a.txt")
    problems = _import(folder, labels)
    assert any("a.txt: is a symbolic link; not read" in p for p in problems), problems
    with open_project(folder) as project:
        assert not project.dataset.instances


def test_a_data_yaml_linked_outside_is_not_read_when_found_by_search(tmp_path) -> None:
    """The names file is looked for up to two folders above the labels: a link met there is named and
    not followed (it could lead to any file the person can read); one named on purpose is read."""
    folder = _project_folder(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "data.yaml").write_text("names: [secret]\n")
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.txt").write_text(LINE + "\n")
    os.symlink(outside / "data.yaml", tmp_path / "data.yaml")
    problems = _import(folder, labels)
    assert any("data.yaml: " in p and "is a symbolic link; not read" in p for p in problems), problems
    with open_project(folder) as project:
        assert [c.name for c in project.dataset.categories.values()] != ["secret"]
        assert len(project.dataset.instances) == 1


def test_a_byte_order_mark_is_accepted(tmp_path) -> None:
    folder = _project_folder(tmp_path)
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.txt").write_text("\ufeff" + LINE + "\n")
    (labels / "classes.txt").write_text("\ufeffone\n")
    assert _import(folder, labels) == []
    with open_project(folder) as project:
        assert [c.name for c in project.dataset.categories.values()] == ["one"]
