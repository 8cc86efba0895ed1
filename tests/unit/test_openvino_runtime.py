"""`--runtime openvino`: the ResNet body and the FPN run by OpenVINO's CPU runtime, the heads by torch.

Real forward passes of a randomly initialised R50-FPN on a small image (as test_inference.py): in float32
OpenVINO must give the same detections as torch's tuned float32 path; in bf16 (the default where the
CPU has it) the detections of a random model are too close together to survive rounding unchanged
(decision 0009), so that path is checked for what must hold, and for agreement on a trained model in
`bench/prelabel.py --variants torch,openvino` (decision 0021).
"""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_inference import HEIGHT, OPTIONS, WIDTH, image, matched_fraction, random_model  # noqa: E402

from annotator.core.predictor import Precision, PredictOptions, Runtime  # noqa: E402
from annotator.inference import openvino_backbone  # noqa: E402
from annotator.inference.models import LoadedModel, coco_categories  # noqa: E402
from annotator.inference.predictor import TorchPredictor, cpu_has_native_bf16, pick_runtime  # noqa: E402
from annotator.io.errors import DatasetError  # noqa: E402

if not openvino_backbone.available():  # imported as the tool does (not pytest.importorskip: telemetry)
    pytest.skip("the openvino package is not installed", allow_module_level=True)


def make(model, **kwargs) -> TorchPredictor:
    loaded = LoadedModel(
        copy.deepcopy(model), "maskrcnn_resnet50_fpn", tuple(range(91)), coco_categories(), "r"
    )
    return TorchPredictor(loaded, precision=Precision.AUTO, **kwargs)


@pytest.mark.slow
def test_openvino_in_float32_gives_torchs_detections(random_model, image):
    torch_fp32 = make(random_model, bf16_stages=()).predict(image, OPTIONS)
    openvino = make(random_model, bf16_stages=(), runtime=Runtime.OPENVINO, openvino_precision="f32")
    assert openvino.info.precision == "OpenVINO f32 body+fpn, fp32 heads"
    detections = openvino.predict(image, OPTIONS)
    assert len(torch_fp32) > 10
    assert matched_fraction(torch_fp32, detections) == 1.0
    assert matched_fraction(detections, torch_fp32) == 1.0
    np.testing.assert_allclose(
        [d.score for d in detections], [d.score for d in torch_fp32[: len(detections)]], atol=1e-3
    )
    # the graph takes any input size: another shape needs no new conversion
    wide = cv2.resize(image, (WIDTH * 2, HEIGHT))
    wide_options = PredictOptions(score_threshold=0.5, min_size=HEIGHT, max_size=2 * WIDTH, min_mask_area=0)
    assert (
        matched_fraction(
            make(random_model, bf16_stages=()).predict(wide, wide_options),
            openvino.predict(wide, wide_options),
        )
        == 1.0
    )


@pytest.mark.slow
def test_the_default_openvino_path_runs_bf16_where_native_from_the_cache(random_model, image):
    first = make(random_model, runtime=Runtime.OPENVINO)  # converts, and keeps the graph
    graphs = sorted(openvino_backbone.cache_folder().iterdir())
    assert [p.suffix for p in graphs] == [".bin", ".xml"]  # nothing half-written left beside them
    graphs[1].write_text("damaged")  # a damaged cache is converted again, never an error
    predictor = make(random_model, runtime=Runtime.OPENVINO)
    assert graphs[1].read_text() != "damaged"
    assert not (Path.home() / "intel").exists()  # openvino's usage telemetry stays off
    assert matched_fraction(first.predict(image, OPTIONS), predictor.predict(image, OPTIONS)) == 1.0
    native = cpu_has_native_bf16()
    heads = "bf16 rpn+box+mask" if native else "fp32 heads"
    assert predictor.info.precision == f"OpenVINO {'bf16' if native else 'f32'} body+fpn, {heads}"
    detections = predictor.predict(image, OPTIONS)
    assert detections and all(d.mask.rle.height == HEIGHT and 0.5 <= d.score <= 1 for d in detections)
    assert [d.score for d in detections] == sorted((d.score for d in detections), reverse=True)


def test_auto_picks_openvino_only_where_it_pays(monkeypatch):
    cpu = torch.device("cpu")
    expected = Runtime.OPENVINO if cpu_has_native_bf16() else Runtime.TORCH
    assert pick_runtime(Runtime.AUTO, cpu, Precision.AUTO) is expected
    assert pick_runtime(Runtime.AUTO, cpu, Precision.FP32) is Runtime.TORCH  # torchvision's arithmetic
    assert pick_runtime(Runtime.AUTO, cpu, Precision.BF16) is Runtime.TORCH
    assert pick_runtime(Runtime.TORCH, cpu, Precision.AUTO) is Runtime.TORCH
    monkeypatch.setattr(openvino_backbone, "available", lambda: False)
    assert pick_runtime(Runtime.AUTO, cpu, Precision.AUTO) is Runtime.TORCH


def test_openvino_asked_for_but_missing_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(openvino_backbone, "available", lambda: False)
    with pytest.raises(DatasetError) as error:
        pick_runtime(Runtime.OPENVINO, torch.device("cpu"), Precision.AUTO)
    message = str(error.value)
    assert "openvino" in message and "pip install openvino" in message and "\n" not in message
