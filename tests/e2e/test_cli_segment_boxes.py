"""`annotator segment-boxes`: a detection dataset (boxes only) becomes an instance-segmentation one."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from conftest import testdata_dir as _testdata

TINY = _testdata() / "isat_coco_tiny"
PRIMITIVES = _testdata() / "labelme_examples/primitives"


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "annotator.cli.main", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def _boxes_only_copy(tmp_path: Path, keep_masks: int = 20) -> tuple[Path, dict, set[int]]:
    """coco_tiny with the segmentation of all but `keep_masks` non-crowd annotations removed."""
    shutil.copytree(TINY / "images", tmp_path / "images")
    data = json.loads((TINY / "coco_tiny.json").read_text())
    truth = json.loads(json.dumps(data))
    boxed = set()
    for ann in data["annotations"][keep_masks:]:
        if not ann.get("iscrowd"):
            ann["segmentation"] = []
            boxed.add(ann["id"])
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(data))
    return path, truth, boxed


def test_grabcut_gives_every_box_a_mask_keeping_class_and_id(tmp_path):
    source, truth, boxed = _boxes_only_copy(tmp_path)
    out = tmp_path / "masks.json"
    result = _run("segment-boxes", source, "--out", out, "--grabcut")
    assert result.returncode == 0, result.stderr
    assert f"of {len(boxed)} boxes segmented" in result.stdout
    written = _coco(out)
    truth_anns = {a["id"]: a for a in truth["annotations"]}
    ious = []
    for ann_id in boxed:
        ann = written.anns[ann_id]
        assert ann["category_id"] == truth_anns[ann_id]["category_id"]
        if ann["segmentation"] == [] or ann["area"] == 0:
            continue
        image = written.imgs[ann["image_id"]]
        got = written.annToRLE(ann)
        want = mask_utils.merge(
            mask_utils.frPyObjects(truth_anns[ann_id]["segmentation"], image["height"], image["width"])
        )
        ious.append(float(mask_utils.iou([got], [want], [0])[0][0]))
    assert len(ious) >= 0.8 * len(boxed)
    assert np.median(ious) > 0.4, ious  # GrabCut on real COCO photos: the baseline, not the goal
    kept = set(truth_anns) - boxed
    for ann_id in kept:  # what had a region is written as it was
        assert written.anns[ann_id]["segmentation"]


def test_the_model_mask_head_segments_the_boxes(tmp_path, checkpoint):
    source, _truth, boxed = _boxes_only_copy(tmp_path, keep_masks=55)
    out = tmp_path / "masks.json"
    result = _run("segment-boxes", source, "--out", out, "--weights", checkpoint, "--max-size", "320")
    assert result.returncode == 0, result.stderr
    written = _coco(out)
    segmented = [a for a in written.anns.values() if a["id"] in boxed and a["area"] > 0]
    assert segmented, result.stdout + result.stderr
    for ann in segmented:  # inside its box: the mask head only paints the box it was given
        x, y, w, h = ann["bbox"]
        rle = written.annToRLE(ann)
        bx, by, bw, bh = mask_utils.toBbox(rle)
        assert bx >= x - 1 and by >= y - 1 and bx + bw <= x + w + 1 and by + bh <= y + h + 1


def test_labelme_rectangles_and_only_they_become_masks(tmp_path):
    shutil.copytree(PRIMITIVES, tmp_path / "primitives")
    shapes = json.loads((tmp_path / "primitives/primitives.json").read_text())["shapes"]
    rectangles = sum(s.get("shape_type") == "rectangle" for s in shapes)
    assert rectangles
    out = tmp_path / "masks.json"
    result = _run("segment-boxes", tmp_path / "primitives", "--out", out, "--grabcut")
    assert result.returncode == 0, result.stderr
    assert f"of {rectangles} boxes segmented" in result.stdout


def test_bad_input_is_one_line(tmp_path):
    result = _run("segment-boxes", tmp_path / "missing.json", "--out", tmp_path / "o.json", "--grabcut")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_boxes_on_images_that_cannot_be_read_are_counted_box_by_box(tmp_path):
    """Without the images every box stays a box: the summary said "58 of 63 boxes segmented, 5 kept"
    (it counted images, not boxes)."""
    source, _truth, boxed = _boxes_only_copy(tmp_path)
    shutil.rmtree(tmp_path / "images")
    result = _run("segment-boxes", source, "--out", tmp_path / "masks.json", "--grabcut")
    assert result.returncode == 0, result.stderr
    assert f"0 of {len(boxed)} boxes segmented, {len(boxed)} kept as boxes" in result.stdout
