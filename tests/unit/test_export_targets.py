"""Exports never write one image's labels over another's, and never write through a link planted in the
export folder (a dataset can ship `labels/` or `a.json` as a symlink to anywhere)."""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage

from annotator.core.geometry import Polygons
from annotator.core.model import Category, Dataset, Image, Instance
from annotator.io.errors import DatasetError
from annotator.io.labelme import load_labelme
from annotator.io.labelme_write import save_labelme
from annotator.io.panoptic import save_panoptic
from annotator.io.yolo import save_yolo


def _dataset(names: list[str]) -> Dataset:
    dataset = Dataset()
    dataset.put_categories([Category(1, "thing")])
    dataset.put_images([Image(i, name, 40, 30) for i, name in enumerate(names, start=1)])
    dataset.put_instances(
        Instance(i, i, 1, Polygons((np.array([[1.0 + i, 1.0], [20.0, 2.0], [10.0, 20.0]]),)))
        for i in range(1, len(names) + 1)
    )
    return dataset


def test_labelme_gives_clashing_stems_their_own_files_and_says_so(tmp_path):
    names = ["a.jpg", "a.png", "A.JPG", "sub/b.jpg", "sub/b.tif"]
    problems = save_labelme(_dataset(names), tmp_path).notes
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    assert len(written) == 5 and "a.json" in written
    assert sum("another image already has the name" in p for p in problems) == 3
    back = load_labelme(tmp_path).dataset
    assert sorted(i.file_name for i in back.images.values()) == sorted(names)
    assert len(back.instances) == 5


def test_yolo_reports_images_whose_label_files_would_clash(tmp_path):
    problems = save_yolo(_dataset(["a.jpg", "a.png", "A.JPG", "b.jpg"]), tmp_path).notes
    labels = sorted(p.name for p in (tmp_path / "labels").iterdir())
    assert labels == ["a.txt", "b.txt"]
    assert len((tmp_path / "labels/a.txt").read_text().splitlines()) == 1  # a.jpg's instance only
    clashes = [p for p in problems if "already written for 'a.jpg'" in p]
    assert len(clashes) == 2 and "a.png" in clashes[0]


@pytest.fixture
def canary(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary").write_bytes(b"keep me" * 100)
    return outside / "canary"


@pytest.mark.parametrize("writer", ["labelme", "yolo", "panoptic"])
def test_a_linked_folder_in_the_export_is_refused(tmp_path, canary, writer):
    out = tmp_path / "out"
    out.mkdir()
    folder = {"labelme": "sub", "yolo": "labels", "panoptic": "panoptic"}[writer]
    (out / folder).symlink_to(canary.parent, target_is_directory=True)
    dataset = _dataset(["sub/a.jpg"])
    save = {"labelme": save_labelme, "yolo": save_yolo, "panoptic": save_panoptic}[writer]
    with pytest.raises(DatasetError, match="symbolic link"):
        save(dataset, out)
    assert sorted(os.listdir(canary.parent)) == ["canary"]


@pytest.mark.parametrize("name", ["a.json", "classes.txt", "panoptic.json", "labels/a.txt"])
def test_a_linked_file_in_the_export_is_replaced_never_written_through(tmp_path, canary, name):
    out = tmp_path / "out"
    (out / "labels").mkdir(parents=True)
    (out / name).symlink_to(canary)
    before = canary.read_bytes()
    dataset = _dataset(["a.jpg"])
    save = save_labelme if name == "a.json" else save_panoptic if name.startswith("panoptic") else save_yolo
    save(dataset, out)
    assert canary.read_bytes() == before
    assert not (out / name).is_symlink() and (out / name).stat().st_size > 0


STEMS = st.sampled_from(["a", "A", "b", "sub/a", "sub/A", "ü"])
SUFFIXES = st.sampled_from([".jpg", ".JPG", ".png", ".tif", ".webp"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(st.tuples(STEMS, SUFFIXES).map("".join), min_size=1, max_size=8, unique=True),
    linked=st.sets(
        st.sampled_from(["a.json", "A.json", "b.json", "labels/a.txt", "classes.txt"]), max_size=3
    ),
)
def test_no_export_loses_an_image_or_writes_through_a_link(tmp_path_factory, canary, names, linked):
    """Property: LabelMe keeps every image (it imports back with the same names); YOLO writes each label
    file for one image only and names every image it left out; a planted link's target is untouched."""
    out = tmp_path_factory.mktemp("out")
    (out / "labels").mkdir()
    for name in linked:
        (out / name).symlink_to(canary)
    before = canary.read_bytes()
    dataset = _dataset(names)
    save_labelme(dataset, out)
    back = load_labelme(out).dataset
    assert sorted(i.file_name for i in back.images.values()) == sorted(names)
    problems = save_yolo(dataset, out).notes
    label_files = [f for f in (out / "labels").rglob("*.txt") if not f.is_symlink()]
    left_out = [p for p in problems if "not written" in p]
    assert len(label_files) + len(left_out) == len(names)
    assert all(len(f.read_text().splitlines()) == 1 for f in label_files)
    assert canary.read_bytes() == before


@pytest.mark.parametrize("to", ["coco", "labelme", "yolo", "panoptic"])
def test_convert_out_that_is_a_link_to_a_folder_is_refused(tmp_path, canary, to):
    """`convert --out lm`, with `lm` a link a dataset shipped to a folder anywhere, wrote every file of
    the export into that folder (`--to coco`: `annotations.json` there)."""
    from annotator.cli.main import main

    folder = tmp_path / "data"
    folder.mkdir()
    PilImage.new("RGB", (40, 30)).save(folder / "a.png")
    polygon = [[2, 2, 30, 2, 30, 20]]
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": polygon, "iscrowd": 0}],
    }
    (folder / "coco.json").write_text(json.dumps(coco))
    out = folder / "out"
    out.symlink_to(canary.parent, target_is_directory=True)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["convert", str(folder / "coco.json"), "--to", to, "--out", str(out)])
    lines = err.getvalue().splitlines()
    assert code == 2 and len(lines) == 1 and "symbolic link" in lines[0] and str(out) in lines[0], lines
    assert sorted(os.listdir(canary.parent)) == ["canary"]


@pytest.mark.parametrize("writer", ["labelme", "yolo", "panoptic"])
def test_an_export_folder_that_is_a_link_is_refused_by_the_writer(tmp_path, canary, writer):
    out = tmp_path / "out"
    out.symlink_to(canary.parent, target_is_directory=True)
    save = {"labelme": save_labelme, "yolo": save_yolo, "panoptic": save_panoptic}[writer]
    with pytest.raises(DatasetError, match="symbolic link"):
        save(_dataset(["a.jpg"]), out)
    assert sorted(os.listdir(canary.parent)) == ["canary"]
