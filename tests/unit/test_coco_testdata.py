"""Every JSON in the shared third-party test data: COCO instances files import, export and give back the
same masks through pycocotools; other files (panoptic, captions, results, SA-1B, LabelMe) are refused."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from annotator.io.coco import load_coco, save_coco
from annotator.io.errors import DatasetError
from conftest import testdata_dir as _testdata

ALL_JSON = sorted(_testdata().rglob("*.json"))


def _kind(path: Path) -> str:
    """What the file is, from its place in the test data (see INVENTORY.md), not from our importer."""
    text = path.as_posix()
    if "labelme" in text.lower() and "data_dataset_coco" not in text or "sources/cat_dog" in text:
        return "labelme"
    for marker in ("panoptic", "captions", "_results", "segment_anything"):
        if marker in path.name or marker in text:
            return "other"
    return "instances"


INSTANCES = [p for p in ALL_JSON if _kind(p) == "instances"]
OTHERS = [p for p in ALL_JSON if _kind(p) != "instances"]


def _ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(_testdata()).as_posix() for p in paths]


def _coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def _expected_mask(coco: COCO, ann: dict) -> np.ndarray:
    """The original annotation's mask; an annotation with only a bbox is its box, as the importer keeps it."""
    if not ann.get("segmentation"):
        x, y, w, h = ann["bbox"]
        ann = {**ann, "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}
    return coco.annToMask(ann)


def test_the_test_data_is_all_there() -> None:
    assert len(INSTANCES) >= 30 and len(OTHERS) >= 20


@pytest.mark.parametrize("rle", [False, True], ids=["polygons", "rle"])
@pytest.mark.parametrize("path", INSTANCES, ids=_ids(INSTANCES))
def test_instances_file_round_trips_pixel_equal(path: Path, rle: bool, tmp_path: Path) -> None:
    raw = json.loads(path.read_text())
    imported = load_coco(path)
    out = tmp_path / "out.json"
    save_coco(imported.dataset, out, rle=rle)
    original, exported = _coco(path), _coco(out)

    usable = [a for a in raw.get("annotations", []) if a.get("segmentation") or a.get("bbox")]
    assert len(exported.anns) == len(usable) == len(imported.dataset.instances)
    before = sorted(_signature(a, _expected_mask(original, a)) for a in usable)
    after = sorted(_signature(a, exported.annToMask(a)) for a in exported.anns.values())
    assert before == after  # same masks, classes and crowd flags, image by image
    if len({a["id"] for a in usable}) == len(usable):
        for ann in usable:  # and each annotation keeps its id
            assert np.array_equal(_expected_mask(original, ann), exported.annToMask(exported.anns[ann["id"]]))


def _signature(ann: dict, mask: np.ndarray) -> tuple:
    return (ann["image_id"], ann["category_id"], int(ann.get("iscrowd", 0)), mask.shape, mask.tobytes())


@pytest.mark.parametrize("path", OTHERS, ids=_ids(OTHERS))
def test_non_instances_files_are_refused_clearly(path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        load_coco(path)
    assert caught.value.path == path
    assert "not an instances file" in str(caught.value)
    if "panoptic" in path.name:
        assert "panoptic" in str(caught.value)
    if "captions" in path.name:
        assert "captions" in str(caught.value)


def test_pycococreator_wrong_area_and_bbox_are_recomputed(tmp_path: Path) -> None:
    path = _testdata() / "pycococreator_example/example_data/annotations/coco_example.json"
    stored = {a["id"]: a for a in json.loads(path.read_text())["annotations"]}
    assert stored[3]["area"] == 31463 and stored[3]["bbox"] == [0, 5, 256, 251]  # the known-bad values
    out = tmp_path / "out.json"
    save_coco(load_coco(path).dataset, out)
    crowd = _coco(out).anns[3]
    assert crowd["area"] == 34073  # the RLE's own pixel count (= the white pixels of 100_crowd_1.png)
    assert crowd["bbox"] == [0, 0, 209, 199]
    assert crowd["iscrowd"] == 1 and isinstance(crowd["segmentation"]["counts"], str)


def test_images_root_only_checks_presence() -> None:
    base = _testdata() / "pycococreator_example/example_data"
    path = base / "annotations/coco_example.json"
    assert load_coco(path, images_root=base / "images").problems == []
    missing = load_coco(path, images_root=base / "annotations")
    assert len(missing.dataset.images) == 1  # still loaded: width and height come from the JSON
    assert any("not found" in line for line in missing.problems)


def test_category_ids_are_kept_exactly(tmp_path: Path) -> None:
    isat = load_coco(_testdata() / "isat_coco_tiny/coco_tiny.json").dataset
    assert sorted(isat.categories) == sorted(
        c["id"] for c in _coco_categories("isat_coco_tiny/coco_tiny.json")
    )
    assert max(isat.categories) == 90 and len(isat.categories) == 80
    labelme = load_coco(
        _testdata() / "labelme_examples/instance_segmentation/data_dataset_coco/annotations.json"
    )
    assert labelme.dataset.categories[0].name == "_background_"
    assert 0 in labelme.dataset.instances  # annotation id 0 kept
    assert labelme.dataset.images[0].file_name == "JPEGImages/2011_000003.jpg"
    gaps = load_coco(_testdata() / "datumaro_coco_assets/coco_dataset/coco/annotations/instances_val.json")
    assert sorted(gaps.dataset.categories) == [1, 2, 4]


def _coco_categories(relative: str) -> list[dict]:
    return json.loads((_testdata() / relative).read_text())["categories"]


def test_extra_keys_survive_a_round_trip(tmp_path: Path) -> None:
    path = _testdata() / "datumaro_coco_assets/coco_dataset/coco/annotations/instances_val.json"
    out = tmp_path / "out.json"
    save_coco(load_coco(path).dataset, out)
    before, after = json.loads(path.read_text()), json.loads(out.read_text())
    assert after["info"] == before["info"] and after["licenses"] == before["licenses"]
    assert after["images"][0]["license"] == before["images"][0]["license"]
    with_attributes = next(a for a in after["annotations"] if "attributes" in a)
    assert with_attributes["attributes"] == {"x": 1, "y": "hello"}


def test_duplicate_annotation_ids_are_kept_and_reported(tmp_path: Path) -> None:
    path = _testdata() / "mmdetection_testdata/coco_wrong_format_sample.json"
    imported = load_coco(path)
    assert sorted(imported.dataset.instances) == [1, 2]  # COCO() would keep only one
    assert any("annotation 1: duplicate id" in line and "2" in line for line in imported.problems)


def test_default_z_order_puts_larger_instances_behind() -> None:
    dataset = load_coco(_testdata() / "isat_coco_tiny/coco_tiny.json").dataset
    for image_id in dataset.images:
        areas = [dataset.area_of(inst) for inst in dataset.instances_of(image_id)]  # back to front
        assert all(a >= b * 0.9 for a, b in zip(areas, areas[1:], strict=False)), areas
