"""Fused bottlenecks must give the body's outputs to float32 rounding, and step aside under autocast."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from annotator.inference.fused_body import FusedBottleneck, fuse_bottlenecks  # noqa: E402
from annotator.inference.models import build_model  # noqa: E402
from annotator.inference.predictor import fold_batchnorm  # noqa: E402


@pytest.fixture(scope="module")
def folded_body():
    torch.manual_seed(0)
    body = build_model("maskrcnn_resnet50_fpn").backbone.body.eval()
    fold_batchnorm(body)
    return body.to(memory_format=torch.channels_last)


def test_fused_body_equals_the_folded_body(folded_body):
    fused = copy.deepcopy(folded_body)
    if fuse_bottlenecks(fused) == 0:
        pytest.skip("this torch build has no oneDNN fused convolution")
    assert sum(isinstance(m, FusedBottleneck) for m in fused.modules()) == 16  # every ResNet-50 block
    image = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(1))
    image = image.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected, ours = folded_body(image), fused(image)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 body: the plain blocks run
            expected_bf16, ours_bf16 = folded_body(image), fused(image)
    for name in expected:  # oneDNN may choose another kernel with post-ops: rounding differs, not more
        scale = float(expected[name].abs().max())
        torch.testing.assert_close(ours[name], expected[name], rtol=1e-5, atol=1e-5 * scale)
        assert ours_bf16[name].dtype == torch.bfloat16
        assert torch.equal(ours_bf16[name], expected_bf16[name])


def test_unfolded_blocks_are_left_alone():
    torch.manual_seed(0)
    body = build_model("maskrcnn_resnet50_fpn").backbone.body.eval()
    assert fuse_bottlenecks(body) == 0  # BatchNorm still there: nothing to fuse
