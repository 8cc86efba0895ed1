"""COCO export options: our own fields round trip, only-accepted, polygons vs RLE for masks, results."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO

from annotator.core.geometry import Mask, Polygons, to_mask_array
from annotator.core.model import (
    Category,
    Dataset,
    Image,
    ImageStatus,
    Instance,
    Review,
    Source,
)
from annotator.io.coco import load_coco, save_coco, save_coco_results

H, W = 40, 50


def _square(x: float, y: float, size: float) -> Polygons:
    return Polygons.from_flat([[x, y, x + size, y, x + size, y + size, x, y + size]])


def _ring_mask() -> Mask:
    mask = np.zeros((H, W), np.uint8)
    mask[5:25, 5:25] = 1
    mask[10:20, 10:20] = 0  # a hole: polygons cannot carry it
    return Mask.from_array(mask)


def _blob_mask() -> Mask:
    mask = np.zeros((H, W), np.uint8)
    mask[30:36, 30:45] = 1
    mask[26:30, 38:41] = 1
    return Mask.from_array(mask)


def _dataset() -> Dataset:
    dataset = Dataset(extra={"info": {"description": "ours"}})
    dataset.put_images([Image(7, "sub/a.png", W, H, ImageStatus.IN_REVIEW)], notify=False)
    dataset.put_categories([Category(0, "zero"), Category(5, "five", "things", (10, 20, 30))], notify=False)
    model = Source.from_model("maskrcnn_resnet50_fpn", 0.875)
    dataset.put_instances(
        [
            Instance(1, 7, 0, _square(1, 1, 10), z=3),  # manual, unreviewed: accepted
            Instance(2, 7, 5, _ring_mask(), z=0, source=model, review=Review.ACCEPTED),
            Instance(3, 7, 5, _blob_mask(), z=1, source=model, review=Review.EDITED),
            Instance(4, 7, 5, _square(20, 2, 5), z=2, source=model),  # unreviewed prediction
            Instance(5, 7, 0, _square(30, 2, 5), z=4, source=model, review=Review.REJECTED),
            Instance(6, 7, 0, _square(2, 28, 6), z=5, review=Review.REJECTED, iscrowd=True),
        ],
        notify=False,
    )
    return dataset


def _coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def test_own_fields_round_trip(tmp_path: Path) -> None:
    original = _dataset()
    save_coco(original, tmp_path / "out.json")
    loaded = load_coco(tmp_path / "out.json").dataset
    assert loaded.images == original.images
    assert loaded.categories[5].color == (10, 20, 30)
    assert loaded.extra == {"info": {"description": "ours"}}
    for inst in original.instances.values():
        back = loaded.instances[inst.id]
        assert (back.z, back.source, back.review, back.iscrowd, back.category_id) == (
            inst.z,
            inst.source,
            inst.review,
            inst.iscrowd,
            inst.category_id,
        )
        assert np.array_equal(to_mask_array(back.geometry, H, W), to_mask_array(inst.geometry, H, W))


def test_own_fields_are_namespaced_and_pycocotools_reads_the_file(tmp_path: Path) -> None:
    save_coco(_dataset(), tmp_path / "out.json")
    raw = json.loads((tmp_path / "out.json").read_text())
    ann = raw["annotations"][1]
    assert ann["annotator"] == {
        "z": 0,
        "source": "model",
        "review": "accepted",
        "model": "maskrcnn_resnet50_fpn",
        "score": 0.875,
    }
    assert "score" not in ann  # only with include_scores
    coco = _coco(tmp_path / "out.json")
    assert sorted(coco.getCatIds()) == [0, 5]
    for inst in _dataset().instances.values():
        assert np.array_equal(coco.annToMask(coco.anns[inst.id]), to_mask_array(inst.geometry, H, W))
        assert coco.anns[inst.id]["area"] == to_mask_array(inst.geometry, H, W).sum()


def test_masks_become_polygons_only_when_exact(tmp_path: Path) -> None:
    save_coco(_dataset(), tmp_path / "polygons.json")
    save_coco(_dataset(), tmp_path / "rle.json", rle=True)
    polygons = {a["id"]: a for a in json.loads((tmp_path / "polygons.json").read_text())["annotations"]}
    assert isinstance(polygons[1]["segmentation"], list)
    assert isinstance(polygons[2]["segmentation"], dict)  # the hole keeps it RLE
    assert isinstance(polygons[3]["segmentation"], list)  # a hole-free mask traces exactly
    assert isinstance(polygons[6]["segmentation"], list)  # a crowd polygon stays a polygon
    rle = json.loads((tmp_path / "rle.json").read_text())["annotations"]
    assert all(isinstance(a["segmentation"]["counts"], str) for a in rle)


def test_only_accepted(tmp_path: Path) -> None:
    save_coco(_dataset(), tmp_path / "out.json", accepted_only=True)
    assert sorted(_coco(tmp_path / "out.json").anns) == [1, 2, 3]


def test_scores_in_instances_and_results(tmp_path: Path) -> None:
    save_coco(_dataset(), tmp_path / "gt.json", include_scores=True)
    anns = {a["id"]: a for a in json.loads((tmp_path / "gt.json").read_text())["annotations"]}
    assert anns[2]["score"] == 0.875 and "score" not in anns[1]

    assert save_coco_results(_dataset(), tmp_path / "res.json") == 4  # rejected ones are left out
    gt = _coco(tmp_path / "gt.json")
    with contextlib.redirect_stdout(io.StringIO()):
        results = gt.loadRes(str(tmp_path / "res.json"))
    assert sorted(a["score"] for a in results.anns.values()) == [0.875, 0.875, 0.875, 1.0]
    masks = sorted(results.annToMask(a).sum() for a in results.anns.values())
    assert masks == sorted(int(gt.annToMask(gt.anns[i]).sum()) for i in (1, 2, 3, 4))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    masks=st.lists(
        st.lists(st.lists(st.booleans(), min_size=12, max_size=12), min_size=9, max_size=9),
        min_size=1,
        max_size=4,
    ),
    rle=st.booleans(),
)
def test_any_masks_round_trip_pixel_equal(tmp_path: Path, masks: list, rle: bool) -> None:
    arrays = [np.array(m, dtype=np.uint8) for m in masks if np.any(m)]
    if not arrays:
        return
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 12, 9)], notify=False)
    dataset.put_categories([Category(1, "x")], notify=False)
    dataset.put_instances(
        [Instance(i + 1, 1, 1, Mask.from_array(a), z=i) for i, a in enumerate(arrays)], notify=False
    )
    path = tmp_path / f"h{rle}.json"
    save_coco(dataset, path, rle=rle)
    coco, back = _coco(path), load_coco(path).dataset
    for index, array in enumerate(arrays, start=1):
        assert np.array_equal(coco.annToMask(coco.anns[index]), array)
        assert np.array_equal(to_mask_array(back.instances[index].geometry, 9, 12), array)
        assert back.instances[index].z == index - 1
