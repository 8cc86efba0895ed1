"""`annotator info --checks/--stats`, `annotator rank` and `annotator audit` as a user runs them: real files,
exit codes, what is printed and written, one-line errors on bad input."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from pycocotools.coco import COCO

from conftest import testdata_dir as _testdata
from perturbed import perturbed_predictions


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "annotator.cli.main", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def _one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(word in lines[0] for word in words), lines[0]


@pytest.fixture
def coco(tmp_path) -> Path:
    """The real COCO sample with its images, in a folder of its own (opening it writes beside it)."""
    folder = tmp_path / "coco"
    shutil.copytree(_testdata() / "isat_coco_tiny", folder)
    folder.chmod(0o755)
    return folder / "coco_tiny.json"


def test_info_checks_and_stats_with_csv(coco, tmp_path) -> None:
    out = tmp_path / "classes.csv"
    result = _run("info", coco, "--checks", "--stats", "--csv", out)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "checks: 63 instances" in text and "  class used once: 6" in text
    assert "- invalid geometry: 000000013923.jpg instance 390122: ring 0 crosses itself at" in text
    assert "statistics: 5 images, 63 instances" in text and "drawn or imported 63" in text
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0][:4] == ["category_id", "name", "instances", "images"]
    assert rows[1][:3] == ["1", "person", "23"] and rows[-1][1:3] == ["(all classes)", "63"]
    small, medium, large = (int(v) for v in rows[-1][4:7])
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(coco))
    areas = [gt.annToMask(a).sum() for a in gt.dataset["annotations"]]
    assert (small, medium, large) == (
        sum(a < 1024 for a in areas), sum(1024 <= a < 9216 for a in areas), sum(a >= 9216 for a in areas)
    )  # fmt: skip


def _as_predictions(coco: Path, labelled: int = 0) -> Path:
    """The sample's annotations as a model's predictions (a `score` each), but on the first `labelled`
    images, whose labels stay a person's: what `annotator rank` is given to choose from."""
    data = orjson.loads(coco.read_bytes())
    kept = {image["id"] for image in data["images"][:labelled]}
    for k, annotation in enumerate(data["annotations"]):
        if annotation["image_id"] not in kept:
            annotation["score"] = 0.3 + 0.4 * ((k * 7) % 10) / 10
    path = coco.with_name("predicted.json")
    path.write_bytes(orjson.dumps(data))
    return path


def test_rank_writes_every_image_nobody_has_labelled_once(coco, tmp_path) -> None:
    order = tmp_path / "order.txt"
    predicted = _as_predictions(coco, labelled=2)
    result = _run("rank", predicted, "--out", order)
    assert result.returncode == 0, result.stderr
    names = order.read_text().splitlines()
    # the two images holding a person's labels are the labelled set, not ranked
    assert sorted(names) == sorted(i["file_name"] for i in orjson.loads(coco.read_bytes())["images"][2:])
    assert "ranked 3 images nobody has labelled" in result.stdout and "2 labelled images" in result.stdout
    assert (coco.parent / "predicted.json.descriptors.npz").exists()
    again = _run("rank", predicted, "--out", order)
    assert again.returncode == 0 and order.read_text().splitlines() == names  # same input, same order
    labels = _run("rank", coco, "--out", order)  # every image labelled: nothing left to rank
    assert labels.returncode == 0 and order.read_text() == "" and "ranked 0 images" in labels.stdout


