"""Pre-labelling on a local Ray instance against the in-process predictor, on the same images, in one process.

Both run `TorchPredictor` with the same checkpoint (torchvision's Mask R-CNN R50-FPN, random weights from
a fixed seed, 91 classes: up to 100 detections per image, a realistic load for the mask stage), options
and images (the COCO photos of `shared/testdata/isat_coco_tiny`, resized to `--size`, written as PNGs):
- in-process: `prelabel_images` over the files, as `annotator prelabel` runs them;
- Ray: `prelabel_on_ray` on a local Ray instance with this machine's CPUs and the default pool (or
  `--workers N`), as `annotator prelabel --engine ray` runs them (each run makes a new actor pool).
The two take turns `--repeat` times, so both see the same load on a shared machine.

Printed: images/s of each, and Ray's as a ratio to the in-process run, both steady (from the first
result to the last: what a long run sees) and whole (with Ray's start, the actors' model load and the
first images); the images whose detections are identical in both runs; per-worker images/s. On one
machine Ray cannot be faster than the in-process run (it runs the same predictor on the same cores, plus
its own processes); the ratio is its overhead, and per-worker throughput is what a cluster multiplies.

Run: `.venv/bin/python bench/prelabel_ray.py [--images 8] [--size 1280x720] [--workers N]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

from annotator.core.predictor import Device, ModelSpec, PredictOptions
from annotator.inference.allocator import keep_freed_memory
from annotator.inference.batch import prelabel_images
from annotator.inference.models import build_model, coco_categories, save_checkpoint
from annotator.inference.predictor import TorchPredictor, configure_threads
from annotator.inference.ray_engine import RayOptions, prelabel_on_ray
from prelabel import bench_images  # the same photos as bench/prelabel.py


def write_inputs(folder: Path, count: int, width: int, height: int) -> tuple[Path, list[Path]]:
    torch.manual_seed(0)
    weights = folder / "random_coco.pt"
    save_checkpoint(weights, build_model("maskrcnn_resnet50_fpn"), architecture="maskrcnn_resnet50_fpn",
                    categories=coco_categories())  # fmt: skip
    paths = []
    for index, image in enumerate(bench_images(count, width, height)):
        path = folder / f"image_{index:03d}.png"
        cv2.imwrite(str(path), image[:, :, ::-1])
        paths.append(path)
    return weights, paths


def timed_results(results) -> tuple[dict, list[float]]:
    """(detections by file name, seconds from the start at which each result arrived)."""
    started = time.perf_counter()
    found, arrivals = {}, []
    for result in results:
        arrivals.append(time.perf_counter() - started)
        found[result.path.name] = [(d.category_id, d.score, d.box, d.mask.rle) for d in result.detections]
    return found, arrivals


def steady_rate(arrivals: list[float]) -> float:
    """Images/s after the first results (which came back together, after the start-up) to the last."""
    first_batch = sum(1 for t in arrivals if t <= arrivals[0] + 0.05)
    span = arrivals[-1] - arrivals[0]
    return (len(arrivals) - first_batch) / span if span > 0 else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--workers", type=int, help="Ray actors (default: the pool `annotator` picks)")
    parser.add_argument("--repeat", type=int, default=2, help="in-process and Ray runs, taken in turns")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    options = PredictOptions.with_max_size(max(width, height))
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    configure_threads()
    keep_freed_memory()  # as `annotator prelabel` and each actor do
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        weights, paths = write_inputs(Path(folder), args.images, width, height)
        spec = ModelSpec(weights=weights, device=Device.CPU)
        predictor = TorchPredictor.from_spec(spec)
        next(iter(prelabel_images(predictor, paths[:1], options)))  # warm up, as an actor's first image does
        for _ in range(args.repeat):
            local, local_arrivals = timed_results(prelabel_images(predictor, paths, options))
            plans = []
            remote, arrivals = timed_results(
                prelabel_on_ray(paths, options, spec=spec, ray_options=RayOptions(workers=args.workers),
                                on_plan=plans.append)
            )  # fmt: skip
            same = sum(1 for name in local if remote.get(name) == local[name])
            rows.append((len(paths) / local_arrivals[-1], steady_rate(arrivals), len(paths) / arrivals[-1],
                         arrivals[0], same, plans[0]))  # fmt: skip
    ray.shutdown()
    plan = rows[0][-1]
    print(
        f"{len(paths)} images {width}x{height}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads in-process"
    )
    print(
        f"Ray pool: {plan.workers} worker(s), {plan.cpus_per_worker:g} CPU each, {plan.threads} torch threads each"
    )
    for local_rate, steady, whole, first, same, _ in rows:
        print(f"in-process {local_rate:.3f} images/s; Ray steady {steady:.3f} images/s = "
              f"{steady / local_rate:.2f}x ({steady / plan.workers:.3f} per worker), whole {whole:.3f} = "
              f"{whole / local_rate:.2f}x (first results after {first:.1f} s); identical {same}/{len(paths)}")  # fmt: skip
    ratios = [steady / local_rate for local_rate, steady, *_ in rows]
    print(f"Ray steady / in-process: {min(ratios):.2f}-{max(ratios):.2f}x over {len(rows)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
