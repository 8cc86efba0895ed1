"""Hostile input to the review commands (`rank --embeddings`, `audit PRED`, `eval PRED`): a bad file is one
line naming the file and the item (exit 2), never an internal error, and never a silent wrong answer.

Generators: `HOSTILE_VECTORS` (vectors a tampered or careless `.npz` holds) and `hostile_predictions`
(a COCO results list mutated with `tests/hostile_files.py`'s values).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage

from annotator.cli.main import main
from annotator.core.geometry import Polygons
from annotator.core.model import Dataset, Image
from annotator.io.image_descriptors import describe_images, sidecar_path
from hostile_files import _INF, _NAN, BASE, HOSTILE_VALUES, _value


def _run(*args) -> tuple[int, list[str]]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in args])
    return code, err.getvalue().splitlines()


def _images(folder, count: int) -> list[dict]:
    rng = np.random.default_rng(0)
    images = []
    for k in range(count):
        PilImage.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(folder / f"i{k}.png")
        images.append({"id": k + 1, "file_name": f"i{k}.png", "width": 24, "height": 20})
    return images


@pytest.fixture
def many(tmp_path):
    """40 images, none done: wide vectors are projected on principal axes, as on real sets."""
    images = _images(tmp_path, 40)
    (tmp_path / "coco.json").write_text(json.dumps({"images": images, "annotations": [], "categories": []}))
    return tmp_path


NAMES = [f"i{k}.png" for k in range(40)]
_NORMAL = np.random.default_rng(1).normal(size=(40, 64))


def _with_row(value) -> np.ndarray:
    vectors = _NORMAL.copy()
    vectors[7, 3] = value
    return vectors


HOSTILE_VECTORS = {
    "one NaN": (NAMES, _with_row(np.nan), "row 7"),
    "one infinity": (NAMES, _with_row(-np.inf), "row 7"),
    "past float32 (1e300)": (NAMES, _with_row(1e300), "row 7"),
    "a file name twice": (NAMES[:39] + ["i3.png"], _NORMAL, "row 39"),
    "file names as bytes": (np.array(NAMES, dtype=bytes), _NORMAL, "file_names"),
}


@pytest.mark.parametrize("case", HOSTILE_VECTORS, ids=list(HOSTILE_VECTORS))
def test_hostile_vectors_are_one_line_naming_the_row(many, case):
    """One NaN row made every distance NaN and the "ranking" the file's order, exit 0."""
    names, vectors, item = HOSTILE_VECTORS[case]
    np.savez(many / "v.npz", file_names=np.asarray(names), vectors=vectors)
    code, lines = _run("rank", many / "coco.json", "--out", many / "o.txt", "--embeddings", many / "v.npz")
    assert code == 2 and len(lines) == 1, lines
    assert "v.npz" in lines[0] and item in lines[0], lines
    assert not (many / "o.txt").exists()


def _order(folder, vectors) -> list[str]:
    np.savez(folder / "v.npz", file_names=np.array(NAMES), vectors=vectors)
    code, lines = _run(
        "rank", folder / "coco.json", "--out", folder / "o.txt", "--embeddings", folder / "v.npz"
    )
    assert code == 0, lines
    return (folder / "o.txt").read_text().split()


def test_large_finite_vectors_rank_as_their_directions(many):
    """Rows of float32 values near 1e30 overflowed float32's squared norm: every row became zero."""
    order = _order(many, _NORMAL.astype(np.float32))
    assert _order(many, (_NORMAL * 1e30).astype(np.float32)) == order
    assert order != NAMES  # a real ranking, not the file's order


def test_a_sidecar_with_nan_vectors_is_described_again(tmp_path):
    """The sidecar is a cache a dataset can ship; NaN rows there are as damaged as any."""
    images = _images(tmp_path, 3)
    dataset = Dataset(images={i["id"]: Image(i["id"], i["file_name"], 24, 20) for i in images})
    sidecar = sidecar_path(tmp_path / "coco.json")
    first = describe_images(dataset, tmp_path, sidecar=sidecar)
    with np.load(sidecar) as stored:
        arrays = dict(stored)
    arrays["vectors"] = np.full_like(arrays["vectors"], np.nan)
    np.savez(sidecar, **arrays)
    again = describe_images(dataset, tmp_path, sidecar=sidecar)
    assert again.computed == 3
    for image_id, vector in first.vectors.items():
        np.testing.assert_array_equal(again.vectors[image_id], vector)


