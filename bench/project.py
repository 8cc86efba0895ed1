"""Benchmark: create, open, save and COCO-export a project of 100,000 polygon annotations.

Each step is printed as a ratio to `pycocotools.coco.COCO` loading the same JSON in the same run (the
machine is noisy; ratios in one process are comparable). Goal (SPEC section 7): every ratio <= 2.

    .venv/bin/python bench/project.py [--annotations 100000] [--keep DIR] [--guess-root]

`--guess-root` creates the project as `annotator open data.json` does, without naming the images
folder: the folder is guessed from the file's own `file_name`s (the file must still be parsed once).
"""

from __future__ import annotations

import argparse
import gc
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson


def make_coco(path: Path, *, annotations: int, per_image: int = 100, seed: int = 0) -> None:
    """Star-shaped blobs of 50-200 vertices on 640x480 images, 20 categories."""
    rng = np.random.default_rng(seed)
    images = [
        {"id": i, "file_name": f"images/{i:06d}.jpg", "width": 640, "height": 480}
        for i in range(1, annotations // per_image + 2)
    ]
    anns = []
    for ann_id in range(1, annotations + 1):
        n = int(rng.integers(50, 201))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(10, 60) * (1 + 0.25 * np.sin(3 * angles + rng.uniform(0, 6)))
        cx, cy = rng.uniform(70, 570), rng.uniform(70, 410)
        ring = np.round(np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1), 2)
        x0, y0 = ring.min(0)
        x1, y1 = ring.max(0)
        anns.append(
            {
                "id": ann_id,
                "image_id": (ann_id - 1) // per_image + 1,
                "category_id": int(rng.integers(1, 21)),
                "segmentation": [ring.ravel().tolist()],
                "area": float((x1 - x0) * (y1 - y0) * 0.7),
                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                "iscrowd": 0,
            }
        )
    categories = [{"id": i, "name": f"class{i}", "supercategory": "thing"} for i in range(1, 21)]
    path.write_bytes(orjson.dumps({"images": images, "annotations": anns, "categories": categories}))


def timed(label: str, fn, results: dict[str, float]):
    gc.collect()
    start = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - start
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--guess-root", action="store_true", help="create without naming the images folder")
    args = parser.parse_args()

    from pycocotools.coco import COCO

    from annotator.io.coco import save_coco
    from annotator.io.project import open_project

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-project-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / "data.json"
    start = time.perf_counter()
    make_coco(source, annotations=args.annotations)
    print(f"made {source} ({source.stat().st_size / 1e6:.0f} MB, {args.annotations} polygons) "
          f"in {time.perf_counter() - start:.1f} s")  # fmt: skip

    times: dict[str, float] = {}
    timed("baseline: pycocotools COCO(json)", lambda: COCO(str(source)), times)
    root = None if args.guess_root else work
    project = timed(
        "create (import COCO into a new project)", lambda: open_project(source, images_root=root), times
    )
    project.close()
    project = timed("open (read the project)", lambda: open_project(project.path), times)
    timed("save (rewrite the whole project)", lambda: project.store.write_all(project.dataset), times)
    timed("COCO export", lambda: save_coco(project.dataset, work / "export.json"), times)
    project.close()

    baseline = times.pop("baseline: pycocotools COCO(json)")
    print(f"\nbaseline: pycocotools COCO(json)          {baseline:6.2f} s")
    for label, seconds in times.items():
        verdict = "ok" if seconds <= 2 * baseline else "SLOW"
        print(f"{label:42s} {seconds:6.2f} s  {seconds / baseline:4.2f}x  {verdict}")
    if args.keep is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
