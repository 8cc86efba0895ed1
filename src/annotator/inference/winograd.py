"""3x3 convolutions by Winograd's algorithm (NNPACK, which torch bundles), on CPUs whose best is AVX2.

oneDNN, torch's CPU convolution, computes a 3x3 convolution directly and has no Winograd kernel for
AVX2 (only for AVX-512); on this kind of CPU it already runs near the cores' float32 peak. Winograd's
F(6x6, 3x3), as NNPACK computes it, needs about a fifth of the multiplications; measured here per
convolution (CPU time, 2 threads), 256 channels at the FPN's stride-4 level: 2.5-2.7x faster, 128: 1.5-1.9x,
64: 1.3x; at stride 2 it is slower, so only stride-1 convolutions are converted. Its results differ from
the direct sum by rounding only (about 1e-5 of the output's range: float32 arithmetic in another order,
40x below the 1e-4 weight noise `bench/prelabel.py`'s control adds).

torch only calls NNPACK itself for batches of 16 or more, so `use_winograd` swaps the modules.
NNPACK reads and writes NCHW memory: a channels_last input is copied first, and the output back.
"""

from __future__ import annotations

import functools

import torch
from torch import nn


@functools.cache
def speeds_up(device: torch.device) -> bool:
    """Whether NNPACK's Winograd beats oneDNN here: a CPU whose best vector unit is AVX2.

    (On AVX-512 CPUs oneDNN has twice the width, NNPACK still AVX2 kernels: not measured, so not used.)
    """
    if device.type != "cpu" or not torch.backends.nnpack.is_available():  # the call also initializes it
        return False
    return torch.backends.cpu.get_cpu_capability() == "AVX2"


class WinogradConv2d(nn.Module):
    """A stride-1, 3x3 `nn.Conv2d` (no groups, no dilation) computed by NNPACK's Winograd transform."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if not eligible(conv):
            raise ValueError(f"not a stride-1 3x3 convolution: {conv}")
        if not torch.backends.nnpack.is_available():  # the call initializes NNPACK: its kernels fail before
            raise RuntimeError("this torch has no NNPACK")
        self.weight = nn.Parameter(conv.weight.detach().contiguous(), requires_grad=False)
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
        self.bias = nn.Parameter(bias.contiguous(), requires_grad=False)
        self.padding = [int(p) for p in conv.padding]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The output keeps a channels_last input's layout, so the layers around it need not change."""
        out = torch._nnpack_spatial_convolution(x.contiguous(), self.weight, self.bias, self.padding)
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            return out.contiguous(memory_format=torch.channels_last)
        return out


def eligible(module: nn.Module) -> bool:
    """A float32 3x3 convolution NNPACK computes with Winograd: stride 1, no dilation, no groups."""
    return (
        type(module) is nn.Conv2d
        and module.kernel_size == (3, 3)
        and module.stride == (1, 1)
        and module.dilation == (1, 1)
        and module.groups == 1
        and module.padding_mode == "zeros"
        and isinstance(module.padding, tuple)
        and module.weight.dtype == torch.float32
    )


def use_winograd(module: nn.Module) -> int:
    """Replace every eligible convolution inside `module` (in place); returns how many were replaced."""
    count = 0
    for name, child in list(module.named_children()):
        if eligible(child):
            setattr(module, name, WinogradConv2d(child))
            count += 1
        else:
            count += use_winograd(child)
    return count
