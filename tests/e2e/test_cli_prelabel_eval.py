"""`annotator prelabel` and `annotator eval` as a user runs them: files pycocotools loads, exit codes,
one-line errors, and eval numbers equal to a direct COCOeval."""

from __future__ import annotations

import contextlib
import copy
import io
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import orjson
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from conftest import testdata_dir as _testdata

COCO_TINY = _testdata() / "isat_coco_tiny/coco_tiny.json"
HEIGHT, WIDTH = 120, 160


def _run(*args: str | Path, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "annotator.cli.main", *map(str, args)]
    environment = dict(os.environ, ANNOTATOR_OFFLINE="1", **(env or {}))
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)


def _coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def _assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(word in lines[0] for word in words), lines[0]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(5)
    for index in range(2):
        small = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
        (folder / "sub").mkdir(exist_ok=True)
        target = folder / ("sub" if index else ".") / f"photo_{index}.jpg"
        cv2.imwrite(str(target), cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC))
    whole = cv2.imencode(".png", np.full((HEIGHT, WIDTH, 3), 128, np.uint8))[1].tobytes()
    (folder / "broken.png").write_bytes(whole[: len(whole) // 2])
    return folder


def test_prelabel_writes_a_coco_dataset_pycocotools_loads(tmp_path, checkpoint, images):
    out = tmp_path / "pred.json"
    result = _run(
        "prelabel", images, "--out", out, "--weights", checkpoint, "--max-size", WIDTH, "--device", "cpu"
    )
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stderr and "broken.png" in result.stderr  # reported, not fatal
    assert "Warning" not in result.stderr and "Traceback" not in result.stderr
    assert "2 images" in result.stdout and "1 image skipped" in result.stdout
    assert not (Path(os.environ["HOME"]) / "intel").exists()  # OpenVINO (the default) sent no telemetry
    coco = _coco(out)
    assert sorted(i["file_name"] for i in coco.dataset["images"]) == ["photo_0.jpg", "sub/photo_1.jpg"]
    assert all((i["width"], i["height"]) == (WIDTH, HEIGHT) for i in coco.dataset["images"])
    assert {c["id"]: c["name"] for c in coco.dataset["categories"]} == {3: "car", 7: "train", 44: "bottle"}
    anns = coco.dataset["annotations"]
    assert anns and all(a["category_id"] in (3, 7, 44) and 0.5 <= a["score"] <= 1 for a in anns)
    for ann in anns[:10]:
        assert coco.annToMask(ann).shape == (HEIGHT, WIDTH)
    results = [{k: a[k] for k in ("image_id", "category_id", "segmentation", "score")} for a in anns]
    with contextlib.redirect_stdout(io.StringIO()):
        loaded = coco.loadRes(results)
    assert len(loaded.anns) == len(anns)


def test_prelabel_results_format_and_one_image(tmp_path, checkpoint, images):
    out = tmp_path / "results.json"
    result = _run("prelabel", images / "photo_0.jpg", "--out", out, "--weights", checkpoint, "--max-size", WIDTH,
                  "--results", "--score-thr", "0.6")  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = orjson.loads(out.read_bytes())
    assert isinstance(results, list) and results
    assert all(r["score"] >= 0.6 and r["image_id"] == 1 for r in results)
    assert "a results list names images by id alone" in result.stderr  # not another dataset's ids
    gt = {"images": [{"id": 1, "file_name": "photo_0.jpg", "width": WIDTH, "height": HEIGHT}],
          "annotations": [], "categories": [{"id": 3, "name": "car"}, {"id": 7, "name": "train"},
                                            {"id": 44, "name": "bottle"}]}  # fmt: skip
    coco = COCO()
    coco.dataset = gt
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        assert len(coco.loadRes(results).anns) == len(results)


def test_prelabel_offline_without_weights_says_what_to_download(tmp_path, images):
    torch_home = tmp_path / "torch_home"
    result = _run("prelabel", images, "--out", tmp_path / "x.json", env={"TORCH_HOME": str(torch_home),
                  "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"})  # fmt: skip
    expected = torch_home / "hub" / "checkpoints" / "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
    _assert_one_line_error(result, "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
                           str(expected), "--weights")  # fmt: skip
    assert not (tmp_path / "x.json").exists()


def test_prelabel_bad_input_exits_2(tmp_path, checkpoint):
    _assert_one_line_error(_run("prelabel", tmp_path / "nope", "--out", tmp_path / "x.json"), "nope")
    (tmp_path / "empty").mkdir()
    _assert_one_line_error(_run("prelabel", tmp_path / "empty", "--out", tmp_path / "x.json"), "no images")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    (tmp_path / "one.png").write_bytes(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    _assert_one_line_error(_run("prelabel", tmp_path / "one.png", "--out", tmp_path / "x.json", "--weights", bad),
                           "bad.pt", "checkpoint")  # fmt: skip
    cut = tmp_path / "cut.pt"  # a checkpoint cut in half: torch's reader said "[Errno 22] Invalid argument"
    cut.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    _assert_one_line_error(_run("prelabel", tmp_path / "one.png", "--out", tmp_path / "x.json", "--weights", cut),
                           "cut.pt: is not a complete checkpoint (truncated")  # fmt: skip


def _perturbed(gt: COCO) -> list[dict]:
    rng = np.random.default_rng(7)
    out = []
    for ann in gt.loadAnns(sorted(gt.getAnnIds())):
        if ann["iscrowd"] or rng.random() < 0.2:
            continue  # some dropped
        mask = np.roll(gt.annToMask(ann), int(rng.integers(-5, 6)), axis=1)
        rle = mask_utils.encode(np.asfortranarray(mask))
        category = ann["category_id"] if rng.random() > 0.1 else 1
        out.append({"image_id": ann["image_id"], "category_id": category,
                    "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
                    "score": float(rng.uniform(0.2, 1))})  # fmt: skip
    return out


def _direct(gt: COCO, predictions: list[dict], iou_type: str) -> list[float]:
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(predictions)), iouType=iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats]


def test_eval_json_equals_a_direct_cocoeval(tmp_path):
    gt = _coco(COCO_TINY)
    predictions = _perturbed(gt)
    pred_path = tmp_path / "pred.json"
    pred_path.write_bytes(orjson.dumps(predictions))
    result = _run("eval", COCO_TINY, pred_path, "--json", "--per-image")
    assert result.returncode == 0, result.stderr
    payload = orjson.loads(result.stdout)
    for iou_type in ("segm", "bbox"):
        assert list(payload[iou_type]["stats"].values()) == _direct(gt, predictions, iou_type)
    assert set(payload["segm"]["per_image_ap"]) == {str(i) for i in gt.getImgIds()}


def test_eval_table_is_pycocotools_own(tmp_path):
    gt = _coco(COCO_TINY)
    predictions = _perturbed(gt)
    pred_path = tmp_path / "pred.json"
    pred_path.write_bytes(orjson.dumps(predictions))
    result = _run("eval", COCO_TINY, pred_path, "--per-image", "--iou-type", "segm")
    assert result.returncode == 0, result.stderr
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(predictions)), iouType="segm")
        evaluator.evaluate()
        evaluator.accumulate()
        printed.seek(0)
        printed.truncate()
        evaluator.summarize()
    assert printed.getvalue().strip() in result.stdout
    assert "person" in result.stdout and "per-image AP" in result.stdout