FAR = [[1e308, 1e308, -1e308, 0, 0, 5]]


def test_a_polygon_spanning_more_than_float_max_is_clipped_not_an_internal_error():
    """Clipping computed 1e308 - -1e308 = inf, then NaN vertices: `audit` and `eval` ended in
    "internal error: GeometryError"."""
    clipped = Polygons.from_flat(FAR).clipped(30, 40)
    assert clipped is not None and all(np.isfinite(ring).all() for ring in clipped.rings)
    rng = np.random.default_rng(2)
    for ring in rng.uniform(-200, 200, size=(50, 3, 2)):  # halving is exact: what it gave before
        clipped = Polygons((ring,)).clipped(30, 40)
        if clipped is not None:
            np.testing.assert_array_equal(clipped.rings[0], _clipped_before(ring, -1, -1, 41, 31))


def _clipped_before(ring, x0, y0, x1, y1):
    """The clipping as it was written, for numbers whose differences do not overflow."""
    points = ring
    for axis, bound, keep_below in ((0, x0, False), (0, x1, True), (1, y0, False), (1, y1, True)):
        if len(points) == 0:
            break
        inside = points[:, axis] <= bound if keep_below else points[:, axis] >= bound
        out = []
        for point, before, now_in, was_in in zip(
            points, np.roll(points, 1, axis=0), inside, np.roll(inside, 1), strict=True
        ):
            if now_in != was_in:
                t = (bound - before[axis]) / (point[axis] - before[axis])
                out.append(before + t * (point - before))
            if now_in:
                out.append(point)
        points = np.array(out, dtype=np.float64).reshape(-1, 2)
    return points


PRED = [
    {"image_id": 1, "category_id": 1, "segmentation": [[2, 2, 19, 2, 19, 19]], "score": 0.9, "bbox": [2, 2, 17, 17]},
    {"image_id": 2, "category_id": 2, "segmentation": {"size": [20, 20], "counts": [50, 30, 320]}, "score": 0.7},
]  # fmt: skip
PREDICTION_KEYS = ["image_id", "category_id", "segmentation", "score", "bbox"]
MORE_VALUES = [
    FAR, [[-1e30, 5, 1e30, 5, 5, 1e30]], {"size": [20, 20], "counts": [10**12]}, {"size": [20, 20], "counts": [-5, 405]},
    {"size": [20, 20], "counts": [0, 10**9, 5]}, {"size": [40, 30], "counts": [1200]}, [-5, -5, 10, 10],
    [1e30, 1e30, 1e30, 1e30], [1, 1, -1, -1], -0.5, 1.5, 1e-320, [[]], {"size": [20, 20], "counts": "\x7f\x7f"},
]  # fmt: skip


@st.composite
def hostile_predictions(draw) -> str:
    """PRED with one to three values replaced or removed, as the text of a file (NaN, Infinity as written)."""
    data = copy.deepcopy(PRED)
    for _ in range(draw(st.integers(1, 3))):
        entry = data[draw(st.integers(0, len(data) - 1))]
        key = draw(st.sampled_from(PREDICTION_KEYS))
        if draw(st.integers(0, 5)) == 0:
            entry.pop(key, None)
        else:
            entry[key] = _value(draw(st.sampled_from(HOSTILE_VALUES + MORE_VALUES)))
    return json.dumps(data).replace(f'"{_INF}"', "Infinity").replace(f'"{_NAN}"', "NaN")


@pytest.fixture(scope="module")
def two_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    PilImage.new("RGB", (40, 30), (90, 20, 200)).save(folder / "a.png")
    PilImage.new("RGB", (20, 20), (9, 200, 20)).save(folder / "b.png")
    (folder / "coco.json").write_text(json.dumps(BASE))
    return folder


