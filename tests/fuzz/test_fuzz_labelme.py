"""Fuzzing the LabelMe importer: any mutation of a valid file imports (bad shapes reported) or raises
DatasetError, and what imports exports to COCO that pycocotools reads back."""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage
from pycocotools.coco import COCO

from annotator.io.coco import save_coco
from annotator.io.errors import DatasetError
from annotator.io.labelme import load_labelme

EXAMPLES = int(os.environ.get("ANNOTATOR_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _png_b64(mask: np.ndarray) -> str:
    buffer = io.BytesIO()
    PilImage.fromarray(mask.astype(bool)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


BASE = {
    "version": "5.4.1",
    "flags": {},
    "imagePath": "img.jpg",
    "imageData": None,
    "imageHeight": 40,
    "imageWidth": 50,
    "shapes": [
        {"label": "cat", "points": [[1, 1], [20, 2], [10, 30]], "group_id": None, "shape_type": "polygon", "flags": {}},
        {"label": "cat", "points": [[30, 5], [45, 20]], "group_id": 1, "shape_type": "rectangle", "flags": {}},
        {"label": "cat", "points": [[30, 30], [34, 30]], "group_id": 1, "shape_type": "circle", "flags": {}},
        {"label": "dog", "points": [[5, 5], [14, 12]], "group_id": None, "shape_type": "mask", "flags": {},
         "mask": _png_b64(np.ones((8, 10)))},
        {"label": "__ignore__", "points": [[0, 0], [3, 0], [0, 3]], "shape_type": "polygon"},
        {"label": "pt", "points": [[3, 3]], "shape_type": "point"},
    ],
}  # fmt: skip

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def mutated_labelme(draw):
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            key = draw(st.sampled_from(["imageHeight", "imageWidth", "imagePath", "imageData", "shapes"]))
            data[key] = draw(values | st.just("../../etc/passwd") | st.just("aGVsbG8="))
            continue
        shapes = data.get("shapes")
        if not isinstance(shapes, list) or not shapes:
            continue
        shape = shapes[draw(st.integers(0, len(shapes) - 1))]
        if not isinstance(shape, dict):
            continue
        key = draw(st.sampled_from(["label", "points", "group_id", "shape_type", "mask"]))
        shape[key] = draw(
            values | st.sampled_from(["polygon", "rectangle", "circle", "mask", "line", "linestrip"])
            | st.lists(st.lists(st.floats(-1e12, 1e12), min_size=2, max_size=2), max_size=6)
        )  # fmt: skip
    return data


@FUZZ
@given(mutated_labelme())
@example({**BASE, "imageHeight": 0})
@example(
    {**BASE, "shapes": [{"label": "c", "points": [[3e112, 30], [34, 30]], "shape_type": "circle"}]}
)  # atheris: OverflowError
@example(
    {**BASE, "shapes": [{"label": "c", "points": [[1e15, 30], [34, 30]], "shape_type": "circle"}]}
)  # billions of vertices
@example({**BASE, "imageHeight": 11709368954})  # fuzzer: a 545 GiB mask allocation (MemoryError)
@example(
    {**BASE, "shapes": [{"label": "x", "points": [[0, 0], [5, 0], [0, 5]], "shape_type": ["polygon"]}]}
)  # fuzzer: TypeError
@example(
    {**BASE, "shapes": [{"label": "x", "points": [[0, 0], [1e11, 0], [0, 1e11]], "shape_type": "polygon"}]}
)
def test_labelme_importer_never_fails_with_anything_but_dataset_error(data):
    folder = Path(tempfile.mkdtemp())
    path = folder / "img.json"
    path.write_text(json.dumps(data))
    try:
        imported = load_labelme(path)
    except DatasetError as error:
        assert "img.json" in str(error) or str(folder) in str(error)
        return
    out = folder / "out.json"
    save_coco(imported.dataset, out)
    coco = COCO()
    coco.dataset = json.loads(out.read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    for ann in coco.dataset["annotations"]:
        image = coco.imgs[ann["image_id"]]
        assert coco.annToMask(ann).shape == (image["height"], image["width"])
