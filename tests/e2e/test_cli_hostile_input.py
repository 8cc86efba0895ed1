"""The command line on hostile files, as a subprocess (a crash in pycocotools would kill pytest itself):
`eval`, `info` and `convert` exit 0 or 2 with one line naming the file, never 1, a traceback, a segfault
or a hang; `convert` never writes over its own input."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import testdata_dir as _testdata

GT = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
    "categories": [{"id": 1, "name": "one"}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 20, 1, 20, 20]],
                     "area": 200.0, "bbox": [1, 1, 19, 19], "iscrowd": 0}],
}  # fmt: skip
PRED = [{"image_id": 1, "category_id": 1, "segmentation": [[2, 2, 19, 2, 19, 19]], "score": 0.9}]


def _run(*args, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotator.cli.main", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def _assert_clear(result: subprocess.CompletedProcess, name: str, *, code: int | None = None) -> None:
    assert result.returncode in ((0, 2) if code is None else (code,)), (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert all(line.startswith("annotator ") for line in result.stderr.splitlines()), (
        result.stderr
    )  # no warnings
    if result.returncode == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0], result.stderr


def _gt(changes: dict) -> dict:
    """GT with `{(section, key): value}` set on its first item."""
    gt = copy.deepcopy(GT)
    for (section, key), value in changes.items():
        gt[section][0][key] = value
    return gt


EVAL_CASES = {  # the issue's examples; each used to segfault, hang or end in a traceback
    "vertex at 1e10": (_gt({("annotations", "segmentation"): [[1, 1, 1e10, 2, 3, 1e10]]}), None),
    "width 1e9, two parts": (
        _gt({("images", "width"): 10**9, ("annotations", "segmentation"): [[1, 1, 9, 1, 9, 9], [20, 2, 30, 2, 25, 9]]}),
        2,
    ),
    "width 0, two parts": (
        _gt({("images", "width"): 0, ("annotations", "segmentation"): [[1, 1, 9, 1, 9, 9], [20, 2, 30, 2, 25, 9]]}),
        2,
    ),
    "int RLE counts": (_gt({("annotations", "segmentation"): {"size": [30, 40], "counts": 5}}), 2),
    "size as strings": (_gt({("annotations", "segmentation"): {"size": ["30", "40"], "counts": "0"}}), 2),
    "width negative": (_gt({("images", "width"): -40}), 2),
    "width null": (_gt({("images", "width"): None}), 2),
    "area as a string": (_gt({("annotations", "area"): "200"}), 2),
    "iscrowd null": (_gt({("annotations", "iscrowd"): None}), 2),
    "box-only, box at 1e300": (_gt({("annotations", "segmentation"): None, ("annotations", "bbox"): [1, 2, 1e300, 1e300]}),
                               None),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", EVAL_CASES)
def test_eval_on_hostile_ground_truth(tmp_path, case):
    gt, code = EVAL_CASES[case]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(PRED))
    _assert_clear(_run("eval", "--iou-type", "both", tmp_path / "gt.json", tmp_path / "pred.json"), "gt.json",
                  code=code)  # fmt: skip


@pytest.mark.slow
def test_eval_with_width_1e400(tmp_path):
    text = json.dumps(_gt({("images", "width"): 12345})).replace("12345", "1e400")
    (tmp_path / "gt.json").write_text(text)
    (tmp_path / "pred.json").write_text(json.dumps(PRED))
    _assert_clear(_run("eval", tmp_path / "gt.json", tmp_path / "pred.json"), "gt.json", code=2)


INFO_CASES = {
    "lone surrogate": '{"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}], "annotations": [],'
    ' "categories": [{"id": 1, "name": "x\\ud800"}]}',
    "300-byte file name": json.dumps({"images": [{"id": 1, "file_name": "x" * 300 + ".jpg", "width": 4, "height": 4}],
                                      "annotations": [], "categories": []}),
    "1000-deep extra": '{"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4, "deep": '
    + "[" * 1000 + "]" * 1000 + '}], "annotations": [], "categories": []}',
    "id past 2^63": json.dumps({"images": [{"id": 2**63, "file_name": "a.jpg", "width": 4, "height": 4}],
                                "annotations": [], "categories": []}),
    "byte order mark": "\ufeff" + json.dumps({"images": [], "annotations": [], "categories": []}),
    "LabelMe label with a lone surrogate": '{"shapes": [{"label": "x\\ud800", "points": [[1, 1], [3, 1], [3, 3]],'
    ' "shape_type": "polygon", "description": "\\udcff"}], "imagePath": "a.jpg", "imageWidth": 4, "imageHeight": 4}',
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", INFO_CASES)
@pytest.mark.parametrize("command", ["info", "convert"])
def test_info_and_convert_on_hostile_files(tmp_path, case, command):
    (tmp_path / "in.json").write_text(INFO_CASES[case], encoding="utf-8")
    (tmp_path / "images").mkdir()
    extra = ["--images", tmp_path / "images"]
    if command == "convert":
        extra += ["--to", "labelme", "--out", tmp_path / "out"]
    result = _run(command, tmp_path / "in.json", *extra)
    _assert_clear(result, "in.json", code=0)


@pytest.mark.slow
def test_convert_refuses_to_write_over_its_own_labelme_folder(tmp_path):
    folder = tmp_path / "lm"
    shutil.copytree(_testdata() / "labelme_examples/instance_segmentation/data_annotated", folder)
    before = {p: p.read_bytes() for p in folder.rglob("*.json")}
    result = _run("convert", folder, "--to", "labelme", "--out", folder)
    _assert_clear(result, "input file", code=2)
    assert {p: p.read_bytes() for p in folder.rglob("*.json")} == before


@pytest.mark.slow
def test_convert_to_labelme_keeps_images_with_the_same_stem(tmp_path):
    coco = {"images": [{"id": i, "file_name": name, "width": 8, "height": 6}
                       for i, name in enumerate(["a.jpg", "a.png", "A.JPG"], start=1)],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": i, "image_id": i, "category_id": 1, "segmentation": [[0, 0, 5, 0, 5, 5]]}
                            for i in (1, 2, 3)]}  # fmt: skip
    (tmp_path / "in.json").write_text(json.dumps(coco))
    result = _run("convert", tmp_path / "in.json", "--to", "labelme", "--out", tmp_path / "out")
    _assert_clear(result, "", code=0)
    assert len(list((tmp_path / "out").glob("*.json"))) == 3
    assert result.stderr.count("already has the name") == 2
    back = _run("info", tmp_path / "out")
    assert "images: 3" in back.stdout and "instances: 3" in back.stdout


SPECIAL_FILES = {"named pipe": "named pipe (FIFO)", "device": "a device"}


@pytest.mark.slow
@pytest.mark.parametrize("kind", SPECIAL_FILES)
def test_a_fifo_or_a_device_as_input_is_refused_without_blocking(tmp_path, kind):
    """Reading a FIFO waits for a writer forever and /dev/zero never ends: each is refused by what it is."""
    if kind == "named pipe":
        special = tmp_path / "in.json"
        os.mkfifo(special)
    else:
        special = Path("/dev/zero")
    (tmp_path / "gt.json").write_text(json.dumps(GT))
    for args in (["info", special], ["convert", special, "--to", "coco", "--out", tmp_path / "o.json"],
                 ["eval", tmp_path / "gt.json", special], ["eval", special, tmp_path / "gt.json"]):  # fmt: skip
        result = _run(*args, timeout=60)
        _assert_clear(result, special.name, code=2)
        assert SPECIAL_FILES[kind] in result.stderr
