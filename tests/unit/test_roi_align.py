"""Our separable RoIAlign against torchvision's own kernel, on the boxes that stress its edge rules."""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import pytest

torch = pytest.importorskip("torch")

from torchvision.ops import MultiScaleRoIAlign, roi_align  # noqa: E402

from annotator.inference.roi_align import multiscale_roi_align, supports  # noqa: E402

HEIGHT, WIDTH = 37, 53  # odd sizes: no box lines up with the grid by accident


def edge_boxes(scale: float) -> torch.Tensor:
    """Boxes in image pixels: random ones plus each case the kernel treats specially."""
    generator = torch.Generator().manual_seed(7)
    image_w, image_h = WIDTH / scale, HEIGHT / scale
    corners = torch.rand(200, 2, generator=generator) * torch.tensor([image_w, image_h]) * 1.2 - 10
    sizes = torch.rand(200, 2, generator=generator) * torch.tensor([image_w, image_h]) * 0.6
    special = torch.tensor(
        [
            [0.0, 0.0, 0.5, 0.5],  # smaller than a feature pixel: clamped to size 1
            [-60.0, -60.0, -20.0, -20.0],  # wholly outside: every sample is empty
            [image_w - 2, image_h - 2, image_w + 40, image_h + 40],  # over the far edge
            [-6.0, 5.0, image_w + 9, image_h + 9],  # wider than the map
            [10.0, 10.0, 10.0, 10.0],  # degenerate
            [0.0, 0.0, image_w, image_h],  # the whole image
            [10.0, 146.0, 60.0, 202.0],  # at scale 1/4, a sample falls exactly on row 37 = the map's height
        ]
    )
    return torch.cat([special, torch.cat([corners, corners + sizes], 1)])


@pytest.mark.parametrize(
    ("output_size", "sampling_ratio"), [((7, 7), 2), ((14, 14), 2), ((5, 3), 1), ((7, 7), 3)]
)
def test_one_level_equals_torchvision(output_size, sampling_ratio):
    features = torch.randn(1, 16, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(1))
    boxes = edge_boxes(0.25)
    expected = roi_align(features, [boxes], output_size, spatial_scale=0.25, sampling_ratio=sampling_ratio)
    pooler = MultiScaleRoIAlign(["0"], output_size, sampling_ratio)  # one level: every box pools from it
    channels_last = {"0": features.contiguous(memory_format=torch.channels_last)}
    ours = multiscale_roi_align(pooler, channels_last, boxes, (HEIGHT * 4, WIDTH * 4))
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours, expected, rtol=0, atol=2e-6)
    assert torch.all(ours[1] == 0)  # the box outside the map pools nothing


def pyramid(dtype=torch.float32) -> OrderedDict:
    generator = torch.Generator().manual_seed(3)
    return OrderedDict(
        (name, torch.randn(1, 32, 96 >> i, 136 >> i, generator=generator).to(dtype))
        for i, name in enumerate("0123")
    )


def test_multiscale_equals_torchvision_on_every_level():
    features = pyramid()
    pooler = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    generator = torch.Generator().manual_seed(4)
    corners = torch.rand(400, 2, generator=generator) * torch.tensor([544.0, 384.0])
    sizes = 2 + torch.rand(400, 2, generator=generator) ** 2 * 500  # small to huge: all four levels
    boxes = torch.cat([corners, corners + sizes], 1)
    expected = pooler(features, [boxes], [(384, 544)])
    channels_last = OrderedDict(
        (k, v.contiguous(memory_format=torch.channels_last)) for k, v in features.items()
    )
    assert len(set(pooler.map_levels([boxes]).tolist())) == 4
    with ThreadPoolExecutor(2) as executor:
        for ours in (
            multiscale_roi_align(pooler, channels_last, boxes, (384, 544)),
            multiscale_roi_align(pooler, channels_last, boxes, (384, 544), executor, workers=2),
            multiscale_roi_align(pooler, features, boxes, (384, 544), executor, workers=2),  # NCHW too
        ):
            torch.testing.assert_close(ours, expected, rtol=0, atol=2e-6)


def test_bf16_levels_are_pooled_in_float32():
    features = pyramid(torch.bfloat16)
    pooler = MultiScaleRoIAlign(["0", "1", "2", "3"], 14, 2)
    boxes = torch.tensor([[10.0, 20.0, 200.0, 150.0], [300.0, 100.0, 330.0, 120.0]])
    ours = multiscale_roi_align(pooler, features, boxes, (384, 544))
    widened = OrderedDict((k, v.float()) for k, v in features.items())
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, pooler(widened, [boxes], [(384, 544)]), rtol=0, atol=2e-6)


def test_no_boxes_and_unsupported_poolers():
    pooler = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    assert multiscale_roi_align(pooler, pyramid(), torch.zeros((0, 4)), (384, 544)).shape == (0, 32, 7, 7)
    assert supports(pooler)
    assert not supports(MultiScaleRoIAlign(["0"], 7, -1))  # adaptive sampling: torchvision's kernel


@pytest.mark.parametrize("output_size", [(7, 7), (5, 3)])
def test_box_head_reading_the_pooled_memory_equals_torchvision_head(output_size):
    from torchvision.models.detection.faster_rcnn import TwoMLPHead

    from annotator.inference.predictor import MLPHeadOnPooledLayout

    torch.manual_seed(5)
    height, width = output_size
    head = TwoMLPHead(32 * height * width, 64).eval()
    ours = MLPHeadOnPooledLayout(head, output_size).eval()
    pooler = MultiScaleRoIAlign(["0", "1", "2", "3"], output_size, 2)
    corners = torch.rand(50, 2) * torch.tensor([544.0, 384.0])
    boxes = torch.cat([corners, corners + 4 + torch.rand(50, 2) * 200], 1)
    pooled = multiscale_roi_align(pooler, pyramid(), boxes, (384, 544))  # a view of (K, w, h, C) memory
    with torch.no_grad():
        expected = head(pooled.contiguous())
        torch.testing.assert_close(ours(pooled), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ours(pooled.contiguous()), expected, rtol=1e-5, atol=1e-5)  # any layout
    assert head.fc6.weight.shape == ours.fc6.weight.shape and ours.fc7 is head.fc7
