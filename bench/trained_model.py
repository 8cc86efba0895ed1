"""A TRAINED Mask R-CNN for benchmarks, from nothing: no download, synthetic shapes, a CPU and minutes.

Why: `bench/prelabel.py` must say whether a lossy speed option (bf16, fewer proposals) changes what a
user gets, but the only offline model is a random one, and a random Mask R-CNN is chaotic (uncalibrated
BatchNorm, near-tied scores, many confident junk candidates): even weights perturbed by 1e-4 change a
fifth of its detections. A model trained on a real task, however small, has separated scores and stable
boxes, as COCO weights do. This script trains torchvision's `maskrcnn_resnet50_fpn` from random init
(`annotator.inference.models.build_model`) on synthetic images made on the fly (`synthetic_image`:
filled ellipses, rectangles and triangles in random colours on a noisy, cluttered background, with
exact instance masks), and saves it in our checkpoint format (`save_checkpoint`, with its categories).

Run: `.venv/bin/python bench/trained_model.py --out /tmp/trained/shapes.pt [--minutes 18]`
then `.venv/bin/python bench/prelabel.py --weights /tmp/trained/shapes.pt --synthetic`. `--init FILE`
trains on from a checkpoint: the model measured in prelabel.py's docstring had 25 minutes (1 thread,
376 steps, last losses about 1.6) then 11 more (`--init`, `--lr 1.5e-4`, 2 threads, 285 steps, about
1.3); from scratch on a CPU it is still weak (held-out precision 0.49, recall 0.56, median score 0.64).
Training runs under bf16 autocast on CPUs with native bf16 (about 2x faster there); it prints the losses
every few steps and ends with precision and recall on held-out 1920x1080 images (fp32 predictor,
score >= 0.5, a match is the same class at mask IoU >= 0.5).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from annotator.core.geometry import mask_iou
from annotator.core.model import Category
from annotator.core.predictor import Precision, PredictOptions
from annotator.inference.models import build_model, load_checkpoint, save_checkpoint
from annotator.inference.predictor import TorchPredictor, configure_threads, cpu_has_native_bf16

ARCHITECTURE = "maskrcnn_resnet50_fpn"
CATEGORIES = (Category(1, "ellipse"), Category(2, "rectangle"), Category(3, "triangle"))
SIZE_RANGE = (0.04, 0.16)  # object diameter, as a fraction of `scale` (default: the image's short side)
HELD_OUT_SEED = 1_000_000  # held-out image i uses seed HELD_OUT_SEED + i; training uses --seed


def synthetic_image(
    rng: np.random.Generator,
    width: int,
    height: int,
    *,
    count: int | None = None,
    scale: float | None = None,
) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """An (height, width, 3) uint8 RGB image and its instances [(category id, bool mask)], in paint order.

    `count` objects (default 5-30) of diameter SIZE_RANGE * `scale` (default: the short side) are painted
    in turn, so later ones may hide earlier ones: the masks are the visible pixels, and an object less
    than half visible (or under 30 pixels) is left out of the instances, though it stays in the image.
    The background is a smooth random colour field with noise and thin lines of random colour (clutter
    that is not an object).
    """
    scale = float(min(width, height) if scale is None else scale)
    count = int(rng.integers(5, 31)) if count is None else count
    cell = scale * rng.uniform(0.1, 0.3)  # size of the background's colour blobs
    field_shape = (max(round(height / cell), 2), max(round(width / cell), 2), 3)
    field = rng.integers(0, 256, field_shape, dtype=np.uint8)
    image = cv2.resize(field, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(3, 12))):
        start = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        thickness = max(1, round(scale * rng.uniform(0.002, 0.008)))
        cv2.line(image, start, end, _colour(rng), thickness, cv2.LINE_AA)
    owner = np.zeros((height, width), dtype=np.int32)  # 1 + index of the object painted last, 0: none
    drawn_area, labels = [], []
    for index in range(count):
        label = int(rng.integers(1, len(CATEGORIES) + 1))
        shape = np.zeros((height, width), dtype=np.uint8)
        _paint_shape(shape, label, rng, width, height, scale)
        inside = shape.astype(bool)
        if not inside.any():
            continue
        colour = _contrasting_colour(rng, image[inside].mean(axis=0))
        image[inside] = colour
        owner[inside] = index + 1
        drawn_area.append((index + 1, int(inside.sum())))
        labels.append(label)
    image = cv2.GaussianBlur(image, (3, 3), 0)  # soft edges, as a camera gives
    noise = rng.normal(0.0, rng.uniform(4, 14), image.shape)
    image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    instances = []
    for (key, area), label in zip(drawn_area, labels, strict=True):
        mask = owner == key
        visible = int(mask.sum())
        if visible >= 30 and visible >= 0.5 * area:
            instances.append((label, mask))
    return image, instances


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _contrasting_colour(rng: np.random.Generator, around: np.ndarray) -> tuple[int, int, int]:
    """A random colour at least 80 away (RGB distance) from the mean colour it is painted over."""
    for _ in range(20):
        colour = _colour(rng)
        if np.linalg.norm(np.asarray(colour, dtype=np.float64) - around) >= 80:
            break
    return colour


def _paint_shape(
    canvas: np.ndarray, label: int, rng: np.random.Generator, width: int, height: int, scale: float
) -> None:
    diameter = scale * rng.uniform(*SIZE_RANGE)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    angle = rng.uniform(0, 360)
    if label == 1:  # ellipse: aspect 0.5-1
        axes = (max(1, round(diameter / 2)), max(1, round(diameter / 2 * rng.uniform(0.5, 1.0))))
        cv2.ellipse(canvas, (round(cx), round(cy)), axes, angle, 0, 360, 1, -1, cv2.LINE_8)
    elif label == 2:  # rectangle: aspect 0.4-1, any rotation
        box = ((cx, cy), (diameter, diameter * rng.uniform(0.4, 1.0)), angle)
        cv2.fillPoly(canvas, [np.round(cv2.boxPoints(box)).astype(np.int32)], 1, cv2.LINE_8)
    else:  # triangle: three corners about 120 degrees apart (+-25)
        corners = np.deg2rad(angle + np.array([0, 120, 240]) + rng.uniform(-25, 25, 3))
        radius = diameter / 2 * rng.uniform(0.8, 1.0, 3)
        points = np.stack([cx + radius * np.cos(corners), cy + radius * np.sin(corners)], axis=1)
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 1, cv2.LINE_8)


def training_sample(
    rng: np.random.Generator, width: int, height: int, scale: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One image tensor and its torchvision target (boxes, labels, masks), at least one instance."""
    while True:
        count = int(rng.integers(4, 15))
        image, instances = synthetic_image(rng, width, height, count=count, scale=scale)
        if instances:
            break
    masks = np.stack([mask for _label, mask in instances])
    boxes = []
    for mask in masks:
        ys, xs = np.nonzero(mask)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    target = {
        "boxes": torch.tensor(boxes, dtype=torch.float32),
        "labels": torch.tensor([label for label, _mask in instances], dtype=torch.int64),
        "masks": torch.from_numpy(masks.astype(np.uint8)),
    }
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(255), target


