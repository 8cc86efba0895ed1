"""`annotator info` and `annotator convert` as a user runs them: exit codes, output, one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from conftest import testdata_dir as _testdata

COCO_TINY = _testdata() / "isat_coco_tiny/coco_tiny.json"
LABELME_FOLDER = _testdata() / "labelme_examples/instance_segmentation/data_annotated"
PANOPTIC = _testdata() / "datumaro_coco_assets/coco_dataset/coco/annotations/panoptic_train.json"


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "annotator.cli.main", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def _assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(word in lines[0] for word in words), lines[0]


def test_info_summarises_a_coco_file() -> None:
    result = _run("info", COCO_TINY)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "COCO instances" in out and "images: 5 (0 without instances)" in out
    assert "instances: 63 (61 polygons, 2 RLE masks; 2 crowd" in out
    assert "categories: 80 (15 used)" in out and "problems: 0" in out
    assert any(line.split() == ["1", "person", "23"] for line in out.splitlines())


def test_info_lists_problems_and_still_succeeds() -> None:
    result = _run("info", _testdata() / "labelme_examples/primitives/primitives.json")
    assert result.returncode == 0, result.stderr
    assert "LabelMe" in result.stdout and "problems: 3" in result.stdout
    assert "unsupported shape type 'linestrip'" in result.stdout
    dup = _run("info", _testdata() / "mmdetection_testdata/coco_wrong_format_sample.json")
    assert dup.returncode == 0 and "duplicate id" in dup.stdout


def test_info_reports_missing_images_when_given_the_folder(tmp_path: Path) -> None:
    result = _run("info", COCO_TINY, "--images", tmp_path)
    assert result.returncode == 0 and "problems: 5" in result.stdout and "not found" in result.stdout


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, ["panoptic_train.json", "not an instances file", "panoptic"]),
        ("{broken", ["bad.json", "not valid JSON"]),
        ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "heig', ["bad.json", "truncated"]),
        ("[]", ["bad.json", "not an instances file"]),
    ],
)
def test_unusable_input_is_one_line_and_exit_2(tmp_path: Path, content: str | None, words: list[str]) -> None:
    path = PANOPTIC
    if content is not None:
        path = tmp_path / "bad.json"
        path.write_text(content)
    _assert_one_line_error(_run("info", path), "annotator info:", *words)
    _assert_one_line_error(_run("convert", path, "--to", "coco", "--out", tmp_path / "o.json"), *words)
    assert not (tmp_path / "o.json").exists()


def test_missing_input_and_bad_options(tmp_path: Path) -> None:
    _assert_one_line_error(_run("info", tmp_path / "absent.json"), "absent.json", "no such file")
    _assert_one_line_error(_run("convert", COCO_TINY, "--to", "yolo", "--out", tmp_path, "--rle"), "--rle")
    bad_choice = _run("convert", COCO_TINY, "--to", "pascal", "--out", tmp_path)
    assert bad_choice.returncode == 2 and "invalid choice" in bad_choice.stderr


def test_convert_labelme_folder_to_coco(tmp_path: Path) -> None:
    out = tmp_path / "new" / "instances.json"
    result = _run("convert", LABELME_FOLDER, "--to", "coco", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "3 images, 12 instances" in result.stdout
    assert "warning" in result.stderr and "__ignore__" in result.stderr
    coco = _coco(out)
    assert len(coco.anns) == 12 and len(coco.cats) == 21


def test_convert_leaves_out_an_annotation_of_area_zero_and_warns(tmp_path: Path) -> None:
    square = {"segmentation": [[5, 5, 20, 5, 20, 20, 5, 20]], "area": 225, "bbox": [5, 5, 15, 15]}
    line = {"segmentation": [[0, 0, 10, 0, 20, 0]], "area": 0, "bbox": [0, 0, 0, 0]}  # covers no pixel
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [
            {"id": i, "image_id": 1, "category_id": 1, "iscrowd": 0, **shape}
            for i, shape in ((1, square), (2, line))
        ],
    }
    source = tmp_path / "in.json"
    source.write_text(json.dumps(data))
    for to, out in (("coco", tmp_path / "out.json"), ("yolo", tmp_path / "yolo")):
        result = _run("convert", source, "--to", to, "--out", out)
        assert result.returncode == 0, result.stderr
        assert "warning" in result.stderr and "instance 2 on a.png" in result.stderr, result.stderr
        assert "area 0" in result.stderr and "instance 1" not in result.stderr
        assert ": 1 image, 1 instance" in result.stdout, result.stdout  # the one written, not 2
    assert [a["id"] for a in _coco(tmp_path / "out.json").dataset["annotations"]] == [1]
    assert len((tmp_path / "yolo" / "labels" / "a.txt").read_text().splitlines()) == 1


def test_convert_coco_to_yolo_and_to_labelme_and_back(tmp_path: Path) -> None:
    result = _run("convert", COCO_TINY, "--to", "yolo", "--out", tmp_path / "yolo")
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "yolo/labels").glob("*.txt"))) == 5
    assert (tmp_path / "yolo/classes.txt").read_text().count("\n") == 80

    images = _testdata() / "isat_coco_tiny/images"
    assert (
        _run("convert", COCO_TINY, "--to", "labelme", "--out", tmp_path / "lm", "--images", images).returncode
        == 0
    )
    back = _run("convert", tmp_path / "lm", "--to", "coco", "--out", tmp_path / "back.json", "--rle")
    assert back.returncode == 0, back.stderr
    before, after = _coco(COCO_TINY), _coco(tmp_path / "back.json")
    assert len(after.anns) == len(before.anns)
    names = {i["id"]: Path(i["file_name"]).name for i in before.dataset["images"]}
    after_names = {i["id"]: Path(i["file_name"]).name for i in after.dataset["images"]}
    assert sorted(names.values()) == sorted(after_names.values())
    masks_before = sorted(
        (names[a["image_id"]], before.cats[a["category_id"]]["name"], before.annToMask(a).tobytes())
        for a in before.anns.values()
    )
    masks_after = sorted(
        (after_names[a["image_id"]], after.cats[a["category_id"]]["name"], after.annToMask(a).tobytes())
        for a in after.anns.values()
    )
    assert masks_before == masks_after  # pixel-equal through LabelMe and back
    assert all(isinstance(a["segmentation"]["counts"], str) for a in after.anns.values())
    assert np.all([a["area"] > 0 for a in after.anns.values()])


def test_info_and_convert_read_a_project_file(tmp_path: Path) -> None:
    from annotator.io.coco import load_coco
    from annotator.io.project import create_project

    dataset = load_coco(COCO_TINY).dataset
    create_project(tmp_path / "tiny.annotator", dataset, _testdata() / "isat_coco_tiny/images").close()
    result = _run("info", tmp_path / "tiny.annotator")
    assert result.returncode == 0, result.stderr
    assert "annotator project" in result.stdout and "instances: 63" in result.stdout
    converted = _run("convert", tmp_path / "tiny.annotator", "--to", "coco", "--out", tmp_path / "o.json")
    assert converted.returncode == 0, converted.stderr
    assert len(_coco(tmp_path / "o.json").anns) == 63


def test_a_file_opened_in_the_window_is_read_as_it_is_and_the_note_says_where_the_edits_are(
    tmp_path: Path,
) -> None:
    """The window keeps its edits in a project beside the file it opened; `info` on the file reads the
    file (its instance count unchanged by an edit in the project) and says where the edits are."""
    from annotator.io.project import open_project

    folder = tmp_path / "isat"
    shutil.copytree(COCO_TINY.parent, folder)
    data = folder / COCO_TINY.name
    before = _run("info", data)
    assert before.returncode == 0 and "note:" not in before.stderr
    project = open_project(data)  # as the window opens it
    doomed = next(iter(project.dataset.instances))
    project.dataset.drop_instances([doomed])
    project.close()
    after = _run("info", data)
    assert after.returncode == 0 and "instances: 63 " in after.stdout
    assert "note:" in after.stderr and str(data.with_suffix(".annotator")) in after.stderr
    edited = _run("info", data.with_suffix(".annotator"))
    assert "instances: 62 " in edited.stdout and "note:" not in edited.stderr
    labelme = folder / "labelme"  # a folder of LabelMe files the window opened: its project is inside
    first = _run("info", labelme)  # its images are in ../images: read from there, and said so
    assert "note:" not in first.stderr and "images: 5" in first.stdout and "read from there" in first.stdout
    open_project(labelme).close()
    noted = _run("info", labelme)
    assert noted.returncode == 0 and str(labelme / "project.annotator") in noted.stderr, noted.stderr


@pytest.mark.parametrize("command", [["info"], ["convert", "--to", "coco", "--out", "{tmp}/o.json"]])
def test_an_images_folder_that_is_not_there_is_one_error(tmp_path: Path, command) -> None:
    """It gave one "not found" per image and exit 0, never saying the folder was missing."""
    args = [a.format(tmp=tmp_path) for a in command]
    result = _run(args[0], COCO_TINY, *args[1:], "--images", tmp_path / "nothere")
    _assert_one_line_error(result, "nothere", "no such folder of images")


def test_a_coco_output_that_is_not_a_json_file_is_refused_not_replaced(tmp_path: Path) -> None:
    """`--to coco --out notes.txt` replaced someone's text file with COCO JSON."""
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    result = _run("convert", COCO_TINY, "--to", "coco", "--out", notes)
    _assert_one_line_error(result, "notes.txt", "a COCO file ends in .json")
    assert notes.read_text() == "precious"
    folder = tmp_path / "out"
    folder.mkdir()
    result = _run("convert", COCO_TINY, "--to", "coco", "--out", folder)
    assert result.returncode == 0 and f"wrote {folder / 'annotations.json'} (coco)" in result.stdout
