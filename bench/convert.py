"""`annotator convert` against `pycocotools.coco.COCO` loading the same file, both as whole processes.

Issue 19's target: converting 100,000 polygon annotations (COCO to COCO) within 2x of a Python process
that only does `COCO(path)`. The two commands alternate, so a change of load on shared cores falls on
both; the ratio of medians is printed, with the load average.

    .venv/bin/python bench/convert.py [--annotations 100000] [--runs 3] [--file PATH]

The file is `bench/coco_io.py`'s synthetic one (polygons of 50-200 vertices on 1,000 images), made once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed_process(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--file", type=Path)
    args = parser.parse_args(argv)
    path = args.file or Path(tempfile.gettempdir()) / f"annotator-bench-convert-{args.annotations}.json"
    if not path.exists():
        sys.path.insert(0, str(HERE))
        from coco_io import make_file

        make_file(path, args.annotations)
    print(f"{path}: {path.stat().st_size / 1e6:.0f} MB, load {os.getloadavg()[0]:.1f}")
    out = path.with_name(path.stem + "-converted.json")
    reference = [sys.executable, "-c", f"from pycocotools.coco import COCO; COCO({str(path)!r})"]
    convert = [
        sys.executable,
        "-m",
        "annotator.cli.main",
        "convert",
        str(path),
        "--to",
        "coco",
        "--out",
        str(out),
    ]
    times: dict[str, list[float]] = {"COCO()": [], "convert": []}
    for run in range(args.runs):
        times["COCO()"].append(timed_process(reference))
        times["convert"].append(timed_process(convert))
        print(f"run {run + 1}: COCO() {times['COCO()'][-1]:.2f} s, convert {times['convert'][-1]:.2f} s")
    out.unlink(missing_ok=True)
    ratio = statistics.median(times["convert"]) / statistics.median(times["COCO()"])
    print(
        f"convert / COCO() = {ratio:.2f} (median of {args.runs}; target <= 2), load {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
