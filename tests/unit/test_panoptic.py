"""COCO panoptic export: PNGs decoded back to segment ids, checked pixel by pixel against the instances."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from annotator.core.geometry import Mask, Polygons, to_mask_array
from annotator.core.model import Category, Dataset, Image, Instance, Review, Source
from annotator.io.coco import load_coco
from annotator.io.panoptic import MAX_SEGMENT_ID, decode_png, save_panoptic
from conftest import testdata_dir as _testdata

COCO_TINY = _testdata() / "isat_coco_tiny/coco_tiny.json"
H, W = 30, 40
BIG_ID = 2**24  # does not fit in a panoptic PNG


def _box(x0: int, y0: int, x1: int, y1: int) -> Polygons:
    return Polygons.from_flat([[x0, y0, x1, y0, x1, y1, x0, y1]])


def _overlapping() -> Dataset:
    """Back to front: a big polygon, a polygon hidden under the mask, the mask, a small polygon on top."""
    mask = np.zeros((H, W), np.uint8)
    mask[5:20, 10:30] = 1
    mask[8:12, 14:18] = 0  # a hole: the big polygon shows through it
    dataset = Dataset()
    dataset.put_images([Image(1, "a.jpg", W, H)])
    dataset.put_categories([Category(3, "car"), Category(9, "dog")])
    dataset.put_instances(
        [
            Instance(10, 1, 3, _box(0, 0, 25, 25), z=0),
            Instance(11, 1, 9, _box(20, 6, 28, 14), z=1),  # fully inside the mask's solid part
            Instance(12, 1, 9, Mask.from_array(mask), z=2, iscrowd=True),
            Instance(BIG_ID, 1, 3, _box(26, 15, 38, 28), z=3),
        ]
    )
    return dataset


def _expected_ids(dataset: Dataset, image_id: int, ids: dict[int, int]) -> np.ndarray:
    """Per pixel, the segment id of the covering instance with the highest z (0 where none covers it)."""
    image = dataset.images[image_id]
    instances = list(dataset.instances_of(image_id))
    stack = np.stack([to_mask_array(i.geometry, image.height, image.width) for i in instances])
    z = np.array([i.z for i in instances])[:, None, None]
    front = np.argmax(np.where(stack > 0, z, -1), axis=0)
    expected = np.array([ids[i.id] for i in instances])[front]
    return np.where(stack.any(axis=0), expected, 0)


def _pixel_box(pixels: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(pixels)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def test_front_most_instance_owns_each_pixel(tmp_path: Path) -> None:
    dataset = _overlapping()
    exported = save_panoptic(dataset, tmp_path)
    problems = exported.notes
    data = json.loads((tmp_path / "panoptic.json").read_text())
    (annotation,) = data["annotations"]
    assert exported.instances == len(annotation["segments_info"]) == len(dataset.instances) - 1  # 11 hidden
    assert annotation["image_id"] == 1 and annotation["file_name"] == "a.png"
    decoded = decode_png(tmp_path / "panoptic/a.png")
    assert decoded.shape == (H, W)
    segments = {s["id"]: s for s in annotation["segments_info"]}
    # the big id is renumbered to the smallest id free on the image, and the mapping is kept in the file
    assert set(segments) == {10, 12, 1}
    assert segments[1]["annotator"] == {"instance_id": BIG_ID}
    assert np.array_equal(decoded, _expected_ids(dataset, 1, {10: 10, 11: 11, 12: 12, BIG_ID: 1}))
    assert 11 not in decoded and (decoded == 10)[10, 15]  # the hole shows the big polygon
    for segment_id, segment in segments.items():
        pixels = decoded == segment_id
        assert segment["area"] == int(pixels.sum()) > 0
        assert segment["bbox"] == _pixel_box(pixels)
    assert segments[12]["iscrowd"] == 1 and segments[10]["iscrowd"] == 0
    assert segments[1]["category_id"] == 3 and segments[12]["category_id"] == 9
    assert problems == [
        "instance 11: hidden by the instances in front of it; left out",
        f"instance {BIG_ID}: id does not fit in a panoptic PNG (24 bits); written as segment 1",
    ]
    assert [(c["id"], c["isthing"]) for c in data["categories"]] == [(3, 1), (9, 1)]
    assert data["images"] == [{"id": 1, "file_name": "a.jpg", "width": W, "height": H}]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.png", "panoptic", "panoptic.json"]


def test_ids_are_stable_unique_and_non_zero(tmp_path: Path) -> None:
    dataset = Dataset()
    dataset.put_images([Image(1, "x.png", W, H)])
    dataset.put_categories([Category(1, "thing")])
    ids = [1, BIG_ID + 5, MAX_SEGMENT_ID, BIG_ID, 2]
    dataset.put_instances([Instance(n, 1, 1, _box(2 * k, 0, 2 * k + 2, 5), z=k) for k, n in enumerate(ids)])
    save_panoptic(dataset, tmp_path / "one")
    save_panoptic(dataset, tmp_path / "two")
    first = json.loads((tmp_path / "one/panoptic.json").read_text())["annotations"][0]["segments_info"]
    second = json.loads((tmp_path / "two/panoptic.json").read_text())["annotations"][0]["segments_info"]
    assert first == second
    mapping = {s.get("annotator", {}).get("instance_id", s["id"]): s["id"] for s in first}
    assert mapping == {1: 1, 2: 2, MAX_SEGMENT_ID: MAX_SEGMENT_ID, BIG_ID: 3, BIG_ID + 5: 4}
    decoded = decode_png(tmp_path / "one/panoptic/x.png")
    assert set(np.unique(decoded)) == {0, 1, 2, 3, 4, MAX_SEGMENT_ID}


def test_accepted_only_and_png_names(tmp_path: Path) -> None:
    dataset = Dataset()
    names = ["a.jpg", "a.png", "sub/b.jpg", "sub%2Fb.jpg", "A.JPG"]
    dataset.put_images([Image(k + 1, name, W, H) for k, name in enumerate(names)])
    dataset.put_categories([Category(1, "thing")])
    predicted = Source.from_model("maskrcnn", 0.9)
    dataset.put_instances(
        [
            Instance(1, 1, 1, _box(0, 0, 10, 10), source=predicted),
            Instance(2, 1, 1, _box(10, 10, 20, 20), source=predicted, review=Review.ACCEPTED),
            Instance(3, 1, 1, _box(20, 0, 30, 10), z=1),  # drawn by hand
            Instance(4, 1, 1, _box(0, 20, 10, 29), source=predicted, review=Review.REJECTED),
        ]
    )
    problems = save_panoptic(dataset, tmp_path, accepted_only=True).notes
    data = json.loads((tmp_path / "panoptic.json").read_text())
    files = {a["image_id"]: a["file_name"] for a in data["annotations"]}
    assert files == {1: "a.png", 2: "a~2.png", 3: "sub%2Fb.png", 4: "sub%252Fb.png", 5: "A~5.png"}
    assert sorted(p.name for p in (tmp_path / "panoptic").iterdir()) == sorted(files.values())
    assert sum("clashes" in p for p in problems) == 2
    segments = data["annotations"][0]["segments_info"]
    assert [s["id"] for s in segments] == [2, 3]
    assert set(np.unique(decode_png(tmp_path / "panoptic/a.png"))) == {0, 2, 3}


def test_coco_tiny_segments_lie_inside_their_instances(tmp_path: Path) -> None:
    dataset = load_coco(COCO_TINY).dataset
    problems = save_panoptic(dataset, tmp_path).notes
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(COCO_TINY))
    data = json.loads((tmp_path / "panoptic.json").read_text())
    assert len(data["annotations"]) == len(data["images"]) == 5
    assert len(data["categories"]) == 80 and all(c["isthing"] == 1 for c in data["categories"])
    exported = 0
    for annotation in data["annotations"]:
        decoded = decode_png(tmp_path / "panoptic" / annotation["file_name"])
        image = coco.imgs[annotation["image_id"]]
        assert decoded.shape == (image["height"], image["width"])
        ids = [s["id"] for s in annotation["segments_info"]]
        assert len(ids) == len(set(ids)) and 0 not in ids
        assert set(np.unique(decoded)) - {0} == set(ids)
        for segment in annotation["segments_info"]:
            instance_id = segment.get("annotator", {}).get("instance_id", segment["id"])
            ann = coco.anns[instance_id]
            pixels = decoded == segment["id"]
            assert not np.any(pixels & (coco.annToMask(ann) == 0))  # a subset of its instance's mask
            assert segment["area"] == int(pixels.sum()) and segment["bbox"] == _pixel_box(pixels)
            assert segment["category_id"] == ann["category_id"] and segment["iscrowd"] == ann["iscrowd"]
            exported += 1
    dropped = sum("left out" in p for p in problems)
    assert exported + dropped == len(coco.anns) == 63
    assert sum("24 bits" in p for p in problems) == 2  # the two crowd regions have 12-digit ids
