"""Fuzzing the COCO importer and the RLE/polygon conversions with hypothesis.

Property: whatever the input, the importer returns a dataset (skipping and reporting bad items) or raises
DatasetError; the conversions return or raise GeometryError. Never another exception, never a crash, and
whatever is imported exports to a file that pycocotools loads, with masks that decode.
Crashes found here are kept as explicit regression examples (`@example`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO

from annotator.core.geometry import GeometryError, Mask, Polygons, mask_to_polygons, to_mask_array
from annotator.io.coco import coco_from_dict, save_coco
from annotator.io.errors import DatasetError
from annotator.io.jsonfile import read_json

# CI runs a bounded number of cases; ANNOTATOR_FUZZ_EXAMPLES=20000 runs a longer campaign by hand.
EXAMPLES = int(os.environ.get("ANNOTATOR_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOURCE = Path("fuzz.json")

BASE = {
    "info": {"description": "fuzz"},
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
        {"id": 2, "file_name": "sub/b.png", "width": 32, "height": 32},
    ],
    "categories": [{"id": 0, "name": "zero"}, {"id": 3, "name": "three", "supercategory": "s"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[1, 1, 30, 2, 20, 40]], "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 0, "iscrowd": 1,
         "segmentation": {"size": [48, 64], "counts": [100, 20, 2952]}},
        {"id": 3, "image_id": 2, "category_id": 3, "bbox": [2, 2, 10, 10], "area": 100},
        {"id": 4, "image_id": 2, "category_id": 3, "segmentation": {"size": [32, 32], "counts": "P:1O2N1O0O0000"}},
    ],
}  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)  # fmt: skip


@st.composite
def mutated_coco(draw):
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 6))):
        section = draw(st.sampled_from(["images", "categories", "annotations", "top"]))
        if section == "top":
            data[draw(st.sampled_from(["images", "annotations", "categories", "info"]))] = draw(json_values)
            continue
        items = data.get(section)
        if not isinstance(items, list) or not items:
            continue
        index = draw(st.integers(0, len(items) - 1))
        if not isinstance(items[index], dict):
            items[index] = draw(json_values)
            continue
        key = draw(st.sampled_from(sorted(set(items[index]) | {"id", "segmentation", "bbox", "file_name"})))
        action = draw(st.sampled_from(["set", "delete", "duplicate"]))
        if action == "set":
            items[index][key] = draw(
                json_values | st.just([[1, 2, float("nan"), 4, 5, 6]]) | st.just("../x.jpg")
            )
        elif action == "delete":
            items[index].pop(key, None)
        else:
            items.append(copy.deepcopy(items[index]))
    return data


@FUZZ
@given(mutated_coco())
@example({**BASE, "images": [{"id": 1, "file_name": "/etc/passwd", "width": 4, "height": 4}]})
@example({**BASE, "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[1, 2, 3]]}]})
@example({**BASE, "images": [{"id": 1, "file_name": "a.jpg", "width": 1e300, "height": -5}]})
# found by this fuzzer: an image over 2**32 pixels passed import and failed export
@example({**BASE, "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 67108864}]})
# found by this fuzzer: an extra key holding an integer past 64 bits could not be exported
@example({**BASE, "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48, "bbox": 2**64}]})
# found by this fuzzer: a vertex near 1e10 overflowed pycocotools' rasteriser and killed the process
@example(
    {
        **BASE,
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[1, 1, 3e10, 2, 20, -4e16]]}
        ],
    }
)
def test_importer_never_fails_with_anything_but_dataset_error(data):
    try:
        imported = coco_from_dict(data, source=SOURCE)
    except DatasetError as error:
        assert str(error).startswith("fuzz.json")
        return
    out = Path(tempfile.mkdtemp()) / "export.json"
    save_coco(imported.dataset, out)
    exported = json.loads(out.read_text())
    coco = COCO()
    coco.dataset = exported
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    for ann in exported["annotations"]:
        image = coco.imgs[ann["image_id"]]
        assert coco.annToMask(ann).shape == (image["height"], image["width"])
    for image in imported.dataset.images.values():
        assert ".." not in image.file_name.split("/") and not image.file_name.startswith("/")


@FUZZ
@given(st.binary(max_size=300) | st.builds(lambda n: orjson.dumps(BASE)[:n], st.integers(0, 700)))
def test_any_bytes_on_disk_read_or_fail_clearly(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("fuzz") / "in.json"
    path.write_bytes(raw)
    try:
        data = read_json(path)
        coco_from_dict(data, source=path)
    except DatasetError as error:
        assert str(path) in str(error)


@FUZZ
@given(
    st.integers(0, 20),
    st.integers(0, 20),
    st.one_of(st.text(alphabet=st.characters(min_codepoint=40, max_codepoint=130), max_size=20),
              st.lists(st.integers(-5, 500), max_size=8), json_values),
)  # fmt: skip
@example(2, 2, "1")
@example(0, 0, "\x80")  # found by this fuzzer: non-ASCII counts raised UnicodeEncodeError
@example(3, 3, [9])
def test_rle_counts_decode_or_fail_clearly(height, width, counts):
    try:
        mask = Mask.from_coco_rle({"size": [height, width], "counts": counts})
    except GeometryError:
        return
    assert mask.to_array().shape == (height, width)


@FUZZ
@given(
    st.lists(st.floats(-1e6, 1e6) | st.sampled_from([math.nan, math.inf, -math.inf]), max_size=14),
    st.integers(1, 50),
)
def test_polygons_rasterise_or_fail_clearly(values, size):
    try:
        polygons = Polygons.from_flat([values])
    except GeometryError:
        assert len(values) < 6 or len(values) % 2 or not all(math.isfinite(v) for v in values)
        return
    assert to_mask_array(polygons, size, size).shape == (size, size)


@FUZZ
@given(st.integers(1, 24), st.integers(1, 24), st.integers(0, 2**32 - 1))
def test_mask_to_polygons_never_crashes_and_reports_its_iou(height, width, seed):
    mask = (np.random.default_rng(seed).random((height, width)) > 0.6).astype(np.uint8)
    result = mask_to_polygons(mask, fill_holes=True)
    if result.polygons is not None:
        assert 0.0 <= result.iou <= 1.0
        assert (
            result.iou
            == np.logical_and(to_mask_array(result.polygons, height, width), mask).sum()
            / np.logical_or(to_mask_array(result.polygons, height, width), mask).sum()
        )
