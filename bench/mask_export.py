"""Time and peak memory of `annotator info` and `annotator convert` on small LabelMe files describing huge
images (issue 20, item 11), each as its own process, beside a process that only starts Python and imports
the tool (the baseline: what any command costs).

    .venv/bin/python bench/mask_export.py [--width 15000] [--height 16000] [--shapes 60]

The cases: the issue's file (one-pixel mask shapes, pairs in a group); masks at opposite corners in one
group (their union's box is the whole image); tiny polygons grouped with corner masks. The masks must be
worked in their boxes: a 15000x16000 image-sized array is 229 MiB as bool and 1.8 GB as int64.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image as PilImage

BASELINE = [sys.executable, "-c", "import annotator.cli.main"]


def _png(mask: np.ndarray) -> str:
    buffer = io.BytesIO()
    PilImage.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode()


def cases(width: int, height: int, count: int) -> dict[str, list[dict]]:
    one = _png(np.ones((1, 1), bool))

    def dot(x: int, y: int, group: int) -> dict:
        return {
            "label": "dot",
            "shape_type": "mask",
            "points": [[x, y], [x, y]],
            "mask": one,
            "group_id": group,
        }

    def tiny(x: int, y: int, group: int) -> dict:
        points = [[x, y], [x + 1, y], [x + 1, y + 1]]
        return {"label": "dot", "shape_type": "polygon", "points": points, "group_id": group}

    step_x, step_y = max(width // count, 1), max(height // count, 1)
    corner = (width - 1, height - 1)
    return {
        "issue's file": [dot(step_x * i, step_y * i, i // 2) for i in range(count)],
        "opposite corners": [dot(0, 0, i) if i % 2 else dot(*corner, i - 1) for i in range(count)],
        "polygons and corner masks": [
            tiny(step_x * i, step_y * i, i) if i % 2 else dot(*corner, i - 1) for i in range(count)
        ],
    }


def measured(command: list[str]) -> tuple[float, float]:
    """Seconds and peak resident MiB of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if os.waitstatus_to_exitcode(status) not in (0, 2):
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
    return seconds, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=15000)
    parser.add_argument("--height", type=int, default=16000)
    parser.add_argument("--shapes", type=int, default=60)
    args = parser.parse_args(argv)
    tool = [sys.executable, "-m", "annotator.cli.main"]
    base_s, base_mib = measured(BASELINE)
    print(f"baseline (import only): {base_s:.2f} s, {base_mib:.0f} MiB")
    with tempfile.TemporaryDirectory() as folder:
        for name, shapes in cases(args.width, args.height, args.shapes).items():
            path = Path(folder) / f"{name.replace(' ', '_')}.json"
            data = {"shapes": shapes, "imagePath": "big.jpg", "imageWidth": args.width,
                    "imageHeight": args.height}  # fmt: skip
            path.write_text(json.dumps(data))
            print(f"{name}: {path.stat().st_size / 1024:.0f} KB, {len(shapes)} shapes")
            runs = [("info", [*tool, "info", str(path)])]
            for fmt in ("coco", "labelme", "yolo"):
                out = Path(folder) / f"out-{fmt}{'.json' if fmt == 'coco' else ''}"
                runs.append(
                    (f"convert --to {fmt}", [*tool, "convert", str(path), "--to", fmt, "--out", str(out)])
                )
            for label, command in runs:
                seconds, mib = measured(command)
                print(f"  {label:20s} {seconds:6.2f} s ({seconds / base_s:4.1f}x baseline)  "
                      f"{mib:6.0f} MiB ({mib - base_mib:+.0f} over baseline)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
