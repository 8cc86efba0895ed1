"""Benchmark: every consistency check (`annotator info --checks`) over 100,000 instances.

The dataset mixes what real projects hold: 60% star-shaped polygons (as bench/project.py makes), 20%
concave polygons traced from blob masks, 20% RLE masks as the model writes them (some with a stray
speck), with planted problems of every kind. Each check is printed in seconds and as a ratio to
pycocotools `COCO()` loading the same JSON in the same run (the machine is noisy). Goal (issue 16): all
checks together under 10 s.

    .venv/bin/python bench/checks.py [--annotations 100000] [--keep DIR] [--repeat 1]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

WIDTH, HEIGHT, PER_IMAGE, CLASSES = 640, 480, 100, 20


def make_dataset(*, annotations: int, seed: int = 0):
    """A Dataset of `annotations` instances on 640x480 images, 100 per image, with planted problems."""
    from annotator.core.model import Category, Dataset, Image

    rng = np.random.default_rng(seed)
    dataset = Dataset()
    images = annotations // PER_IMAGE + 1
    dataset.put_images(
        [Image(i, f"images/{i:06d}.jpg", WIDTH, HEIGHT) for i in range(1, images + 1)], notify=False
    )
    categories = [Category(i, f"class{i}") for i in range(1, CLASSES + 2)]
    dataset.put_categories(categories, notify=False)
    instances = []
    canvas = np.zeros((HEIGHT, WIDTH), np.uint8, order="F")
    for index in range(annotations):
        image_id = index // PER_IMAGE + 1
        instances.append(_instance(rng, index + 1, image_id, index % PER_IMAGE, canvas, instances))
    instances[-1] = instances[-1].with_changes(category_id=CLASSES + 1)  # a class used once
    dataset.put_instances(_painter_order(instances), notify=False)
    return dataset


def _painter_order(instances: list) -> list:
    """z as the window gives it on import: larger behind smaller; a planted hidden instance (z < 0)
    stays just behind the instance it was put under."""
    from annotator.core.geometry import area
    from annotator.core.model import default_z_order

    by_image: dict[int, list] = {}
    for inst in instances:
        by_image.setdefault(inst.image_id, []).append(inst)
    out = []
    for members in by_image.values():
        normal = [i for i in members if i.z >= 0]
        z = default_z_order({i.id: area(i.geometry, HEIGHT, WIDTH) for i in normal})
        placed = {i.id: i.with_changes(z=2 * z[i.id]) for i in normal}
        for inst in members:
            if inst.z < 0:  # behind its host, which is the instance made just before it
                host = placed[inst.id - 1]
                placed[inst.id] = inst.with_changes(z=host.z - 1)
        out += placed.values()
    return out


def _instance(rng, instance_id: int, image_id: int, z: int, canvas: np.ndarray, made: list):
    from annotator.core.geometry import Mask, Polygons
    from annotator.core.model import Instance

    category = int(rng.integers(1, CLASSES + 1))
    roll = rng.random()
    previous = made[-1] if made and made[-1].image_id == image_id else None
    if previous is not None and roll < 0.005:  # duplicate of the previous instance
        return Instance(instance_id, image_id, previous.category_id, previous.geometry, z=z)
    if roll < 0.007:  # bow tie: two vertices of a star swapped
        ring = _star(rng)
        ring[[3, 10]] = ring[[10, 3]]
        geometry = Polygons((ring,))
    elif roll < 0.009:  # pushed past the border
        geometry = Polygons((_star(rng) + [WIDTH - 20.0, 0.0],))
    elif roll < 0.011:  # a speck
        x, y = rng.uniform(10, WIDTH - 10), rng.uniform(10, HEIGHT - 10)
        geometry = Polygons((np.array([[x, y], [x + 3, y], [x + 3, y + 3], [x, y + 3]]),))
    elif previous is not None and roll < 0.013:  # behind the previous one, and inside it
        bx, by, bw, bh = previous.geometry.bbox(HEIGHT, WIDTH)
        cx, cy = bx + bw / 2, by + bh / 2
        ring = np.array([[cx - 2, cy - 2], [cx + 2, cy - 2], [cx + 2, cy + 2], [cx - 2, cy + 2]])
        return Instance(instance_id, image_id, category, Polygons((ring,)), z=-1)
    elif roll < 0.6:
        geometry = Polygons((_star(rng),))
    elif roll < 0.8:
        geometry = Polygons((_traced(rng),))
    else:
        geometry = Mask.from_coco_rle(_blob_rle(rng, canvas))
    return Instance(instance_id, image_id, category, geometry, z=z)


def _star(rng) -> np.ndarray:
    n = int(rng.integers(50, 201))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radius = rng.uniform(10, 60) * (1 + 0.25 * np.sin(3 * angles + rng.uniform(0, 6)))
    cx, cy = rng.uniform(70, WIDTH - 70), rng.uniform(70, HEIGHT - 70)
    return np.round(np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1), 2)


def _blob(rng, size: int = 128) -> np.ndarray:
    crop = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(2, 5))):
        centre = (int(rng.integers(30, size - 30)), int(rng.integers(30, size - 30)))
        axes = (int(rng.integers(6, 28)), int(rng.integers(6, 28)))
        cv2.ellipse(crop, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return crop


def _traced(rng) -> np.ndarray:
    """A concave outline, as a person or `mask_to_polygons` draws it."""
    contours, _ = cv2.findContours(_blob(rng), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contour = cv2.approxPolyDP(max(contours, key=cv2.contourArea), 0.8, True).reshape(-1, 2)
    offset = [rng.uniform(0, WIDTH - 128), rng.uniform(0, HEIGHT - 128)]
    return contour.astype(np.float64) + offset


def _blob_rle(rng, canvas: np.ndarray) -> dict:
    crop = _blob(rng)
    if rng.random() < 0.1:  # a stray speck near the object
        crop[int(rng.integers(0, 128)), int(rng.integers(0, 128))] = 1
    x, y = int(rng.integers(0, WIDTH - 128)), int(rng.integers(0, HEIGHT - 128))
    canvas[y : y + 128, x : x + 128] = crop
    rle = mask_utils.encode(canvas)
    canvas[y : y + 128, x : x + 128] = 0
    return {"size": [HEIGHT, WIDTH], "counts": rle["counts"].decode("ascii")}


def write_coco(dataset, path: Path) -> None:
    """COCO JSON keeping masks as RLE (export would trace exact ones into polygons) and our z-order."""
    import orjson

    from annotator.core.geometry import Polygons

    annotations = []
    for inst in sorted(dataset.instances.values(), key=lambda i: i.id):
        geometry = inst.geometry
        if isinstance(geometry, Polygons):
            segmentation = geometry.to_flat()
        else:
            segmentation = {"size": [HEIGHT, WIDTH], "counts": geometry.rle.counts.decode("ascii")}
        x, y, w, h = geometry.bbox(HEIGHT, WIDTH)
        annotations.append(
            {
                "id": inst.id,
                "image_id": inst.image_id,
                "category_id": inst.category_id,
                "segmentation": segmentation,
                "area": float(w * h),
                "bbox": [x, y, w, h],
                "iscrowd": 0,
                "annotator": {"z": inst.z},
            }
        )
    images = [
        {"id": i.id, "file_name": i.file_name, "width": i.width, "height": i.height}
        for i in dataset.images.values()
    ]
    categories = [{"id": c.id, "name": c.name} for c in dataset.categories.values()]
    path.write_bytes(orjson.dumps({"images": images, "annotations": annotations, "categories": categories}))


def timed(label: str, fn, results: dict[str, float]):
    gc.collect()
    start = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - start
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (reuses data.json)")
    parser.add_argument("--repeat", type=int, default=1, help="run the checks this many times")
    args = parser.parse_args()

    from pycocotools.coco import COCO

    from annotator.core.checks import CHECKS, CheckOptions, check_layers, report_of
    from annotator.io.coco import load_coco

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-checks-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / "data.json"
    if not source.exists():
        start = time.perf_counter()
        write_coco(make_dataset(annotations=args.annotations), source)
        print(f"made {source} ({source.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s")
    dataset = load_coco(source).dataset
    print(f"{len(dataset.instances)} instances on {len(dataset.images)} images")

    for run in range(args.repeat):
        times: dict[str, float] = {}
        with contextlib.redirect_stdout(io.StringIO()):
            timed("baseline", lambda: COCO(str(source)), times)
        options = CheckOptions()
        layers = timed("instance tables", lambda: check_layers(dataset), times)
        findings = []
        for kind, check in CHECKS.items():
            findings += timed(
                kind.value,
                lambda kind=kind, check=check, layers=layers, options=options: [
                    f for table, kinds in layers if kind in kinds for f in check(table, options)
                ],
                times,
            )
        report = report_of(findings, sum(len(table) for table, _kinds in layers))
        baseline = times.pop("baseline")
        total = sum(times.values())
        print(f"\nrun {run + 1}: baseline pycocotools COCO(json) {baseline:6.2f} s")
        for label, seconds in times.items():
            print(f"  {label:20s} {seconds:6.2f} s  {seconds / baseline:5.2f}x")
        verdict = "ok" if total < 10 else "SLOW"
        print(f"  {'all checks':20s} {total:6.2f} s  {total / baseline:5.2f}x  (goal < 10 s: {verdict})")
        print("  found: " + ", ".join(f"{k.value} {n}" for k, n in report.counts().items()))
    if args.keep is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
