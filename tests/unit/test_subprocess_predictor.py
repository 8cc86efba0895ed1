"""The model in a child process: the same detections and the same errors as in-process, a process that
ends when closed or when its parent dies, and a parent that never imports torch.

Each test that starts a model process pays for a fresh interpreter importing torch (a few seconds on a
shared machine), so one process serves the detection tests of this module.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from annotator.core.predictor import Device, ModelSpec, Precision, PredictOptions  # noqa: E402
from annotator.inference.errors import ModelProcessError, RemoteError, WeightsUnavailable  # noqa: E402
from annotator.inference.models import load_model  # noqa: E402
from annotator.inference.predictor import TorchPredictor  # noqa: E402
from annotator.inference.subprocess_predictor import ErrorReport, SubprocessPredictor  # noqa: E402
from annotator.io.errors import DatasetError  # noqa: E402

HEIGHT, WIDTH = 120, 176
OPTIONS = PredictOptions(score_threshold=0.3, min_size=HEIGHT, max_size=WIDTH, max_detections=20)


@pytest.fixture(scope="module")
def spec(checkpoint) -> ModelSpec:
    return ModelSpec(weights=checkpoint, device=Device.CPU, precision=Precision.FP32)


@pytest.fixture(scope="module")
def remote(spec):
    # the same torch thread count both sides: a different count may change float summation order
    predictor = SubprocessPredictor.from_spec(spec, threads=torch.get_num_threads())
    yield predictor
    predictor.close()


@pytest.fixture(scope="module")
def local(spec) -> TorchPredictor:
    return TorchPredictor.from_spec(spec)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(5)
    small = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)


def model_processes() -> set[int]:
    return {p.pid for p in multiprocessing.active_children() if p.name == "annotator-model"}


def test_the_child_gives_exactly_the_in_process_detections(remote, local, image):
    expected = local.predict(image, OPTIONS)
    assert expected, "the random checkpoint should give detections at this threshold"
    assert remote.predict(image, OPTIONS) == expected  # ids, float scores, boxes and RLE bytes
    assert remote.info == local.info
    only_cars = PredictOptions(**{**OPTIONS.__dict__, "classes": frozenset({3})})
    assert remote.predict(image, only_cars) == local.predict(image, only_cars)
    flipped = image[:, ::-1]  # a view with a negative stride is sent as contiguous pixels
    flipped.flags.writeable = False
    assert remote.predict(flipped, OPTIONS) == local.predict(flipped.copy(), OPTIONS)


def test_an_error_in_one_prediction_fails_that_call_only(remote, local, image):
    gray = image[:, :, 0]
    with pytest.raises(ValueError) as caught:
        remote.predict(gray, OPTIONS)
    with pytest.raises(ValueError) as in_process:
        local.predict(gray, OPTIONS)
    assert str(caught.value) == str(in_process.value)
    assert any("model process" in note for note in caught.value.__notes__)  # the child's traceback
    assert remote.process.is_alive()
    assert remote.predict(image, OPTIONS)


def test_a_missing_weights_file_is_the_same_error_with_the_same_message(tmp_path):
    before = model_processes()
    missing = ModelSpec(weights=tmp_path / "missing.pt", device=Device.CPU)
    with pytest.raises(DatasetError) as in_process:
        load_model(missing)
    with pytest.raises(DatasetError) as caught:
        SubprocessPredictor.from_spec(missing)
    assert type(caught.value) is type(in_process.value)
    assert str(caught.value) == str(in_process.value) == f"{tmp_path / 'missing.pt'}: no such weights file"
    assert caught.value.path == tmp_path / "missing.pt"
    assert model_processes() == before  # the failed child is gone, not left behind


def test_missing_coco_weights_offline_arrive_as_weights_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))  # the child inherits both
    monkeypatch.setenv("ANNOTATOR_OFFLINE", "1")
    coco = ModelSpec(device=Device.CPU)
    with pytest.raises(WeightsUnavailable) as in_process:
        load_model(coco)
    with pytest.raises(WeightsUnavailable) as caught:
        SubprocessPredictor.from_spec(coco)
    assert str(caught.value) == str(in_process.value)
    assert "download" in str(caught.value) and str(tmp_path) in str(caught.value)


def test_close_ends_the_child_and_later_calls_say_so(spec, image):
    predictor = SubprocessPredictor.from_spec(spec, threads=1)
    process = predictor.process
    assert process.is_alive() and process.pid in model_processes()
    started = time.monotonic()
    predictor.close()
    assert not process.is_alive() and process.exitcode == 0  # it exited by itself, not terminated
    assert time.monotonic() - started < 5
    predictor.close()  # twice is fine
    with pytest.raises(ModelProcessError, match="closed"):
        predictor.predict(image, OPTIONS)


PARENT = """
import importlib.abc, os, sys, time
from pathlib import Path

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'torchvision', 'PySide6'):
            raise ImportError(f'the parent imported {name}')

def main():
    sys.meta_path.insert(0, NoTorch())  # only here: the spawned child starts a fresh interpreter
    import numpy as np
    from annotator.core.predictor import Device, ModelSpec, Precision, PredictOptions
    from annotator.inference.subprocess_predictor import SubprocessPredictor

    spec = ModelSpec(weights=Path(sys.argv[1]), device=Device.CPU, precision=Precision.FP32)
    predictor = SubprocessPredictor.from_spec(spec, threads=1)
    image = np.zeros((64, 96, 3), np.uint8)
    found = predictor.predict(image, PredictOptions(score_threshold=0.0, min_size=64, max_size=96))
    maps = Path(f'/proc/{predictor.process.pid}/maps').read_text()
    print(predictor.process.pid, len(found), 'libtorch' in maps, 'Qt6' in maps, flush=True)
    time.sleep(600)  # until killed