@pytest.mark.parametrize("command", ["audit", "eval"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=hostile_predictions())
@example(text=json.dumps([{**PRED[0], "segmentation": FAR}]))  # was an internal error
@example(text=json.dumps([{**PRED[0], "score": -1}, PRED[1]]))  # used: a note that nothing scores 0 or more
def test_hostile_predictions_are_one_line_or_used(two_images, command, text):
    pred = two_images / "p.json"
    pred.write_text(text)
    out = two_images / "issues.json"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(out)
    extra = ["--out", out, "--min-score", "0"] if command == "audit" else []
    code, lines = _run(command, two_images / "coco.json", pred, *extra)
    assert code in (0, 2), lines
    if code == 2:
        assert len(lines) == 1 and "p.json" in lines[0], lines
        assert not out.exists()
    else:  # used; at most a note on what it found (every score below --min-score: nothing flagged)
        assert all(line.startswith(f"annotator {command}: note: ") for line in lines), lines


@pytest.mark.parametrize("bbox", [[_NAN, 1, 2, 3], [5, 5, 0, 10], [5, 5, -3, -3], "x"], ids=str)
def test_segment_boxes_names_a_box_it_could_not_read(two_images, bbox):
    """A box-only annotation whose box is NaN, empty or not a list was left out of OUT without a word."""
    data = copy.deepcopy(BASE)
    data["annotations"][1] = {"id": 3, "image_id": 2, "category_id": 2, "bbox": [2, 2, 10, 10]}
    data["annotations"].append({"id": 4, "image_id": 1, "category_id": 1, "bbox": bbox})
    source = two_images / "boxes.json"
    source.write_text(json.dumps(data).replace(f'"{_NAN}"', "NaN"))
    out = two_images / "segmented.json"
    code, lines = _run("segment-boxes", source, "--grabcut", "--out", out)
    assert code == 0, lines
    assert [line for line in lines if "annotation 4" in line and "skipped" in line], lines
    assert all(line.startswith("annotator segment-boxes: ") for line in lines), lines
    noted = " ".join(line for line in lines if "annotation 3" in line)
    assert "bbox" not in noted  # the box-only note is what the command is for: not repeated
    written = {a["id"] for a in json.loads(out.read_text())["annotations"]}
    assert written == {1, 3}


def test_vectors_for_names_the_dataset_lacks_are_said(many):
    """Vectors of another dataset matched no image; the order was uncertainty alone, without a word."""
    np.savez(many / "v.npz", file_names=np.array([f"other/{n}" for n in NAMES]), vectors=_NORMAL)
    code, lines = _run("rank", many / "coco.json", "--out", many / "o.txt", "--embeddings", many / "v.npz")
    assert code == 0 and len(lines) == 1, lines
    assert "v.npz" in lines[0] and "40 of the 40 images have no vector" in lines[0], lines


@pytest.mark.parametrize("command", ["audit", "eval"])
def test_one_image_id_for_two_images_in_a_predictions_dataset_is_one_line(two_images, command):
    """The last image silently took the id's predictions (eval scored them on b.png)."""
    pred = two_images / "twice.json"
    images = [{"id": 5, "file_name": "a.png"}, {"id": 5, "file_name": "b.png"}]
    annotation = {"image_id": 5, "category_id": 1, "segmentation": [[1, 1, 6, 1, 6, 6]], "score": 0.5}
    pred.write_text(json.dumps({"images": images, "annotations": [annotation]}))
    extra = ["--out", two_images / "twice-issues.json"] if command == "audit" else []
    code, lines = _run(command, two_images / "coco.json", pred, *extra)
    assert code == 2 and len(lines) == 1, lines
    assert "twice.json" in lines[0] and "image 1" in lines[0] and "id 5" in lines[0], lines
    same = two_images / "same.json"  # the same image listed twice is still one image
    same.write_text(json.dumps({"images": [images[0], images[0]], "annotations": [annotation]}))
    assert _run(command, two_images / "coco.json", same, *extra)[0] == 0
