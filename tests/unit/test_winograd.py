"""Winograd 3x3 convolutions (NNPACK) against torch's direct ones, and where the predictor uses them."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from annotator.core.predictor import Precision  # noqa: E402
from annotator.inference import winograd  # noqa: E402
from annotator.inference.models import LoadedModel, build_model  # noqa: E402
from annotator.inference.predictor import TorchPredictor  # noqa: E402

needs_nnpack = pytest.mark.skipif(
    not torch.backends.nnpack.is_available(), reason="torch built without NNPACK"
)


@needs_nnpack
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("batch", "channels", "bias"), [(1, 64, True), (5, 32, False)])
def test_equals_the_direct_convolution_to_rounding(batch, channels, bias, channels_last):
    generator = torch.Generator().manual_seed(2)
    conv = nn.Conv2d(channels, 48, 3, padding=1, bias=bias)
    x = torch.randn(batch, channels, 29, 41, generator=generator)  # not a multiple of the 6x6 output tile
    if channels_last:
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    fast = winograd.WinogradConv2d(conv)
    with torch.no_grad():
        expected, got = conv(x), fast(x)
    assert got.shape == expected.shape
    # the output keeps the input's layout, so the layers after it see what they saw before
    assert got.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_only_stride_1_3x3_float32_convolutions_are_eligible():
    assert winograd.eligible(nn.Conv2d(8, 8, 3, padding=1))
    assert not winograd.eligible(nn.Conv2d(8, 8, 3, padding=1, stride=2))
    assert not winograd.eligible(nn.Conv2d(8, 8, 1))
    assert not winograd.eligible(nn.Conv2d(8, 8, 3, padding=2, dilation=2))
    assert not winograd.eligible(nn.Conv2d(8, 8, 3, padding=1, groups=2))
    assert not winograd.eligible(nn.Conv2d(8, 8, 3, padding=1).to(torch.bfloat16))
    with pytest.raises(ValueError, match="stride-1 3x3"):
        winograd.WinogradConv2d(nn.Conv2d(8, 8, 5, padding=2))


def test_the_default_uses_it_where_it_pays_and_fp32_never(random_r18):
    def predictor(precision: Precision) -> TorchPredictor:
        loaded = LoadedModel(copy.deepcopy(random_r18), "maskrcnn_resnet18_fpn", (0, 1, 2), (), "r")
        return TorchPredictor(loaded, precision=precision)

    exact = predictor(Precision.FP32)
    assert exact.winograd_stages == ()
    assert not any(isinstance(m, winograd.WinogradConv2d) for m in exact.model.modules())
    default = predictor(Precision.AUTO)
    if not winograd.speeds_up(default.device):
        assert default.winograd_stages == ()
        return
    assert default.winograd_stages == ("fpn", "rpn", "mask")
    model = default.model
    for module in (model.backbone.fpn, model.rpn.head, model.roi_heads.mask_head):
        assert not any(winograd.eligible(m) for m in module.modules())
        assert any(isinstance(m, winograd.WinogradConv2d) for m in module.modules())
    assert not any(isinstance(m, winograd.WinogradConv2d) for m in model.backbone.body.modules())
    assert "Winograd" in default.info.precision


@pytest.fixture(scope="module")
def random_r18():
    torch.manual_seed(0)
    return build_model("maskrcnn_resnet18_fpn", num_classes=3)