def test_rank_aggregate_sum_puts_the_image_needing_most_corrections_first(tmp_path) -> None:
    """One image with a single prediction at the threshold against one with four near it: "any" (the
    chance that something is wrong) ranks the first higher, "sum" (corrections expected) the second."""
    from PIL import Image

    (tmp_path / "images").mkdir()
    for name, colour in (("single.png", (200, 40, 40)), ("crowded.png", (40, 40, 200))):
        Image.new("RGB", (40, 30), colour).save(tmp_path / "images" / name)  # two apart from their middle
    box = [[2, 2, 12, 2, 12, 12, 2, 12]]
    annotations = [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": box, "score": 0.5}]
    annotations += [
        {"id": 2 + k, "image_id": 2, "category_id": 1, "segmentation": box, "score": 0.42} for k in range(4)
    ]
    coco = tmp_path / "pred.json"
    coco.write_bytes(orjson.dumps({
        "images": [{"id": 1, "file_name": "single.png", "width": 40, "height": 30},
                   {"id": 2, "file_name": "crowded.png", "width": 40, "height": 30}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": annotations,
    }))  # fmt: skip
    firsts = {}
    for aggregate in ("any", "sum"):
        order = tmp_path / f"{aggregate}.txt"
        result = _run("rank", coco, "--images", tmp_path / "images", "--out", order, "--no-cache",
                      "--aggregate", aggregate)  # fmt: skip
        assert result.returncode == 0, result.stderr
        firsts[aggregate] = order.read_text().splitlines()[0]
    assert firsts == {"any": "single.png", "sum": "crowded.png"}


def test_rank_names_an_unreadable_image_in_its_own_line_and_still_ranks_it(coco, tmp_path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        files = sorted(i["file_name"] for i in COCO(str(coco)).dataset["images"])
    (coco.parent / "images" / files[0]).write_bytes(b"not an image")
    order = tmp_path / "order.txt"
    result = _run("rank", _as_predictions(coco), "--out", order, "--no-cache")
    assert result.returncode == 0, result.stderr
    assert sorted(order.read_text().splitlines()) == files
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("annotator rank: warning: ") and files[0] in lines[0], (
        lines
    )


def test_audit_writes_flags_worst_first(coco, tmp_path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(coco))
    predictions = tmp_path / "pred.json"
    predictions.write_bytes(orjson.dumps(perturbed_predictions(gt, 0)))
    issues = tmp_path / "issues.json"
    result = _run("audit", coco, predictions, "--out", issues)
    assert result.returncode == 0, result.stderr
    payload = orjson.loads(issues.read_bytes())
    flags = payload["flags"]
    assert payload["images"] == 5 and payload["labels"] == 63 and flags
    assert [f["suspicion"] for f in flags] == sorted((f["suspicion"] for f in flags), reverse=True)
    files = {i["file_name"] for i in gt.dataset["images"]}
    anns = {a["id"]: a for a in gt.dataset["annotations"]}
    for flag in flags:
        assert flag["file_name"] in files and flag["key"].startswith(flag["file_name"] + "|" + flag["kind"])
        if flag["kind"] == "possibly missing":
            assert flag["instance_id"] is None and flag["prediction"]["segmentation"]["counts"]
        else:
            assert anns[flag["instance_id"]]["image_id"] == flag["image_id"]
        if flag["kind"] == "class swap":
            assert flag["prediction"]["category_id"] != anns[flag["instance_id"]]["category_id"]
    assert len({f["key"] for f in flags}) == len(flags)
    assert any(f["evidence"][0] == "edges" for f in flags)  # the photos were read: loose COCO outlines

    blind = tmp_path / "blind.json"
    result = _run("audit", coco, predictions, "--out", blind, "--no-images")
    assert result.returncode == 0, result.stderr
    assert {e for f in orjson.loads(blind.read_bytes())["flags"] for e in f["evidence"]} <= {
        "model",
        "similar labels",
    }

    # a threshold none of the predictions reaches: no model flag, and a note on what to change
    strict = tmp_path / "strict.json"
    result = _run("audit", coco, predictions, "--out", strict, "--no-images", "--min-score", "1")
    assert result.returncode == 0, result.stderr
    assert "model" not in {e for f in orjson.loads(strict.read_bytes())["flags"] for e in f["evidence"]}
    assert "note: no prediction scores 1.00 or more" in result.stderr and "--min-score" in result.stderr


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["info", "{missing}", "--checks"], ["annotator info:", "missing.json", "no such file"]),
        (["info", "{coco}", "--stats", "--csv", "{tmp}/no/such/dir/x.csv"], ["x.csv", "cannot write"]),
        (["info", "{coco}", "--checks", "--min-fragment", "0"], ["--min-fragment"]),
        (["rank", "{broken}", "--out", "{tmp}/o.txt"], ["annotator rank:", "broken.json", "not valid JSON"]),
        (["rank", "{coco}", "--out", "{tmp}/o.txt", "--embeddings", "{broken}"], ["broken.json", ".npz"]),
        (["audit", "{coco}", "{missing}", "--out", "{tmp}/i.json"], ["annotator audit:", "missing.json"]),
        (["audit", "{coco}", "{broken}", "--out", "{tmp}/i.json"], ["broken.json", "not valid JSON"]),
        (["audit", "{coco}", "{wrong}", "--out", "{tmp}/i.json"], ["wrong.json", "image_id 5"]),
        (["audit", "{coco}", "--out", "{tmp}/i.json", "--match-iou", "0.9"], ["--match-iou"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(coco, tmp_path, command, words) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    wrong = [{"image_id": 5, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.9}]
    (tmp_path / "wrong.json").write_bytes(orjson.dumps(wrong))
    paths = {"missing": tmp_path / "missing.json", "coco": coco, "broken": tmp_path / "broken.json",
             "wrong": tmp_path / "wrong.json", "tmp": tmp_path}  # fmt: skip
    _one_line_error(_run(*(part.format(**paths) for part in command)), *words)
    assert not (tmp_path / "o.txt").exists() and not (tmp_path / "i.json").exists()


def test_a_folder_the_window_opened_names_its_project_and_an_audit_of_nothing_says_why(coco, tmp_path):
    from annotator.io.project import open_project

    folder = coco.parent / "images"
    open_project(folder).close()  # as the window opens a folder of images
    ranked = _run("rank", folder, "--out", tmp_path / "o.txt")
    _one_line_error(ranked, "the folder's project is", "project.annotator: give that file")
    project = folder / "project.annotator"
    audited = _run("audit", project, "--out", tmp_path / "i.json", "--no-images")
    assert audited.returncode == 0, audited.stderr
    assert "audited 0 images" in audited.stdout
    assert (
        "no image holds both labels" in audited.stderr and "give a predictions file as PRED" in audited.stderr
    )
