"""COCO import/export speed on a synthetic file: 100k polygons of 50-200 vertices (about 190 MB).

SPEC section 7: open and COCO export within 2x of `pycocotools.coco.COCO` loading the same JSON.
Run: `.venv/bin/python bench/coco_io.py [--annotations N] [--file PATH]` (the file is made once).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson


def make_file(path: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    images = [{"id": i, "file_name": f"img/{i:06d}.jpg", "width": 1920, "height": 1080} for i in range(1000)]
    annotations = []
    for index in range(count):
        n = int(rng.integers(50, 201))
        cx, cy, r = rng.uniform(100, 1800), rng.uniform(100, 1000), rng.uniform(5, 90)
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        jitter = rng.uniform(0.8, 1.2, n)
        ring = np.stack([cx + r * np.cos(t) * jitter, cy + r * np.sin(t) * jitter], 1).round(2)
        annotations.append(
            {
                "id": index + 1,
                "image_id": index % 1000,
                "category_id": 1 + index % 80,
                "segmentation": [ring.ravel().tolist()],
                "area": 1.0,
                "bbox": [0, 0, 1, 1],
                "iscrowd": 0,
            }
        )
    categories = [{"id": i, "name": f"c{i}", "supercategory": ""} for i in range(1, 81)]
    path.write_bytes(orjson.dumps({"images": images, "annotations": annotations, "categories": categories}))


def timed(label: str, function) -> float:  # noqa: ANN001
    start = time.perf_counter()
    function()
    elapsed = time.perf_counter() - start
    print(f"{label:<22} {elapsed:6.2f} s")
    return elapsed


def _quiet(function, *args):  # noqa: ANN001, ANN002, ANN202
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument(
        "--file", type=Path, default=Path(tempfile.gettempdir()) / "annotator-bench-coco.json"
    )
    args = parser.parse_args()
    if not args.file.exists():
        make_file(args.file, args.annotations)
    print(f"{args.file}: {args.file.stat().st_size / 1e6:.0f} MB")

    from pycocotools.coco import COCO

    from annotator.io.coco import load_coco, save_coco

    timed("orjson.loads", lambda: orjson.loads(args.file.read_bytes()))
    reference = timed("pycocotools COCO()", lambda: _quiet(COCO, str(args.file)))
    loaded = {}
    load = timed("load_coco", lambda: loaded.setdefault("x", load_coco(args.file)))
    out = args.file.with_name("annotator-bench-coco-out.json")
    save = timed("save_coco", lambda: save_coco(loaded["x"].dataset, out))
    print(f"load / COCO() = {load / reference:.2f}, save / COCO() = {save / reference:.2f} (target <= 2)")
    out.unlink()


if __name__ == "__main__":
    main()
