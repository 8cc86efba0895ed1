"""Label next: does `annotator rank`'s order teach the model more per labelled image than random order?

A pool of synthetic images (`textured_shapes.py`) built as real footage is: scenes seen in several
near-identical frames (shifted a few pixels, fresh sensor noise), and scenes with few or many objects.
Both strategies start from the same random images, train (`annotator train`'s engine, from the previous
round's model), then add `--step` images per round: chosen by `core.ranking` (uncertainty from the
current model's predictions on the pool, k-center on the colour/texture descriptor, the labelled images
as anchors), or at random. After each round the model is scored on held-out images (mask AP50,
COCOeval). Printed per seed: both AP curves; then how many images the ranked order needed to reach the
random order's final AP, as a fraction of random's count. Target (issue 16): at most 60%.

    PYTHONPATH=src:bench .venv/bin/python bench/active_learning.py [--seeds 3] [--first-seed 0] [--rounds 4]
        [--start 12] [--step 12] [--minutes 3] [--work DIR] [--strategies random,ranked]
        [--embedding descriptor|fpn] [--aggregate any|sum] [--training cumulative|equal]

A round whose model is already in `--work` (an earlier run's, same arguments) is not trained again.

`--minutes` is each round's training budget in CPU minutes per core (`--clock cpu` of bench/train.py),
so other work on shared cores does not change what a round learns.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from annotator.inference.openmp import prefer_sleeping_threads

prefer_sleeping_threads()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from annotator.core.geometry import Mask  # noqa: E402
from annotator.core.image_descriptor import image_descriptor  # noqa: E402
from annotator.core.model import Dataset, Image, Instance, Review  # noqa: E402
from annotator.core.predictor import Device, ModelSpec, PredictOptions  # noqa: E402
from annotator.core.ranking import AGGREGATES, RankOptions, Uncertainty, rank_images, uncertainty_from_scores  # noqa: E402
from annotator.inference.models import load_checkpoint  # noqa: E402
from annotator.inference.predictor import TorchPredictor, configure_threads  # noqa: E402
from annotator.inference.train_config import TrainConfig  # noqa: E402
from annotator.inference.training import train  # noqa: E402
from annotator.io.coco import save_coco  # noqa: E402
from textured_shapes import CATEGORIES, textured_image, write_set  # noqa: E402
from train import held_out_ap  # noqa: E402

FRAMES = (1, 2, 3, 4)  # near-identical frames per scene, drawn at random


def make_pool(folder: Path, scenes: int, seed: int) -> tuple[list[tuple[str, list]], np.ndarray]:
    """Write the pool's images; [(file name, [(category id, mask)])] and each image's descriptor."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items, descriptors = [], []
    for scene in range(scenes):
        image, objects = textured_image(rng, count=int(rng.choice((2, 4, 8, 12))))
        for frame in range(int(rng.choice(FRAMES))):
            dx, dy = (int(v) for v in rng.integers(-4, 5, 2))
            moved = np.roll(image, (dy, dx), axis=(0, 1)).astype(np.float32)
            moved = np.clip(moved + rng.normal(0, 4, moved.shape), 0, 255).astype(np.uint8)
            name = f"scene{scene:03d}_{frame}.png"
            cv2.imwrite(str(folder / name), cv2.cvtColor(moved, cv2.COLOR_RGB2BGR))
            labels = [(c, np.roll(m, (dy, dx), axis=(0, 1))) for c, m in objects]
            items.append((name, labels))
            descriptors.append(image_descriptor(moved))
    return items, np.stack(descriptors)


def write_subset(folder: Path, items: list, chosen: list[int], path: Path) -> Path:
    dataset = Dataset()
    dataset.put_categories(CATEGORIES, notify=False)
    instances = []
    for image_id in chosen:
        name, labels = items[image_id]
        height, width = labels[0][1].shape if labels else (288, 384)
        dataset.put_images([Image(image_id + 1, name, width, height)], notify=False)
        for category_id, mask in labels:
            geometry = Mask.from_array(mask.astype(np.uint8))
            instances.append(
                Instance(len(instances) + 1, image_id + 1, category_id, geometry, review=Review.ACCEPTED)
            )
    dataset.put_instances(instances, notify=False)
    save_coco(dataset, path, rle=True)
    return path


def train_round(data: Path, images: Path, out: Path, start: Path | None, minutes: float, seed: int) -> Path:
    """A round's model; one a run in the same `--work` folder already trained is reused, so a run stopped
    part way resumes, and one with more `--rounds` extends the last (picks follow from the same models)."""
    if out.is_file():
        return out
    threads = torch.get_num_threads()
    config = TrainConfig(
        data=data,
        images_root=images,
        out=out,
        minutes=minutes,
        val_split=0.0,
        seed=seed,
        weights=None if start is None else str(start),
    )
    train(config, clock=lambda: time.process_time() / threads)
    return out


