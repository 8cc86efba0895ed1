"""`annotator train` as a user runs it, and the training process the GUI drives: exit codes, one-line
errors, Ctrl+C, resume, and `annotator prelabel --weights` with the trained model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from annotator.core.geometry import Polygons
from annotator.core.model import Category, Instance, Source
from annotator.inference.models import read_checkpoint
from annotator.io.coco import load_coco, save_coco
from training_helpers import TINY_MODEL, tiny_config, write_rectangles

pytestmark = pytest.mark.training


def _command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "annotator.cli.main", *map(str, args)]


def _env() -> dict:
    return dict(os.environ, ANNOTATOR_OFFLINE="1")


TINY = [arg for key, value in TINY_MODEL.items() for arg in ("--set", f"{key}={value}")]


def _train(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    command = _command("train", *args, *TINY)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_env())


@pytest.fixture(scope="module")
def rectangles(tmp_path_factory) -> Path:
    return write_rectangles(tmp_path_factory.mktemp("rectangles"), count=8)


@pytest.fixture(scope="module")
def trained(rectangles, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("model") / "model.pt"
    result = _train(rectangles, "--out", out, "--epochs", "3", "--input-size", "64", "--batch-size", "2",
                    "--recipe", "rot90=true", "--recipe", "vflip=true", "--recipe", "ema=0.9")  # fmt: skip
    return result, out


@pytest.mark.slow
def test_train_writes_a_model_that_prelabel_uses_with_the_original_ids(trained, rectangles, tmp_path):
    result, model = trained
    assert result.returncode == 0, result.stderr
    assert f"wrote {model}: 3 epochs, 9 steps" in result.stdout
    assert "training maskrcnn_resnet18_fpn on 6 images (2 for validation), 2 classes" in result.stderr
    assert "epoch 3: loss" in result.stderr and "val mask AP" in result.stderr
    assert "Traceback" not in result.stderr
    saved = read_checkpoint(model.with_name("model.last.pt")).training
    recipe = saved["config"]["recipe"]  # --recipe reached the run, and a resume repeats it
    assert recipe["rot90"] is True and recipe["vflip"] is True and recipe["ema"] == 0.9
    assert saved["weight_average"]  # the kept model is the weight average
    out = tmp_path / "pre.json"
    labelled = subprocess.run(
        _command("prelabel", rectangles.parent, "--out", out, "--weights", model, "--score-thr", "0.0"),
        capture_output=True, text=True, timeout=300, env=_env(),
    )  # fmt: skip
    assert labelled.returncode == 0, labelled.stderr
    data = json.loads(out.read_text())
    assert [(c["id"], c["name"]) for c in data["categories"]] == [(5, "red"), (9, "blue")]
    assert data["annotations"] and {a["category_id"] for a in data["annotations"]} <= {5, 9}


@pytest.mark.slow
def test_the_kept_models_validation_detections_are_out_of_fold_predictions_for_the_audit(
    trained, rectangles, tmp_path
):
    """Beside MODEL.pt: the kept model's detections on the validation images, which it did not train on,
    as a COCO results list with the dataset's own image and class ids; `annotator audit` takes it."""
    result, model = trained
    assert result.returncode == 0, result.stderr
    predictions_path = model.with_name("model.val-predictions.json")
    assert f"validation images in {predictions_path}" in result.stdout
    predictions = json.loads(predictions_path.read_text())
    dataset = load_coco(rectangles).dataset
    assert predictions and {p["category_id"] for p in predictions} <= {5, 9}
    validation = {p["image_id"] for p in predictions}
    assert validation <= set(dataset.images) and len(validation) <= 2  # 2 of the 8 images validate
    assert all(isinstance(p["segmentation"]["counts"], str) and 0 <= p["score"] <= 1 for p in predictions)
    issues = tmp_path / "issues.json"
    audited = subprocess.run(
        _command("audit", rectangles, predictions_path, "--out", issues, "--min-score", "0"),
        capture_output=True, text=True, timeout=300, env=_env(),
    )  # fmt: skip
    assert audited.returncode == 0, audited.stderr
    report = json.loads(issues.read_text())
    assert report["images"] == len(validation), report

    # a model trained without validation where an earlier one's detections lie: they are not its own
    other = tmp_path / "model.pt"
    stale = other.with_name("model.val-predictions.json")
    stale.write_bytes(predictions_path.read_bytes())
    again = _train(rectangles, "--out", other, "--epochs", "1", "--val-split", "0", "--input-size", "64")
    assert again.returncode == 0, again.stderr
    assert other.is_file() and not stale.exists() and "validation images in" not in again.stdout


