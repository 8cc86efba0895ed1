"""Benchmark: rank 100,000 images to label next (`annotator rank`) from stored predictions, embeddings given.

The dataset: 100,000 images of 500 scenes (near-identical frames: embeddings of 64 numbers drawn around
500 centres); 2,000 images of the first 100 scenes are done (the labelled set); 80% of the others are
pre-labelled with 0-8 unreviewed predictions each (scores spread around the 0.5 threshold), the rest
never. Printed: the time to read the uncertainty from the dataset and to rank, against the baseline of
sorting the images by their closest-to-threshold score in plain Python (same process, the machine is
noisy); and, of the first 100 images, how many fall in scenes already labelled and how many distinct
new scenes they cover, with the ranking and with uncertainty alone. Goal (issue 16): < 5 s.

    .venv/bin/python bench/rank.py [--images 100000] [--dims 64] [--picks 500]
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np

SCENES = 500
LABELLED_SCENES = 100


def make_dataset(images: int, seed: int = 0):
    """A Dataset with predictions, and the scene of each image."""
    from annotator.core.geometry import Polygons
    from annotator.core.model import Dataset, Image, ImageStatus, Instance, Review, Source

    rng = np.random.default_rng(seed)
    dataset = Dataset()
    scene = rng.integers(0, SCENES, images)
    roll = rng.random(images)
    labelled = np.flatnonzero(scene < LABELLED_SCENES)[: images // 50]
    status = np.where(roll < 0.8, 1, 0)
    status[labelled] = 2
    states = (ImageStatus.NEW, ImageStatus.PRELABELED, ImageStatus.DONE)
    dataset.put_images(
        [Image(i + 1, f"{i:06d}.jpg", 640, 480, states[s]) for i, s in enumerate(status.tolist())],
        notify=False,
    )
    square = Polygons((np.array([[10.0, 10.0], [50.0, 10.0], [50.0, 50.0], [10.0, 50.0]]),))
    instances, next_id = [], 1
    counts = rng.integers(0, 9, images)
    for image_index in np.flatnonzero(status == 1).tolist():
        for score in np.clip(rng.normal(0.6, 0.2, counts[image_index]), 0.05, 1.0).tolist():
            source = Source.from_model("bench", score)
            instances.append(
                Instance(next_id, image_index + 1, 1, square, source=source, review=Review.UNREVIEWED)
            )
            next_id += 1
    dataset.put_instances(instances, notify=False)
    return dataset, scene


def make_embeddings(scene: np.ndarray, dims: int, seed: int = 1) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(SCENES, dims)).astype(np.float32)
    vectors = centres[scene] + 0.05 * rng.normal(size=(len(scene), dims)).astype(np.float32)
    return {i + 1: vectors[i] for i in range(len(scene))}


def baseline(dataset, threshold: float = 0.5) -> list[int]:
    """Images by their score nearest the threshold, in plain Python: uncertainty sampling alone."""
    nearest: dict[int, float] = {}
    for inst in dataset.instances.values():
        margin = abs((inst.score or 0.0) - threshold)
        if margin < nearest.get(inst.image_id, 2.0):
            nearest[inst.image_id] = margin
    return sorted(dataset.images, key=lambda image_id: nearest.get(image_id, 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--picks", type=int, default=256, help="greedy k-center picks (RankOptions)")
    args = parser.parse_args()

    from annotator.core.model import ImageStatus
    from annotator.core.ranking import RankOptions, dataset_uncertainty, rank_images

    start = time.perf_counter()
    dataset, scene = make_dataset(args.images)
    embeddings = make_embeddings(scene, args.dims)
    print(
        f"made {args.images} images, {len(dataset.instances)} predictions in {time.perf_counter() - start:.1f} s"
    )
    options = RankOptions(greedy_picks=args.picks)
    done = {i.id for i in dataset.images.values() if i.status is ImageStatus.DONE}
    labelled = {i: embeddings[i] for i in done}
    todo = {i: v for i, v in embeddings.items() if i not in done}

    gc.collect()
    start = time.perf_counter()
    naive = baseline(dataset)
    base = time.perf_counter() - start
    start = time.perf_counter()
    uncertainty = dataset_uncertainty(dataset, options)
    read = time.perf_counter() - start
    start = time.perf_counter()
    ranking = rank_images(uncertainty, todo, labelled=labelled, options=options)
    ranked = time.perf_counter() - start
    total = read + ranked
    print(f"baseline: sort by nearest score in Python  {base:6.2f} s")
    print(f"uncertainty from the dataset              {read:6.2f} s  {read / base:5.2f}x")
    print(f"k-center ranking ({args.picks} greedy picks)       {ranked:6.2f} s  {ranked / base:5.2f}x")
    print(f"all                                       {total:6.2f} s  {total / base:5.2f}x  "
          f"(goal < 5 s: {'ok' if total < 5 else 'SLOW'})")  # fmt: skip
    naive_open = [i for i in naive if i not in done]
    for label, order in (("ranking", list(ranking.image_ids)), ("uncertainty alone", naive_open)):
        scenes = [int(scene[i - 1]) for i in order[:100]]
        old = sum(s < LABELLED_SCENES for s in scenes)
        new = len({s for s in scenes if s >= LABELLED_SCENES})
        print(f"first 100 images, {label:17s}: {old:3d} in labelled scenes, {new:3d} distinct new scenes")


if __name__ == "__main__":
    main()