def ranked_picks(model: Path, folder: Path, items: list, labelled: list[int], descriptors, args) -> list[int]:
    """The next `args.step` images by `core.ranking`, from the model's predictions on the rest of the pool
    and on the labelled images (`--embedding fpn`: their pooled features), or the images' descriptors."""
    predictor = TorchPredictor.from_spec(ModelSpec(weights=model, device=Device.CPU))
    options = PredictOptions(score_threshold=0.05, min_size=288, max_size=384)
    rest = [i for i in range(len(items)) if i not in set(labelled)]
    index, scores, vectors = [], [], {}
    for image_id in rest + (labelled if args.embedding == "fpn" else []):
        rgb = cv2.cvtColor(cv2.imread(str(folder / items[image_id][0])), cv2.COLOR_BGR2RGB)
        detections, vectors[image_id] = predictor.predict_and_embed(rgb, options)
        if image_id in labelled:
            continue
        for detection in detections:
            index.append(rest.index(image_id))
            scores.append(detection.score)
    if args.embedding == "descriptor":
        vectors = descriptors
    rank_options = RankOptions(aggregate=args.aggregate)
    values, near = uncertainty_from_scores(
        np.array(index, np.int64), np.array(scores), np.full(len(scores), np.nan), len(rest), rank_options
    )
    uncertainty = Uncertainty(np.array(rest, np.int64), values, near)
    ranking = rank_images(
        uncertainty,
        {i: vectors[i] for i in rest},
        labelled={i: vectors[i] for i in labelled},
        options=rank_options,
    )
    return list(ranking.image_ids[: args.step])


def start_model(args, work: Path, items: list, labelled: list[int], seed: int) -> Path:
    """Round 0's model for `--training equal`: trained once per seed on the first images, shared by both
    orders (a file another process of the same seed made is reused)."""
    path = work / f"start_s{seed}.pt"
    if not path.is_file():
        data = write_subset(work / "pool", items, labelled, work / f"start_s{seed}.json")
        partial = train_round(
            data, work / "pool", work / f"start_s{seed}.{os.getpid()}.pt", None, args.minutes, seed
        )
        partial.replace(path)
    return path


def run_strategy(name, args, work, items, descriptors, heldout, seed) -> list[tuple[int, float]]:
    """One order's AP curve. `--training cumulative`: each round trains on from the previous round's model,
    so a point further along has also had more training. `equal`: each round trains from round 0's model for
    the same `--minutes`, so every point of both curves has had the same training and differs only by the
    images it learnt from."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(items)).tolist()
    labelled = order[: args.start]
    model, curve = None, []
    first = start_model(args, work, items, labelled, seed) if args.training == "equal" else None
    for round_ in range(args.rounds + 1):
        data = write_subset(work / "pool", items, labelled, work / f"{name}_s{seed}_r{round_}.json")
        if first is None:
            model = train_round(
                data, work / "pool", work / f"{name}_s{seed}_r{round_}.pt", model, args.minutes, seed
            )
        elif round_ == 0:
            model = first
        else:
            model = train_round(
                data, work / "pool", work / f"{name}_s{seed}_r{round_}.pt", first, args.minutes, seed
            )
        ap50 = held_out_ap(load_checkpoint(model).model, heldout)[1]
        curve.append((len(labelled), ap50))
        print(
            f"  {name} seed {seed} round {round_}: {len(labelled)} images, held-out AP50 {ap50:.3f}",
            flush=True,
        )
        if round_ == args.rounds:
            break
        if name == "random":
            labelled = labelled + [i for i in order if i not in set(labelled)][: args.step]
        else:
            labelled = labelled + ranked_picks(model, work / "pool", items, labelled, descriptors, args)
    return curve


def images_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """Images the curve needs to reach `target` AP50, interpolated linearly; None if it never does."""
    previous = None
    for count, ap in curve:
        if ap >= target:
            if previous is None or previous[1] >= ap:
                return float(count)
            (c0, a0) = previous
            return c0 + (count - c0) * (target - a0) / (ap - a0)
        previous = (count, ap)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="run seeds FIRST.. (split the seeds over processes)"
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--start", type=int, default=12)
    parser.add_argument("--step", type=int, default=12)
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget per round (CPU minutes)")
    parser.add_argument("--work", type=Path)
    parser.add_argument(
        "--training", choices=("cumulative", "equal"), default="cumulative",
        help="each round trains on from the last round's model (cumulative), or from round 0's for the same minutes (equal)",
    )  # fmt: skip
    parser.add_argument(
        "--strategies", default="random,ranked", help="which orders to run (random's curve is the yardstick)"
    )
    parser.add_argument(
        "--embedding", choices=("descriptor", "fpn"), default="descriptor",
        help="ranked order's diversity: the colour/texture descriptor, or the round's model's pooled FPN features",
    )  # fmt: skip
    parser.add_argument(
        "--aggregate", choices=AGGREGATES, default=RankOptions().aggregate,
        help="an image's uncertainty from its predictions' doubts (core.ranking)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    configure_threads()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-al-"))
    items, descriptors = make_pool(work / "pool", args.scenes, seed=10)
    heldout = work / "heldout" / "annotations.json"
    if not heldout.is_file():
        write_set(heldout.parent, 40, seed=11)
    print(f"pool {len(items)} images from {args.scenes} scenes; load {os.getloadavg()[0]:.1f}; work {work}")
    fractions = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        curves = {
            name: run_strategy(name, args, work, items, descriptors, heldout, seed)
            for name in args.strategies.split(",")
        }
        if set(curves) != {"random", "ranked"}:
            continue
        final = curves["random"][-1]
        needed = images_to_reach(curves["ranked"], final[1])
        fraction = None if needed is None else needed / final[0]
        fractions.append(fraction)
        shown = "never" if fraction is None else f"{needed:.0f} images, {fraction:.0%} of random's {final[0]}"
        print(f"seed {seed}: random reaches AP50 {final[1]:.3f} with {final[0]} images; ranked: {shown}")
    if not fractions:  # one strategy alone: its curve is the result
        return 0
    reached = [f for f in fractions if f is not None]
    verdict = "yes" if len(reached) == len(fractions) and max(reached) <= 0.6 else "no"
    print(f"ranked order reaches random's final AP with <= 60% of its images in every seed: {verdict} "
          f"(fractions {', '.join('never' if f is None else f'{f:.2f}' for f in fractions)}); "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