@pytest.mark.slow
def test_ctrl_c_saves_both_checkpoints_and_exits_cleanly(rectangles, tmp_path):
    out = tmp_path / "m.pt"
    process = subprocess.Popen(
        _command("train", rectangles, "--out", out, "--epochs", "500", "--input-size", "64", "--batch-size", "2", *TINY),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    lines = []
    for line in process.stderr:  # a step line is printed as soon as training runs
        lines.append(line)
        if line.startswith("step "):
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    stderr = "".join(lines) + stderr
    assert process.returncode == 130, stderr
    assert "stopping after this step and saving" in stderr and "annotator train: interrupted" in stderr
    assert "Traceback" not in stderr
    assert f"wrote {out}" in stdout and out.is_file() and out.with_name("m.last.pt").is_file()

    resumed = _train(rectangles, "--out", out, "--resume", out.with_name("m.last.pt"), "--epochs", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert ", from step " in resumed.stderr and "2 epochs, 6 steps" in resumed.stdout


def _write(dataset_path: Path, instances) -> None:
    dataset = load_coco(dataset_path).dataset
    dataset.drop_instances(list(dataset.instances), notify=False)
    dataset.put_instances(instances, notify=False)
    save_coco(dataset, dataset_path)


def _one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("annotator train: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_bad_input_is_refused_with_one_line(tmp_path, rectangles):
    missing = _train(tmp_path / "nothing.json", "--out", tmp_path / "m.pt")
    _one_line_error(missing, "nothing.json", "no such file")
    unreviewed = tmp_path / "unreviewed" / "data.json"
    write_rectangles(unreviewed.parent, count=4)
    square = Polygons((np.array([[0.0, 0.0], [9.0, 0.0], [9.0, 9.0]]),))
    _write(unreviewed, [Instance(1, 1, 5, square, source=Source.from_model("m", 0.9))])
    _one_line_error(_train(unreviewed, "--out", tmp_path / "m.pt"), "data.json", "no trainable instances")
    folder_out = _train(rectangles, "--out", tmp_path)
    _one_line_error(folder_out, str(tmp_path), "is a folder")
    epochs = _train(rectangles, "--out", tmp_path / "m.pt", "--epochs", "0")
    _one_line_error(epochs, "--epochs must be in")
    images_gone = _train(rectangles, "--out", tmp_path / "m.pt", "--images", tmp_path / "nowhere")
    _one_line_error(images_gone, "--images", "nowhere: no such folder of images")
    unknown_setting = _train(rectangles, "--out", tmp_path / "m.pt", "--set", "foo=1")
    _one_line_error(unknown_setting, "--set foo: no such model setting; known: anchor_sizes")
    unknown = _train(rectangles, "--out", tmp_path / "m.pt", "--recipe", "rotate=true")
    _one_line_error(unknown, "--recipe rotate=true: no such setting; known: batch_size")
    not_bool = _train(rectangles, "--out", tmp_path / "m.pt", "--recipe", "rot90=maybe")
    _one_line_error(not_bool, "--recipe rot90=maybe: expected true or false")
    out_of_range = _train(rectangles, "--out", tmp_path / "m.pt", "--recipe", "ema=1.5")
    _one_line_error(out_of_range, "ema must be in [0, 1)")
    light_coco = _train(rectangles, "--out", tmp_path / "m.pt", "--weights", "coco")
    _one_line_error(light_coco, "torchvision has no COCO weights for maskrcnn_resnet18_fpn")


def test_coco_weights_offline_say_what_to_download_and_where(tmp_path, rectangles, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    result = _train(
        rectangles, "--out", tmp_path / "m.pt", "--base", "maskrcnn_resnet50_fpn", "--weights", "coco"
    )
    _one_line_error(result, "no maskrcnn_resnet50_fpn COCO weights", "download https://", "--weights FILE")


@pytest.mark.slow
def test_skipped_items_are_named_and_training_goes_on(tmp_path):
    data = write_rectangles(tmp_path / "set", count=4)
    (tmp_path / "set" / "im4.png").unlink()
    dataset = load_coco(data).dataset
    dataset.put_categories([Category(30, "never drawn")], notify=False)
    save_coco(dataset, data)
    raw = json.loads(data.read_text())  # a degenerate polygon, as another tool may write it (ours never)
    raw["annotations"].append(
        {"id": 100, "image_id": 2, "category_id": 5, "segmentation": [[5, 5, 5, 5, 5, 5]], "area": 0,
         "bbox": [5, 5, 0, 0], "iscrowd": 0}
    )  # fmt: skip
    data.write_text(json.dumps(raw))
    result = _train(
        data, "--out", tmp_path / "m.pt", "--epochs", "1", "--input-size", "64", "--batch-size", "2"
    )
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("annotator train: note: ")]
    text = "\n".join(notes)
    assert "skipped 1 image that cannot be read: im4.png" in text
    assert "instance 100 on im2.png (empty mask, zero area)" in text
    assert "class 'never drawn' (id 30) has no trainable instance" in text
    assert "only 3 images with trainable instances: too few for a validation split" in text


@pytest.mark.slow
def test_the_training_process_reports_json_events_and_cancels_cleanly(rectangles, tmp_path):
    from annotator.inference.train_process import TrainingProcess

    config = tiny_config(rectangles, tmp_path / "m.pt", epochs=500)
    process = TrainingProcess.start(config)
    kinds = []
    for event in process.events():
        kinds.append(event.kind)
        if event.kind == "step" and event.step == 2:
            process.pause()
            process.resume()
            process.cancel()
        if event.kind == "finished":
            finished = event
    assert process.wait(60) == 0, process.stderr_tail
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert finished.reason == "cancelled" and finished.steps >= 2
    assert Path(finished.model_path).is_file() and Path(finished.last_path).is_file()


def test_the_training_process_reports_bad_input_as_an_error_event(tmp_path):
    from annotator.inference.train_process import TrainingProcess

    process = TrainingProcess.start(tiny_config(tmp_path / "absent.json", tmp_path / "m.pt"))
    events = list(process.events())
    assert process.wait(60) == 2
    assert [e.kind for e in events] == ["error"] and "absent.json: no such file" in events[0].message
    assert events[0].bad_input


@pytest.mark.slow
def test_the_windows_model_process_accepts_the_trained_checkpoint(trained, rectangles):
    from annotator.core.predictor import ModelSpec, PredictOptions
    from annotator.inference.subprocess_predictor import SubprocessPredictor
    from annotator.io.images import load_rgb

    result, model = trained
    assert result.returncode == 0, result.stderr
    with SubprocessPredictor.from_spec(ModelSpec(weights=model), threads=1) as predictor:
        info = predictor.info
        assert [(c.id, c.name) for c in info.categories] == [(5, "red"), (9, "blue")]
        assert info.input_size == (64, 64)  # (min_size, max_size): what the window should run it at
        options = PredictOptions(min_size=64, max_size=64, score_threshold=0.0)
        detections = predictor.predict(load_rgb(rectangles.parent / "im1.png"), options)
    assert detections and {d.category_id for d in detections} <= {5, 9}