if __name__ == '__main__':
    main()
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc to see the child's libraries")
def test_a_parent_without_torch_uses_the_child_and_the_child_exits_when_the_parent_dies(tmp_path, checkpoint):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen(
        [sys.executable, str(script), str(checkpoint)], stdout=subprocess.PIPE, text=True
    )
    try:
        line = parent.stdout.readline().split()
        assert len(line) == 4, f"the parent failed (exit {parent.poll()})"
        pid, found, child_has_torch, child_has_qt = int(line[0]), int(line[1]), line[2], line[3]
        assert found > 0 and child_has_torch == "True" and child_has_qt == "False"
        os.kill(parent.pid, signal.SIGKILL)  # no close(), no atexit: only the pipe tells the child
        parent.wait()
        deadline = time.monotonic() + 20
        while process_exists(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_exists(pid), "the model process outlived its parent"
    finally:
        parent.kill()
        parent.wait()


def process_exists(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for a reaper has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def test_missing_coco_weights_reach_the_window_laid_out_from_the_model_process():
    from annotator.inference.errors import missing_coco_weights

    url = "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
    error = missing_coco_weights(
        Path("/hub/m.pth"), "maskrcnn_resnet50_fpn", "download failed: no connection", url
    )
    rebuilt = pickle.loads(pickle.dumps(ErrorReport.of(error))).rebuild()
    what, steps = rebuilt.window_text()
    assert (
        what == "The COCO weights of maskrcnn_resnet50_fpn are not on this computer "
        "(download failed: no connection)."
    )
    assert (
        f"download {url}" in steps and "save it as /hub/m.pth" in steps and "Train on this project" in steps
    )
    assert "--weights FILE" in str(rebuilt)  # the command line's one line is as it was
    assert WeightsUnavailable(Path("/x"), "something else").window_text() is None


def test_error_reports_rebuild_the_same_type_and_message_or_a_named_stand_in():
    weights = WeightsUnavailable(Path("/x/w.pth"), "no weights", item="maskrcnn")
    report = pickle.loads(pickle.dumps(ErrorReport.of(weights)))
    rebuilt = report.rebuild()
    assert type(rebuilt) is WeightsUnavailable and str(rebuilt) == str(weights)
    assert (rebuilt.path, rebuilt.reason, rebuilt.item) == (weights.path, weights.reason, weights.item)

    memory = ErrorReport("some.unloaded.module", "OutOfMemoryError", "CUDA out of memory").rebuild()
    assert isinstance(memory, RemoteError) and type(memory).__name__ == "OutOfMemoryError"
    assert (
        str(memory) == "CUDA out of memory" and memory.remote_type == "some.unloaded.module.OutOfMemoryError"
    )

    key = ErrorReport.of(KeyError("boxes")).rebuild()  # str(KeyError) quotes: not rebuilt from it
    assert type(key).__name__ == "KeyError" and str(key) == "'boxes'"


def test_boxes_are_segmented_in_the_child_as_in_process(remote, local, image, tmp_path):
    """Box to mask: the child decodes the image from its path, keeps its features, and answers a box
    with the mask the in-process predictor gives."""
    from annotator.core.predictor import BoxPrompt, ImageNotPrepared

    path = tmp_path / "boxes.png"
    cv2.imwrite(str(path), image[..., ::-1])
    prompt = BoxPrompt((20.0, 15.0, 120.0, 90.0), category_id=7)
    with pytest.raises(ImageNotPrepared):
        remote.segment_box("never prepared", prompt)
    remote.prepare_image("boxes", path)
    local.prepare_image("boxes", path)
    there, here = remote.segment_box("boxes", prompt), local.segment_box("boxes", prompt)
    assert there.category_id == here.category_id == 7
    assert there.mask == here.mask and abs(there.score - here.score) < 1e-6


def test_a_trained_checkpoints_boxes_are_segmented_at_the_same_size_in_the_child(image, tmp_path):
    """The model process segments a box at the input size the in-process predictor (and segment-boxes)
    chooses for a trained checkpoint, not torchvision's 1333."""
    from dataclasses import replace

    from annotator.core.model import Category
    from annotator.core.predictor import BoxPrompt
    from annotator.inference.architectures import build, default_settings
    from annotator.inference.models import save_checkpoint

    torch.manual_seed(0)
    settings = replace(default_settings("maskrcnn_resnet18_fpn", num_classes=2), min_size=96, max_size=96)
    weights = tmp_path / "trained.pt"
    save_checkpoint(weights, build(settings).eval(), architecture="maskrcnn_resnet18_fpn",
                    categories=[Category(5, "square")], label_to_category=(0, 5), settings=settings,
                    history=[{"round": 1, "input_size": 96}])  # fmt: skip
    path = tmp_path / "trained.png"
    cv2.imwrite(str(path), image[..., ::-1])
    spec = ModelSpec(weights=weights, device=Device.CPU, precision=Precision.FP32)
    local = TorchPredictor.from_spec(spec)
    remote = SubprocessPredictor.from_spec(spec, threads=torch.get_num_threads())
    try:
        prompt = BoxPrompt((20.0, 15.0, 120.0, 90.0), category_id=5)
        remote.prepare_image("trained", path)
        local.prepare_image("trained", path)
        there, here = remote.segment_box("trained", prompt), local.segment_box("trained", prompt)
        assert there.mask == here.mask and abs(there.score - here.score) < 1e-6
    finally:
        remote.close()
