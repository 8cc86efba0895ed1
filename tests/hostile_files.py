"""Hypothesis generators of hostile COCO and LabelMe files, shared by the command-line and window fuzzers.

A valid file is mutated in one to four places: a value of the wrong type, out of range, not
finite, past 64 bits, a lone surrogate, deeply nested, an absurd colour, a name that leaves the folder,
or the key removed. The text is what a file would hold (`NaN`, `Infinity`, `1e400` and `\\ud800` as
written by other tools), so every reader meets it as it would on disk.
"""

from __future__ import annotations

import copy
import json
import math

from hypothesis import strategies as st

BASE = {
    "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30},
               {"id": 2, "file_name": "b.png", "width": 20, "height": 20}],
    "categories": [{"id": 1, "name": "one"}, {"id": 2, "name": "two", "annotator": {"color": [10, 200, 30]}}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 20, 1, 20, 20], [25, 2, 35, 2, 30, 9]],
         "area": 200.0, "bbox": [1, 1, 34, 19], "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 2, "segmentation": {"size": [20, 20], "counts": [50, 30, 320]},
         "area": 30, "bbox": [2, 10, 2, 10], "iscrowd": 1, "annotator": {"source": "model", "score": 0.5}},
    ],
}  # fmt: skip
PRED = [{"image_id": 1, "category_id": 1, "segmentation": [[2, 2, 19, 2, 19, 19]], "score": 0.9}]

_INF, _NAN = "__inf__", "__nan__"  # stand-ins, written as the bare words other tools write
DEEP = 300  # more levels than SQLite's JSON functions or a naive recursive reader take

HOSTILE_VALUES = [
    None, True, -1, 0, 1, 10**9, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 1e10, -1e10, 1e300,
    1e400, _INF, _NAN, 0.5, "12", "", "\ud800", "a\udcffb", "x" * 300, "../../outside.png", "/etc/passwd",
    "C:\\x.png", "a\x00b.png", "sub/../../b.png", [], {}, [1, 2, 3, 4], [[1, 1, 1e10, 2, 3, 1e10]],
    [[0, 0, 1e9, 0, 0, 1e9], [5, 5, 6, 5, 5, 6]], [[1, 2, 3]], {"size": ["30", "40"], "counts": 5},
    {"size": [30, 40], "counts": "0"}, {"size": [10**9, 10**9], "counts": [1]}, {"size": [30, 40], "counts": "\u00ff"},
    {"color": [1e30, -5, 3]}, {"color": "red"}, {"color": [_NAN, 1, 2]}, {"z": 2**70, "source": "?", "review": 5},
    {"status": [1]}, "deep",
]  # fmt: skip
IMAGE_KEYS = ["id", "file_name", "width", "height", "annotator", "date_captured", "flickr_url"]
ANNOTATION_KEYS = ["id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd", "score",
                   "annotator", "attributes"]  # fmt: skip
CATEGORY_KEYS = ["id", "name", "supercategory", "annotator", "keypoints"]
TOP_KEYS = ["images", "annotations", "categories", "info", "licenses"]


def _value(token):
    if token == "deep":
        value: list = []
        for _ in range(DEEP):
            value = [value]
        return value
    return copy.deepcopy(token)


@st.composite
def hostile_coco(draw) -> dict:
    """A mutated copy of BASE (a dict, possibly holding the NaN and infinity stand-ins)."""
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        section = draw(
            st.sampled_from(["images", "annotations", "categories", "images", "annotations", "top"])
        )
        value = _value(draw(st.sampled_from(HOSTILE_VALUES)))
        remove = draw(st.integers(0, 5)) == 0
        if section == "top":
            key = draw(st.sampled_from(TOP_KEYS))
            target = data
        else:
            items = data.get(section)
            if not isinstance(items, list) or not items:
                continue
            target = items[draw(st.integers(0, len(items) - 1))]
            if not isinstance(target, dict):
                continue
            keys = {"images": IMAGE_KEYS, "annotations": ANNOTATION_KEYS, "categories": CATEGORY_KEYS}[
                section
            ]
            key = draw(st.sampled_from(keys))
        if remove:
            target.pop(key, None)
        else:
            target[key] = value
    return data


LABELME = {
    "version": "5.5.0", "flags": {}, "imagePath": "a.png", "imageData": None, "imageHeight": 30, "imageWidth": 40,
    "shapes": [
        {"label": "one", "points": [[1, 1], [20, 1], [20, 20]], "shape_type": "polygon", "group_id": None, "flags": {}},
        {"label": "one", "points": [[25, 2], [35, 2], [30, 9]], "shape_type": "polygon", "group_id": None, "flags": {}},
        {"label": "two", "points": [[2, 3], [12, 9]], "shape_type": "rectangle", "group_id": 1, "flags": {}},
        {"label": "two", "points": [[30, 20], [34, 20]], "shape_type": "circle", "group_id": 1, "flags": {}},
    ],
}  # fmt: skip
SHAPE_KEYS = ["label", "points", "shape_type", "group_id", "flags", "description", "mask", "attributes"]
FILE_KEYS = ["imagePath", "imageData", "imageHeight", "imageWidth", "shapes", "flags", "version"]
SHAPE_TYPES = [
    "polygon",
    "rectangle",
    "circle",
    "line",
    "linestrip",
    "point",
    "points",
    "mask",
    "bogus",
    ["x"],
]


@st.composite
def hostile_labelme(draw) -> dict:
    """A mutated copy of LABELME: hostile values in a shape or the file, or a shape type swapped."""
    data = copy.deepcopy(LABELME)
    for _ in range(draw(st.integers(1, 4))):
        value = _value(draw(st.sampled_from(HOSTILE_VALUES + SHAPE_TYPES)))
        shapes = data.get("shapes")
        if draw(st.integers(0, 3)) == 0 or not isinstance(shapes, list) or not shapes:
            target, key = data, draw(st.sampled_from(FILE_KEYS))
        else:
            target = shapes[draw(st.integers(0, len(shapes) - 1))]
            if not isinstance(target, dict):
                continue
            key = draw(st.sampled_from(SHAPE_KEYS))
        if draw(st.integers(0, 5)) == 0:
            target.pop(key, None)
        else:
            target[key] = value
    return data


def to_text(data) -> str:
    """The file's text: stand-ins as `Infinity` / `NaN`, lone surrogates escaped, as other tools write."""

    def plain(value):
        if value == _INF:
            return math.inf
        if value == _NAN:
            return math.nan
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return json.dumps(plain(data))
