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
from hostile_files import _INF, _NAN, BASE, HOSTILE_VALUES, _value


def _run(*args) -> tuple[int, list[str]]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in args])
    return code, err.getvalue().splitlines()


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
    else:
        assert lines == [], lines
