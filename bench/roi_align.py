"""RoIAlign speed: ours on the channels_last pyramid against torchvision's, at the sizes of a 1920x1080 image.

`inference.roi_align.multiscale_roi_align` reads the channels_last pyramid as it is; torchvision's
`MultiScaleRoIAlign` needs it in NCHW first (the copy is timed with it). Both pool the same 1000
proposals with the same thread pool (one chunk of boxes per core); the largest difference is printed
too. Random features: the speed does not depend on the values.
Run: `.venv/bin/python bench/roi_align.py [--repeat 5]`.
"""

from __future__ import annotations

import argparse
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import torch
from torchvision.ops import MultiScaleRoIAlign

from annotator.inference.predictor import configure_threads
from annotator.inference.roi_align import multiscale_roi_align

IMAGE = (750, 1333)  # a 1920x1080 image after the model's resize (padded to 768x1344 for the backbone)


def best_of(call, repeat: int) -> float:
    call()  # warm-up: oneDNN primitives, thread pools
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def roi_align_case(repeat: int, threads: int) -> None:
    generator = torch.Generator().manual_seed(0)
    pyramid = OrderedDict(
        (
            name,
            torch.randn(1, 256, 192 >> i, 336 >> i, generator=generator).contiguous(
                memory_format=torch.channels_last
            ),
        )
        for i, name in enumerate("0123")
    )
    corners = torch.rand(1000, 2, generator=generator) * torch.tensor([IMAGE[1], IMAGE[0]])
    boxes = torch.cat([corners, corners + 8 + torch.rand(1000, 2, generator=generator) * 400], 1)
    pooler = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
    with ThreadPoolExecutor(threads) as executor:

        def torchvision_pooler():
            nchw = OrderedDict((k, v.contiguous()) for k, v in pyramid.items())
            chunks = boxes.tensor_split(threads)
            return torch.cat(list(executor.map(lambda c: pooler(nchw, [c], [IMAGE]), chunks)))

        def ours():
            return multiscale_roi_align(pooler, pyramid, boxes, IMAGE, executor, threads)

        baseline, fast = best_of(torchvision_pooler, repeat), best_of(ours, repeat)
        difference = float((torchvision_pooler() - ours()).abs().max())
    print(
        f"RoIAlign, 1000 proposals: torchvision + NCHW copy {baseline * 1000:.0f} ms, "
        f"ours {fast * 1000:.0f} ms: {baseline / fast:.2f}x; largest difference {difference:.1e}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per variant; the best counts")
    args = parser.parse_args(argv)
    threads = configure_threads()
    roi_align_case(args.repeat, threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