def test_eval_bad_input_exits_2(tmp_path):
    _assert_one_line_error(_run("eval", COCO_TINY, tmp_path / "missing.json"), "missing.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_bytes(
        orjson.dumps([{"image_id": 424242, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}])
    )
    _assert_one_line_error(_run("eval", COCO_TINY, wrong), "wrong.json", "424242")


def test_prelabel_ctrl_c_keeps_the_images_already_done(tmp_path, checkpoint):
    import signal

    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for index in range(30):
        small = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"{index:02d}.png"), cv2.resize(small, (WIDTH, HEIGHT)))
    out = tmp_path / "partial.json"
    command = [sys.executable, "-m", "annotator.cli.main", "prelabel", str(folder), "--out", str(out),
               "--weights", str(checkpoint), "--max-size", str(WIDTH)]  # fmt: skip
    # A shell's background job ignores SIGINT, and Python then installs no Ctrl-C handler: restore it.
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env=dict(os.environ, ANNOTATOR_OFFLINE="1"),
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    first = ""  # the first progress report (a terminal line ends in \r, not \n): one image is done
    while "/30 images" not in first:
        char = process.stderr.read(1)
        assert char, first
        first += char
    assert first.split("/30 images")[0].split()[-1].strip("\r") != "30", first
    process.send_signal(signal.SIGINT)
    _stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "of 30 images" in stderr
    done = _coco(out).dataset["images"]
    assert 1 <= len(done) < 30


def test_prelabel_then_eval_against_the_ground_truth(tmp_path):
    torch = pytest.importorskip("torch")
    from annotator.inference.models import build_model, coco_categories, save_checkpoint

    torch.manual_seed(0)
    weights = tmp_path / "coco_random.pt"
    save_checkpoint(weights, build_model("maskrcnn_resnet50_fpn"), architecture="maskrcnn_resnet50_fpn",
                    categories=coco_categories())  # fmt: skip
    out = tmp_path / "pred.json"
    images = COCO_TINY.parent / "images"
    result = _run("prelabel", images, "--out", out, "--weights", weights, "--max-size", 160)
    assert result.returncode == 0, result.stderr
    evaluated = _run("eval", COCO_TINY, out, "--json", "--per-image")  # image ids differ: matched by name
    assert evaluated.returncode == 0, evaluated.stderr
    per_image = orjson.loads(evaluated.stdout)["segm"]["per_image_ap"]
    assert set(per_image) == {str(i) for i in _coco(COCO_TINY).getImgIds()}
