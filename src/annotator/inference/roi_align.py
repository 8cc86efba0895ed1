"""RoIAlign as two small matrix products per box, on channels_last features.

torchvision's CPU RoIAlign reads NCHW features on one core, so a channels_last pyramid must first be
copied. At 1920x1080 with 1000 proposals, on two cores, the copy and the pooling together take about
0.23 s; this module takes about 0.055 s with no copy (`bench/roi_align.py`: 4.1-4.2x).

Its sampling grid is separable. Each output cell averages `sampling_ratio`² bilinear samples whose
rows depend only on the cell's row and whose columns only on its column, and both the bilinear
weights and the "outside the map" rule factor the same way. So for one box, with `Ay` (rows of the
output x rows of the crop) and `Ax` (the same for columns) holding the summed sample weights:

    output[c] = Ay @ crop[c] @ Ax.T

which BLAS computes straight from the channels_last crop. The weights follow torchvision's kernel
(`roi_align_kernel.cpp`) step by step, so results equal `torchvision.ops.roi_align` to float32 rounding
(a different summation order: about 1e-7 relative).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np
import torch
from torchvision.ops.poolers import MultiScaleRoIAlign, _setup_scales


@functools.cache
def keep_numpy_blas_single_threaded() -> None:
    """Limit NumPy's BLAS to one thread in this process (for good: call it where the model runs).

    The per-box GEMMs run one chunk per core on the caller's pool; under each, NumPy's OpenBLAS
    would start threads of its own that spin while they wait. Measured on 2 cores: 1000 proposals at
    1280x960 took 0.25-1.2 s of CPU time that way, 0.065 s with one BLAS thread (`bench/prelabel.py`
    shows the difference in wall time on a loaded machine). torch's own BLAS is not affected.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def supports(pooler: MultiScaleRoIAlign) -> bool:
    """Whether `multiscale_roi_align` handles this pooler (a fixed sampling ratio, as Mask R-CNN's)."""
    return isinstance(pooler, MultiScaleRoIAlign) and pooler.sampling_ratio > 0


