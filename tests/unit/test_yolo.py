"""YOLO segmentation export, checked against ultralytics' JSON2YOLO and X-AnyLabeling's own YOLO text."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from annotator.core.geometry import Mask, Polygons, to_mask_array
from annotator.core.model import Category, Dataset, Image, Instance
from annotator.io.coco import load_coco
from annotator.io.labelme import load_labelme
from annotator.io.yolo import save_yolo
from conftest import testdata_dir as _testdata


def _lines(path: Path) -> list[tuple[int, np.ndarray]]:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(int(row[0]), np.array(row[1:], dtype=np.float64)) for row in rows]


def _contains(lines: list[tuple[int, np.ndarray]], line: tuple[int, np.ndarray]) -> bool:
    return any(
        c == line[0] and v.shape == line[1].shape and np.allclose(v, line[1], atol=2e-6) for c, v in lines
    )


def test_coco_tiny_matches_json2yolo(tmp_path: Path) -> None:
    dataset = load_coco(_testdata() / "isat_coco_tiny/coco_tiny.json").dataset
    exported = save_yolo(dataset, tmp_path)
    problems = exported.notes
    assert sum("crowd region left out" in p for p in problems) == 2
    # what the export says it wrote: every instance but the two crowd regions, one per object in parts
    assert exported.instances == len(dataset.instances) - 2
    classes = (tmp_path / "classes.txt").read_text().splitlines()
    assert len(classes) == 80 and classes[0] == "person" and classes[-1] == "toothbrush"
    yaml = (tmp_path / "data.yaml").read_text()
    assert "nc: 80" in yaml and '  79: "toothbrush"' in yaml and "  79: 90" in yaml
    matched = single_parts = 0
    for image in dataset.images.values():
        stem = Path(image.file_name).stem
        ours = _lines(tmp_path / "labels" / f"{stem}.txt")
        theirs = _lines(_testdata() / "isat_coco_tiny/yolo" / f"{stem}.txt")
        single_parts += sum(
            1 for i in dataset.instances_of(image.id) if not i.iscrowd and len(i.geometry.rings) == 1
        )
        parts = sum(len(i.geometry.rings) for i in dataset.instances_of(image.id) if not i.iscrowd)
        assert len(ours) == parts  # one line per polygon part
        matched += sum(_contains(theirs, line) for line in ours)
    # every single-part polygon matches (JSON2YOLO joins the parts of the other 5 into one line)
    assert matched == single_parts == 56


def test_labelme_to_yolo_matches_x_anylabeling(tmp_path: Path) -> None:
    base = _testdata() / "xanylabeling_examples/examples/segmentation/instance_segmentation"
    save_yolo(load_labelme(base / "sources").dataset, tmp_path)
    ours, theirs = _lines(tmp_path / "labels/cat_dog.txt"), _lines(base / "labels/cat_dog.txt")
    assert len(ours) == len(theirs) == 2
    assert all(_contains(theirs, line) for line in ours)
    assert (tmp_path / "classes.txt").read_text().split() == (base / "classes.txt").read_text().split()


def test_masks_are_traced_with_holes_filled_and_reported(tmp_path: Path) -> None:
    mask = np.zeros((30, 40), np.uint8)
    mask[5:25, 5:30] = 1
    mask[10:15, 10:15] = 0
    dataset = Dataset()
    dataset.put_images([Image(1, "sub/dir/a.png", 40, 30)])
    dataset.put_categories([Category(7, 'say "hi"'), Category(2, "two")])
    square = Polygons.from_flat([[32, 2, 38, 2, 38, 8, 32, 8]])
    dataset.put_instances([Instance(1, 1, 7, Mask.from_array(mask)), Instance(2, 1, 2, square, z=1)])
    problems = save_yolo(dataset, tmp_path).notes
    assert problems == ["instance 1: mask has 1 hole; filled in the YOLO polygon"]
    lines = _lines(tmp_path / "labels/sub/dir/a.txt")
    assert [c for c, _ in lines] == [1, 0]  # category 7 sorts after 2
    ring = lines[0][1].reshape(-1, 2) * [40, 30]
    filled = mask.copy()
    filled[10:15, 10:15] = 1
    assert np.array_equal(to_mask_array(Polygons((ring,)), 30, 40), filled)
    assert '  1: "say \\"hi\\""' in (tmp_path / "data.yaml").read_text()


def test_an_instance_in_two_parts_is_two_yolo_objects_and_the_export_says_so(tmp_path: Path) -> None:
    """YOLO has one polygon per object: a rectangle the eraser cut in two is written as two lines, and
    the export's notes say so (the status bar's count of instances was one less than the objects)."""
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 40, 30)])
    dataset.put_categories([Category(1, "table")])
    parts = Polygons.from_flat([[2, 2, 10, 2, 10, 10, 2, 10], [20, 2, 30, 2, 30, 10, 20, 10]])
    dataset.put_instances([Instance(1, 1, 1, parts)])
    problems = save_yolo(dataset, tmp_path).notes
    assert len(_lines(tmp_path / "labels/a.txt")) == 2
    assert problems == ["instance 1: in 2 parts: written as 2 YOLO objects, one polygon each"]


def test_an_export_into_a_folder_with_older_labels_says_they_are_still_there(tmp_path: Path) -> None:
    """Labels of an earlier export (80 classes) stayed beside a new data.yaml of 3 classes, unreported:
    anything trained from the folder read broken labels. They are never deleted (they may be someone's
    work), but the export says so."""
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 40, 30)])
    dataset.put_categories([Category(1, "table")])
    dataset.put_instances([Instance(1, 1, 1, Polygons.from_flat([[2, 2, 10, 2, 10, 10, 2, 10]]))])
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "old.txt").write_text("79 0.1 0.1 0.2 0.1 0.2 0.2\n")
    problems = save_yolo(dataset, tmp_path).notes
    assert (tmp_path / "labels" / "old.txt").is_file()
    assert len(problems) == 1 and "1 .txt file under" in problems[0] and "old.txt" in problems[0]
    assert save_yolo(dataset, tmp_path / "fresh").notes == []  # an empty folder: nothing to say
