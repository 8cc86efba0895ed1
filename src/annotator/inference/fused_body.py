"""ResNet bottlenecks with their ReLUs and residual add done inside the convolutions (oneDNN post-ops).

Once BatchNorm is folded, a bottleneck is conv+ReLU, conv+ReLU, conv, (downsample conv,) add, ReLU. Each
separate ReLU and the add is one more pass over a whole activation map (64 MB each in layer1 at
1920x1080). As post-ops, oneDNN applies them to each output tile while it is still in cache: the same
float32 operations, so the results equal the plain body's to float32 rounding (bitwise at 1920x1080 on
this machine; on small maps oneDNN may pick another kernel, about 1e-6 relative), and the body runs
about 5% faster.

The op is `torch.ops.mkldnn._convolution_pointwise`, which torch.compile's CPU backend emits. Where it
is missing, and under autocast (it has no autocast rule), a block runs its own forward instead.
"""

from __future__ import annotations

import torch
from torchvision.models.resnet import Bottleneck


def fuse_bottlenecks(body: torch.nn.Module) -> int:
    """Wrap each BatchNorm-folded bottleneck of `body` (in place); returns how many were wrapped."""
    if not _available():
        return 0
    fused = 0
    for layer in body.children():
        if not isinstance(layer, torch.nn.Sequential):
            continue
        for index, block in enumerate(layer):
            if _fusable(block):
                layer[index] = FusedBottleneck(block)
                fused += 1
    return fused


class FusedBottleneck(torch.nn.Module):
    """A torchvision Bottleneck (BatchNorm folded) run as three or four fused oneDNN convolutions."""

    def __init__(self, block: Bottleneck):
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block = self.block
        if x.device.type != "cpu" or x.dtype != torch.float32 or torch.is_autocast_enabled("cpu"):
            return block(x)
        out = _conv(x, block.conv1, "relu")
        out = _conv(out, block.conv2, "relu")
        identity = x if block.downsample is None else _conv(x, block.downsample[0], "none")
        conv = block.conv3
        return torch.ops.mkldnn._convolution_pointwise.binary(
            out, identity, conv.weight, conv.bias, *_geometry(conv), "add", None, "relu", [], ""
        )


def _conv(x: torch.Tensor, conv: torch.nn.Conv2d, activation: str) -> torch.Tensor:
    return torch.ops.mkldnn._convolution_pointwise(
        x, conv.weight, conv.bias, *_geometry(conv), activation, [], ""
    )


def _geometry(conv: torch.nn.Conv2d) -> tuple[list[int], list[int], list[int], int]:
    return list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups


def _fusable(block: object) -> bool:
    """A Bottleneck whose BatchNorms are already folded into its convolutions (Identity in their place)."""
    if not isinstance(block, Bottleneck):
        return False
    if not all(isinstance(getattr(block, f"bn{i}"), torch.nn.Identity) for i in (1, 2, 3)):
        return False
    down = block.downsample
    return down is None or (
        isinstance(down, torch.nn.Sequential) and len(down) == 1 and isinstance(down[0], torch.nn.Conv2d)
    )


def _available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