def multiscale_roi_align(
    pooler: MultiScaleRoIAlign,
    features: dict[str, torch.Tensor],
    boxes: torch.Tensor,
    image_size: Sequence[int],
    executor: Executor | None = None,
    workers: int = 1,
) -> torch.Tensor:
    """`pooler(features, [boxes], [image_size])` for one image: (K, C, h, w) float32.

    The result is a view of (K, w, h, C) memory, which the heads read as they would NCHW. `features` may
    be in any memory format and dtype (bf16 levels are widened to float32 first); the boxes are split
    into up to `workers` chunks per level, run on `executor` (NumPy's matmul releases the GIL).
    """
    levels = [features[name] for name in pooler.featmap_names]
    height, width = (int(s) for s in pooler.output_size)
    out = np.empty((boxes.shape[0], width, height, levels[0].shape[1]), dtype=np.float32)
    # torchvision's own level scales and FPN level mapper (what `pooler` would set up on its first call)
    scales, mapper = _setup_scales(
        levels, [tuple(image_size)], pooler.canonical_scale, pooler.canonical_level
    )
    assigned = mapper([boxes]) if boxes.shape[0] else boxes.new_zeros(0, dtype=torch.int64)
    jobs = []
    for index, (level, scale) in enumerate(zip(levels, scales, strict=True)):
        chosen = torch.where(assigned == index)[0]
        hwc = level[0].permute(1, 2, 0).float().numpy()  # a view when the level is channels_last float32
        chunks = chosen.tensor_split(max(1, min(workers, chosen.numel() // 32)))
        jobs += [(hwc, chunk, scale) for chunk in chunks if chunk.numel()]

    def run(job):
        hwc, chunk, scale = job
        _pool_level(hwc, boxes[chunk], scale, pooler.sampling_ratio, out, chunk.tolist())

    if executor is None or len(jobs) < 2:
        for job in jobs:
            run(job)
    else:
        list(executor.map(run, jobs))
    return torch.from_numpy(out).permute(0, 3, 2, 1)


def _pool_level(
    features: np.ndarray,
    boxes: torch.Tensor,
    scale: float,
    sampling_ratio: int,
    out: np.ndarray,
    rows_of_out: Sequence[int],
) -> None:
    """Pool each box from one (H, W, C) level into its row of `out` (K, w, h, C).

    Per box: the crop weighted along its rows (one GEMM), then along its columns (another). The loop
    runs in NumPy, whose per-call overhead is a fraction of torch's for GEMMs this small.
    """
    width, height = out.shape[1], out.shape[2]
    boxes = boxes.float() * scale
    rows, row_start = _axis_weights(boxes[:, 1], boxes[:, 3], height, sampling_ratio, features.shape[0])
    cols, col_start = _axis_weights(boxes[:, 0], boxes[:, 2], width, sampling_ratio, features.shape[1])
    for k, ay, r0, ax, c0 in zip(
        rows_of_out, rows, row_start.tolist(), cols, col_start.tolist(), strict=True
    ):
        span_rows, span_cols = ay.shape[1], ax.shape[1]
        crop = features[r0 : r0 + span_rows, c0 : c0 + span_cols].reshape(span_rows, -1)  # (R, S * C), a view
        along_rows = (ay @ crop).reshape(height, span_cols, -1)  # (h, S, C)
        np.matmul(ax, along_rows.transpose(1, 0, 2).reshape(span_cols, -1), out=out[k].reshape(width, -1))


def _axis_weights(
    start: torch.Tensor, end: torch.Tensor, bins: int, grid: int, size: int
) -> tuple[list[np.ndarray], torch.Tensor]:
    """Per box, the (bins, span) matrix of summed sample weights along one axis, and the span's first index.

    The sample positions and the bilinear weights are those of torchvision's CPU kernel for
    aligned=False; the 1/grid factor per axis makes the product the kernel's 1/count average.
    """
    extent = torch.clamp(end - start, min=1.0)
    bin_size = extent / bins
    cell = torch.arange(bins, dtype=torch.float32)
    step = (torch.arange(grid, dtype=torch.float32) + 0.5)[None, None, :]
    # the kernel's `roi_start + p * bin_size + (i + .5) * bin_size / grid`, in float32
    bin_start = start[:, None] + cell[None, :] * bin_size[:, None]
    pos = bin_start[:, :, None] + step * bin_size[:, None, None] / grid  # (boxes, bins, grid)
    valid = (pos >= -1.0) & (pos <= size)
    pos = pos.clamp(min=0.0)
    low = pos.to(torch.int64)
    last = low >= size - 1
    low = torch.where(last, size - 1, low)
    high = torch.where(last, low, low + 1)
    frac = torch.where(last, 0.0, pos - low.to(torch.float32))
    weight = valid.to(torch.float32) / grid
    first = torch.where(valid, low, size).amin(dim=(1, 2)).clamp(max=size - 1)
    last_index = torch.where(valid, high, -1).amax(dim=(1, 2)).clamp(min=first)
    span = int((last_index - first).max()) + 1
    matrix = torch.zeros((start.shape[0], bins, span), dtype=torch.float32)
    flat = matrix.view(start.shape[0], bins * span)
    row_of_bin = (torch.arange(bins) * span)[None, :, None]  # where each bin's row starts in `flat`
    low_at = (low - first[:, None, None]).clamp(0, span - 1) + row_of_bin
    high_at = (high - first[:, None, None]).clamp(0, span - 1) + row_of_bin
    flat.scatter_add_(1, low_at.flatten(1), ((1.0 - frac) * weight).flatten(1))
    flat.scatter_add_(1, high_at.flatten(1), (frac * weight).flatten(1))
    lengths = (last_index - first + 1).tolist()
    matrix = matrix.numpy()
    return [m[:, :n] for m, n in zip(matrix, lengths, strict=True)], first
