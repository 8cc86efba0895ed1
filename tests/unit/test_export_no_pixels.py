"""No export writes an instance that covers no pixels (a collinear polygon, an empty mask, a polygon
outside its image): COCO readers and torchvision's training reject area 0 and bbox [0, 0, 0, 0]. Each
is left out and named in the notes the export returns."""

from __future__ import annotations

import json

import pytest
from pycocotools.coco import COCO

from annotator.io.coco import save_coco
from annotator.io.labelme import save_labelme
from annotator.io.panoptic import JSON_NAME, save_panoptic
from annotator.io.problems import Problems
from annotator.io.yolo import save_yolo
from no_pixel_instances import EMPTY, dataset_with_empty_instances


def assert_named(notes: list[str]) -> None:
    text = "\n".join(notes)
    for instance_id in EMPTY:
        assert f"instance {instance_id} on a.png" in text
    assert "area 0" in text and "instance 1 " not in text


def test_coco_leaves_out_area_zero_and_says_so(tmp_path):
    problems = Problems()
    count = save_coco(dataset_with_empty_instances(), tmp_path / "out.json", problems=problems)
    data = json.loads((tmp_path / "out.json").read_text())
    assert count == 1 and [a["id"] for a in data["annotations"]] == [1]
    assert all(a["area"] > 0 and a["bbox"][2] > 0 for a in data["annotations"])
    assert (
        COCO(str(tmp_path / "out.json")).annToMask(data["annotations"][0]).sum()
        == data["annotations"][0]["area"]
    )
    assert_named(problems.lines())


@pytest.mark.parametrize("export_format", ["labelme", "yolo", "panoptic"])
def test_folder_formats_leave_out_area_zero_and_say_so(tmp_path, export_format):
    dataset = dataset_with_empty_instances()
    if export_format == "labelme":
        exported = save_labelme(dataset, tmp_path)
        written = len(json.loads((tmp_path / "a.json").read_text())["shapes"])
    elif export_format == "yolo":
        exported = save_yolo(dataset, tmp_path)
        written = len((tmp_path / "labels" / "a.txt").read_text().splitlines())
    else:
        exported = save_panoptic(dataset, tmp_path)
        written = len(json.loads((tmp_path / JSON_NAME).read_text())["annotations"][0]["segments_info"])
    assert written == 1 and exported.instances == 1  # the count said is the count in the files
    assert_named(exported.notes)
