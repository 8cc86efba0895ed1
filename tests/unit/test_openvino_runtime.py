"""`--runtime openvino`: the ResNet body, the FPN, the RPN head and the mask head run by OpenVINO's CPU
runtime, the rest by torch.

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

from annotator.core.model import Category  # noqa: E402
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
    assert openvino.info.precision == "OpenVINO f32 body+fpn+rpn+mask, fp32 box head"
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
    graphs = sorted(openvino_backbone.cache_folder().iterdir(), key=lambda p: (p.suffix, p.name))
    # the body's and the mask head's, nothing half-written left beside them
    assert [p.suffix for p in graphs] == [".bin", ".bin", ".xml", ".xml"]
    graphs[2].write_text("damaged")  # a damaged cache is converted again, never an error
    predictor = make(random_model, runtime=Runtime.OPENVINO)
    assert graphs[2].read_text() != "damaged"
    assert not (Path.home() / "intel").exists()  # openvino's usage telemetry stays off
    assert matched_fraction(first.predict(image, OPTIONS), predictor.predict(image, OPTIONS)) == 1.0
    native = cpu_has_native_bf16()
    heads = "bf16 box" if native else "fp32 box head"
    assert predictor.info.precision == f"OpenVINO {'bf16' if native else 'f32'} body+fpn+rpn+mask, {heads}"
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


# The heads OpenVINO runs (the RPN head in the body's graph, the mask head in its own), checked stage by
# stage and end to end on a tiny light model (R18 body, 32-channel FPN and heads, GroupNorm in the mask
# head as trained models have it): converting it takes a few seconds, not R50's 10-20.
TINY_HEIGHT, TINY_WIDTH = 96, 128
TINY_OPTIONS = PredictOptions(
    score_threshold=0.05, min_size=TINY_HEIGHT, max_size=TINY_WIDTH, min_mask_area=0
)


@pytest.fixture(scope="module")
def tiny_model():
    from annotator.inference.architectures import LIGHT_ARCHITECTURE, ModelSettings, build

    torch.manual_seed(0)
    settings = ModelSettings(
        architecture=LIGHT_ARCHITECTURE,
        num_classes=3,
        min_size=TINY_HEIGHT,
        max_size=TINY_WIDTH,
        fpn_channels=32,
        mask_head_channels=32,
        box_head_size=64,
        head_norm="gn",
        rpn_pre_nms_top_n_test=200,
        rpn_post_nms_top_n_test=100,
    )
    model = build(settings).eval()
    with torch.no_grad():  # BatchNorm statistics as after training, so the body's folding is exercised
        for module in model.backbone.body.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model


def make_tiny(model, **kwargs) -> TorchPredictor:
    categories = (Category(4, "a"), Category(7, "b"))
    loaded = LoadedModel(copy.deepcopy(model), "maskrcnn_resnet18_fpn", (0, 4, 7), categories, "tiny")
    return TorchPredictor(loaded, precision=Precision.AUTO, **kwargs)


def tiny_image() -> np.ndarray:
    rng = np.random.default_rng(5)
    small = rng.integers(0, 256, (TINY_HEIGHT // 8, TINY_WIDTH // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (TINY_WIDTH, TINY_HEIGHT), interpolation=cv2.INTER_CUBIC)


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value - reference).abs().max() / reference.abs().max())


@pytest.mark.parametrize("precision", ["f32", "bf16"])
def test_openvino_stages_compute_what_torchs_do(tiny_model, precision):
    """The body+FPN+RPN-head graph and the mask-head graph against torch's float32 modules: equal to
    rounding in f32, within bf16's rounding in bf16 (where the CPU has no bf16, OpenVINO runs f32)."""
    from annotator.inference.openvino_backbone import OpenVinoBackbone, OpenVinoMaskHead

    tolerance = 1e-4 if precision == "f32" else 0.05
    model = tiny_model
    backbone = OpenVinoBackbone(model.backbone, model.rpn.head, precision=precision, threads=1)
    batch = torch.from_numpy(tiny_image()).permute(2, 0, 1)[None].float().div(255)
    for height, width in ((TINY_HEIGHT, TINY_WIDTH), (64, 96)):  # any input size, one graph
        pyramid, objectness, deltas = backbone(batch[..., :height, :width])
        with torch.no_grad():
            expected = model.backbone(batch[..., :height, :width])
            expected_objectness, expected_deltas = model.rpn.head(list(expected.values()))
        assert list(pyramid) == list(expected)
        for got, want in zip(
            [*pyramid.values(), *objectness, *deltas],
            [*expected.values(), *expected_objectness, *expected_deltas],
            strict=True,
        ):
            assert got.shape == want.shape and got.dtype == torch.float32
            assert relative_error(got, want) < tolerance

    heads = model.roi_heads
    mask_head = OpenVinoMaskHead(
        heads.mask_head, heads.mask_predictor, (14, 14), 32, precision=precision, threads=1
    )
    generator = torch.Generator().manual_seed(2)
    for count in (1, 7):  # any number of boxes, one graph
        roi_layout = torch.randn(count, 14, 14, 32, generator=generator)  # roi_align.py's (K, w, h, C)
        pooled = roi_layout.permute(0, 3, 2, 1)
        with torch.no_grad():
            want = heads.mask_predictor(heads.mask_head(pooled))
        for layout in (pooled, pooled.contiguous()):  # its memory as it lies, and plain NCHW
            got = mask_head(layout)
            assert got.shape == want.shape == (count, 3, 28, 28)
            assert relative_error(got, want) < tolerance


def test_openvino_heads_give_torchs_detections_and_are_cached_together(tiny_model):
    image = tiny_image()
    reference = make_tiny(tiny_model, bf16_stages=()).predict(image, TINY_OPTIONS)
    openvino = make_tiny(tiny_model, bf16_stages=(), runtime=Runtime.OPENVINO, openvino_precision="f32")
    assert openvino.info.precision == "OpenVINO f32 body+fpn+rpn+mask, fp32 box head"
    detections = openvino.predict(image, TINY_OPTIONS)
    assert len(reference) > 10
    assert matched_fraction(reference, detections) == 1.0
    assert matched_fraction(detections, reference) == 1.0
    np.testing.assert_allclose([d.score for d in detections], [d.score for d in reference], atol=1e-4)
    # both graphs in the cache, under keys that include the graph version
    names = sorted(p.name for p in openvino_backbone.cache_folder().iterdir())
    assert sorted(Path(n).suffix for n in names) == [".bin", ".bin", ".xml", ".xml"]
    module = openvino_backbone._MaskHead(tiny_model.roi_heads.mask_head, tiny_model.roi_heads.mask_predictor)
    key = openvino_backbone._weights_key(module)
    assert f"{key}.xml" in names
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(openvino_backbone, "GRAPH_VERSION", openvino_backbone.GRAPH_VERSION + 1)
        assert openvino_backbone._weights_key(module) != key
