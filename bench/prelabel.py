"""Pre-labelling speed: `annotator prelabel`'s predictor against the naive loop from torchvision's docs.

Both run in one process, interleaved image by image, on the same images, model, input size and threshold:
- baseline: `model([to_tensor(img)])[0]`, then `masks > 0.5` for detections with score >= threshold;
- ours: `TorchPredictor.predict` (what `annotator prelabel` calls per image), in a few variants.

It prints one table row per input size and scene, with the ratio of the baseline's time to ours, as a
range over `--runs` runs (each run: every image once through each), and the load average before and
after (the machine is shared: only ratios measured side by side mean anything). Scenes:
- `objects`: images with objects, detections kept at `--threshold`;
- `none-kept`: the same images at threshold 1.0, so nothing is kept and ours runs the network alone
  (the naive loop still masks every box above torchvision's 0.05 and filters afterwards, as users do);
- `empty`: images without objects (`--domain shapes|textured`: the background alone), at `--threshold`.
With `--files`, each row is measured once more from JPEG files, decoding included: the naive loop
decodes then runs the model, ours is `inference.batch.prelabel_images`, what `annotator prelabel` runs.

Agreement: each baseline detection is matched one-to-one to a detection of the same class at mask IoU
>= 0.95 (greedy, by baseline score); the default must keep at least 97% (decision 0009).

The model: `--weights FILE` (a checkpoint: one trained by `annotator train`, with `--domain textured`,
or by `bench/trained_model.py`, with `--domain shapes`), else torchvision's R50-FPN with random weights
from a fixed seed on the COCO photos of `shared/testdata/isat_coco_tiny`. A random model cannot judge
agreement: it is chaotic (even weights scaled by 1 + 1e-4 N(0, 1), the `control` variant, lose a fifth
of its detections); a trained one can. A model trained by `annotator train` runs at the input size it
learnt at, as `annotator prelabel` runs it.

Run: `.venv/bin/python bench/prelabel.py --weights FILE --domain textured [--sizes 640x480,1920x1080]
[--images 2] [--runs 3] [--scenes objects,none-kept,empty] [--variants default,previous,exact]`.
Both the baseline and ours run with the kept heap of `inference/allocator.py` (`annotator prelabel`
keeps it; the naive loop in its own process would not, and would be slower).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.transforms.functional import to_tensor

from annotator.core.geometry import mask_iou
from annotator.core.predictor import Precision, PredictOptions, Runtime
from annotator.inference.allocator import keep_freed_memory
from annotator.inference.models import (
    LoadedModel,
    build_model,
    coco_categories,
    load_checkpoint,
    trained_input_size,
)
from annotator.inference.predictor import TorchPredictor, configure_threads
from annotator.io.images import list_images, load_rgb
from textured_shapes import textured_image
from trained_model import synthetic_image

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "isat_coco_tiny"
IOU_MATCH = 0.95
SYNTHETIC_SEED = 2_000_000  # `--synthetic` image i: this + --seed * 1000 + i (training and held-out differ)
SIZES = "640x480,1280x960,1920x1080,4000x3000"


def bench_images(
    count: int, width: int, height: int, *, domain: str = "photos", seed: int = 0, empty: bool = False
) -> list[np.ndarray]:
    """`count` images at width x height, from `domain`: the test photos; `shapes`, `trained_model.py`'s
    synthetic shapes drawn at that size; `textured`, `textured_shapes.py`'s scenes drawn at 384x288 (as
    `annotator train`'s benchmark model learnt them) and enlarged. `empty`: the background alone."""
    rngs = [np.random.default_rng(SYNTHETIC_SEED + seed * 1000 + i) for i in range(count)]
    objects = 0 if empty else None
    if domain == "shapes":
        return [synthetic_image(rng, width, height, count=objects)[0] for rng in rngs]
    if domain == "textured":
        scenes = [textured_image(rng, count=objects)[0] for rng in rngs]
        return [cv2.resize(scene, (width, height), interpolation=cv2.INTER_LINEAR) for scene in scenes]
    paths = list_images(TESTDATA)[:count] if TESTDATA.is_dir() else []
    images = [cv2.resize(load_rgb(p), (width, height), interpolation=cv2.INTER_LINEAR) for p in paths]
    rng = np.random.default_rng(0)
    while len(images) < count:  # no test data: smooth random images
        small = rng.integers(0, 256, (height // 40, width // 40, 3), dtype=np.uint8)
        images.append(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC))
    return images


def baseline(loaded: LoadedModel, image: np.ndarray, threshold: float) -> list[tuple[int, float, np.ndarray]]:
    """The naive loop's detections as (category id, score, mask), labels without a category dropped."""
    with torch.no_grad():
        out = loaded.model([to_tensor(image)])[0]
    declared = {c.id for c in loaded.categories}
    wanted = torch.tensor([label for label, cid in enumerate(loaded.label_to_category) if cid in declared])
    keep = (out["scores"] >= threshold) & torch.isin(out["labels"], wanted)  # never "N/A" labels
    masks = out["masks"][keep] > 0.5
    return [
        (loaded.label_to_category[int(label)], float(score), mask[0].numpy())
        for label, score, mask in zip(out["labels"][keep], out["scores"][keep], masks, strict=True)
    ]


def agreement(base: list[tuple[int, float, np.ndarray]], ours: list) -> tuple[int, int, int]:
    """(matched, baseline count, our count): one-to-one, same class, mask IoU >= 0.95."""
    our_masks = [d.mask.to_array().astype(bool) for d in ours]
    used: set[int] = set()
    for label, _score, mask in sorted(base, key=lambda b: -b[1]):
        best, best_iou = None, IOU_MATCH
        for j, det in enumerate(ours):
            if j in used or det.category_id != label:
                continue
            iou = mask_iou(mask, our_masks[j])
            if iou >= best_iou:
                best, best_iou = j, iou
        if best is not None:
            used.add(best)
    return len(used), len(base), len(ours)


VARIANTS = {  # name: (precision, runtime, winograd stages or None for the precision's choice, noisy weights)
    "default": (Precision.AUTO, Runtime.AUTO, None, False),  # as `annotator prelabel` runs by default
    "torch": (Precision.AUTO, Runtime.TORCH, None, False),  # --runtime torch (the default before 0021)
    "openvino": (Precision.AUTO, Runtime.OPENVINO, None, False),  # body + FPN by OpenVINO, bf16 where native
    "openvino-f32": (Precision.AUTO, "f32", None, False),  # the same, OpenVINO in float32
    "bf16": (Precision.BF16, Runtime.TORCH, None, False),  # --precision bf16: torch, the whole network
    # the default before Winograd; NumPy's one BLAS thread (roi_align.py) is process-wide, so it has it too
    "previous": (Precision.AUTO, Runtime.TORCH, (), False),
    "winograd-body": (Precision.AUTO, Runtime.TORCH, ("body", "fpn", "rpn", "mask"), False),
    "exact": (Precision.FP32, Runtime.TORCH, None, False),  # --precision fp32: torchvision's arithmetic
    "control": (Precision.FP32, Runtime.TORCH, None, True),  # exact, weights x (1 + 1e-4 N(0, 1))
}


def make_predictor(loaded: LoadedModel, variant: str) -> TorchPredictor:
    precision, runtime, winograd, noisy = VARIANTS[variant]
    model = noise_control(loaded.model) if noisy else copy.deepcopy(loaded.model)
    openvino_precision = None
    if runtime == "f32":
        runtime, openvino_precision = Runtime.OPENVINO, "f32"
    return TorchPredictor(
        dataclasses.replace(loaded, model=model),
        precision=precision,
        winograd_stages=winograd,
        runtime=runtime,
        openvino_precision=openvino_precision,
    )


def noise_control(model: torch.nn.Module) -> torch.nn.Module:
    """The model with every weight scaled by (1 + 1e-4 * N(0, 1)): how sensitive it is to any rounding."""
    noisy = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in noisy.parameters():
            parameter.mul_(1 + 1e-4 * torch.randn(parameter.shape, generator=generator))
    return noisy


def measure(loaded, predictors, images, options: PredictOptions, runs: int):
    """Per run, the summed wall and CPU seconds (runs, callers, 2) of the baseline and of each variant,
    interleaved image by image (the callers' order alternates between runs), and each variant's agreement.

    CPU time (both threads) is the steadier figure on a loaded machine: time spent waiting for a core
    is not counted. Wall time is what a person waits for on a quiet one."""
    names = ["baseline", *predictors]
    seconds = np.zeros((runs, len(names), 2))
    tallies = {name: np.zeros(3, dtype=int) for name in predictors}
    bases = {}
    for run in range(runs):
        order = names if run % 2 == 0 else names[::-1]  # run 0 starts with the baseline
        for index, image in enumerate(images):
            for name in order:
                started, cpu = time.perf_counter(), time.process_time()
                if name == "baseline":
                    result = baseline(loaded, image, options.score_threshold)
                else:
                    result = predictors[name].predict(image, options)
                seconds[run, names.index(name)] += (time.perf_counter() - started, time.process_time() - cpu)
                if name == "baseline":
                    bases.setdefault(index, result)
                elif run == 0:
                    tallies[name] += agreement(bases[index], result)
    return seconds, tallies


def measure_files(loaded, predictors, images, options: PredictOptions, runs: int):
    """As `measure`, but from JPEG files, as the command runs: the naive loop decodes each file then runs
    the model; ours is `prelabel_images` (which decodes the next file while the model runs)."""
    from annotator.inference.batch import prelabel_images

    names = ["baseline", *predictors]
    seconds = np.zeros((runs, len(names), 2))
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"{i:03d}.jpg" for i in range(len(images))]
        for path, image in zip(paths, images, strict=True):
            cv2.imwrite(str(path), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        calls = {"baseline": lambda: [baseline(loaded, load_rgb(p), options.score_threshold) for p in paths]}
        for name, predictor in predictors.items():
            calls[name] = lambda predictor=predictor: list(prelabel_images(predictor, paths, options))
        for run in range(runs):
            for name in names if run % 2 == 0 else names[::-1]:
                started, cpu = time.perf_counter(), time.process_time()
                calls[name]()
                seconds[run, names.index(name)] = (time.perf_counter() - started, time.process_time() - cpu)
    return seconds, {name: np.zeros(3, dtype=int) for name in predictors}


def row(label: str, seconds: np.ndarray, names: list[str], tallies, count: int) -> str:
    """Median seconds per image, then per variant: median seconds, wall and CPU ratio ranges, agreement."""
    cells = [f"{label:20s} {np.median(seconds[:, 0, 0]) / count:5.2f} s"]
    for i, name in enumerate(names, start=1):
        wall, cpu = seconds[:, 0, 0] / seconds[:, i, 0], seconds[:, 0, 1] / seconds[:, i, 1]
        matched, n_base, n_ours = tallies[name]
        share = f"{100 * matched / n_base:5.1f}%" if n_base else "    -"
        cells.append(
            f"{np.median(seconds[:, i, 0]) / count:5.2f} s {wall.min():4.1f}-{wall.max():4.1f}x "
            f"{cpu.min():4.1f}-{cpu.max():4.1f}x {share} {matched:3d}/{n_base:3d}/{n_ours:3d}"
        )
    return " | ".join(cells)


def load(args: argparse.Namespace) -> LoadedModel:
    if args.weights:
        return load_checkpoint(args.weights)
    architecture = "maskrcnn_resnet50_fpn"
    torch.manual_seed(args.seed)
    return LoadedModel(build_model(architecture), architecture, tuple(range(91)), coco_categories(), "random")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=SIZES, help=f"comma-separated WxH (default {SIZES})")
    parser.add_argument("--images", type=int, default=2, help="images per size and scene")
    parser.add_argument("--runs", type=int, default=3, help="passes over the images; ratios are per pass")
    parser.add_argument("--scenes", default="objects,none-kept,empty")
    parser.add_argument("--variants", default="default,torch", help=",".join(VARIANTS))
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument(
        "--files", action="store_true", help="also from JPEG files, decoding included (as the command runs)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch threads (default: every core)")
    parser.add_argument("--weights", type=Path, help="a checkpoint to measure instead of random weights")
    parser.add_argument(
        "--domain", default="photos", choices=("photos", "shapes", "textured"), help="see bench_images"
    )
    args = parser.parse_args(argv)
    threads = configure_threads() if args.threads is None else args.threads
    torch.set_num_threads(threads)
    keep_freed_memory()
    loaded = load(args)
    variants = args.variants.split(",")
    predictors = {name: make_predictor(loaded, name) for name in variants}
    options = PredictOptions(score_threshold=args.threshold, min_mask_area=0)  # every detection, as the loop
    if (trained := trained_input_size(loaded)) is not None:  # as `annotator prelabel` runs such a model
        options = dataclasses.replace(options, min_size=trained[0], max_size=trained[1])
    loaded.model.transform.min_size, loaded.model.transform.max_size = (options.min_size,), options.max_size
    default = predictors.get("default") or next(iter(predictors.values()))
    print(
        f"{loaded.source} ({loaded.architecture}), input {options.min_size}/{options.max_size}, {threads} threads"
    )
    print(
        f"default: {default.info.precision}; load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f}"
    )
    print("per variant: s/image (wall), ratio to the naive loop in wall and in CPU time (min-max over runs),")
    print("detections matched at mask IoU 0.95: %, matched/naive's/ours")
    header = " | ".join(f"{name:41s}" for name in variants)
    print(f"{'size, scene':20s} {'naive':>7s} | {header}")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.lower().split("x"))
        for scene in args.scenes.split(","):
            if scene == "empty" and args.domain == "photos":
                continue
            images = bench_images(
                args.images, width, height, domain=args.domain, seed=args.seed, empty=scene == "empty"
            )
            scene_options = (
                dataclasses.replace(options, score_threshold=1.0) if scene == "none-kept" else options
            )
            baseline(loaded, images[0], scene_options.score_threshold)  # warm-up at this size
            for predictor in predictors.values():
                predictor.predict(images[0], scene_options)
            seconds, tallies = measure(loaded, predictors, images, scene_options, args.runs)
            print(row(f"{size} {scene}", seconds, variants, tallies, len(images)), flush=True)
            if args.files:
                seconds, tallies = measure_files(loaded, predictors, images, scene_options, args.runs)
                print(row(f"{size} {scene} jpg", seconds, variants, tallies, len(images)), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