def train(args: argparse.Namespace) -> torch.nn.Module:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    if args.init:  # continue training a checkpoint of this script
        model = load_checkpoint(args.init).model
    else:
        model = build_model(ARCHITECTURE, num_classes=len(CATEGORIES) + 1)
    width, height = (int(v) for v in args.train_size.lower().split("x"))
    model.transform.min_size, model.transform.max_size = (min(width, height),), max(width, height)
    model.roi_heads.fg_bg_sampler.batch_size_per_image = 128  # not 512: the box head is a third of the cost
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    bf16 = cpu_has_native_bf16() and not args.fp32
    budget = args.minutes * 60
    start = time.perf_counter()
    step, running = 0, {}
    print(f"training {ARCHITECTURE} at {width}x{height}, batch {args.batch}, bf16 autocast: {bf16}")
    while (elapsed := time.perf_counter() - start) < budget:
        # linear warm-up, then cosine decay to 2% over the time budget
        progress = elapsed / budget
        factor = min(1.0, (step + 1) / args.warmup) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = args.lr * factor
        # object scale as in the benchmark's network input (1080 -> 800 pixels), +-30%
        batch = [
            training_sample(rng, width, height, scale=800 * rng.uniform(0.7, 1.3)) for _ in range(args.batch)
        ]
        images, targets = zip(*batch, strict=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            losses = model(list(images), list(targets))
        loss = sum(v.float() for v in losses.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()
        step += 1
        for key, value in losses.items():
            running[key] = running.get(key, 0.0) + value.item()
        if step % args.log_every == 0:
            parts = "  ".join(
                f"{k.removeprefix('loss_')} {v / args.log_every:.3f}" for k, v in running.items()
            )
            total = sum(running.values()) / args.log_every
            print(
                f"step {step:5d}  {elapsed / 60:5.1f} min  lr {args.lr * factor:.2e}  loss {total:.3f}  ({parts})"
            )
            sys.stdout.flush()
            running = {}
    print(f"{step} steps in {(time.perf_counter() - start) / 60:.1f} min")
    return model.eval()


def evaluate(path: Path, images: int, size: str, threshold: float) -> None:
    """Precision and recall at `threshold` on held-out images: same class and mask IoU >= 0.5 is a hit."""
    width, height = (int(v) for v in size.lower().split("x"))
    predictor = TorchPredictor(load_checkpoint(path), precision=Precision.FP32)
    options = PredictOptions(score_threshold=threshold)
    hits = n_true = n_found = 0
    scores = []
    for i in range(images):
        image, instances = synthetic_image(np.random.default_rng(HELD_OUT_SEED + i), width, height)
        detections = predictor.predict(image, options)
        used: set[int] = set()
        for det in detections:
            mask = det.mask.to_array().astype(bool)
            best, best_iou = None, 0.5
            for j, (label, truth) in enumerate(instances):
                if j not in used and label == det.category_id and (iou := mask_iou(mask, truth)) >= best_iou:
                    best, best_iou = j, iou
            if best is not None:
                used.add(best)
                hits += 1
        n_true, n_found = n_true + len(instances), n_found + len(detections)
        scores += [d.score for d in detections]
    print(
        f"held-out {images} images {width}x{height}, score >= {threshold}: {n_found} detections, "
        f"{n_true} objects, precision {hits / max(n_found, 1):.2f}, recall {hits / max(n_true, 1):.2f}, "
        f"median score {np.median(scores) if scores else float('nan'):.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    parser.add_argument("--minutes", type=float, default=18.0, help="training time budget")
    parser.add_argument("--train-size", default="512x384", help="training image size WxH")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-4, help="AdamW peak learning rate")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, help="start from this checkpoint (of this script) to train on")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast even on native-bf16 CPUs")
    parser.add_argument("--threads", type=int, help="torch threads (default: every core)")
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--eval-images", type=int, default=4, help="held-out images (0: no evaluation)")
    parser.add_argument("--eval-size", default="1920x1080")
    parser.add_argument("--eval-only", action="store_true", help="only evaluate the checkpoint --out")
    args = parser.parse_args(argv)
    if args.threads is None:
        configure_threads()
    else:
        torch.set_num_threads(args.threads)
    if not args.eval_only:
        model = train(args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(args.out, model, architecture=ARCHITECTURE, categories=CATEGORIES)
        print(f"saved {args.out}")
    if args.eval_images:
        evaluate(args.out, args.eval_images, args.eval_size, 0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
