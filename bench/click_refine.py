"""Clicks that refine a mask (`core.grabcut.refine_mask`): does a click make the mask better or worse?

Every ground-truth object of a set starts from a mask as a model would give it, then gets up to three
clicks as an interactive-segmentation user gives them (at the middle of the largest wrong region: positive
where object is missing, negative where it is spurious). Printed: median and mean IoU with the ground
truth after 0-3 clicks, for the tool's refinement and for the seeding it replaced ("before": GrabCut
seeded with the mask as probable object and the rest of the box as probable background, free to redo
every pixel), in the same run, on the same clicks.

Starting masks: on the photos of isat_coco_tiny (no model of that domain offline) the ground truth made
coarse as the mask head's 28x28 output is (`coarse`), grown (`dilate`) or shrunk (`erode`) by 8% of the
box; on the synthetic sets, with `--weights` / `--camouflage-weights`, the model's own first mask.

    PYTHONPATH=src:bench .venv/bin/python bench/click_refine.py [--weights PLAIN.pt] [--camouflage-weights CAMO.pt]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from annotator.core.geometry import mask_iou
from annotator.core.grabcut import CLICK_RADIUS, MARGIN, refine_mask
from annotator.core.predictor import BoxPrompt
from box_to_mask import box_of, labelled_set, load_segmenter, next_click

CLICKS = 3


def refine_before(image, box, mask, *, positive=(), negative=(), iterations=3) -> np.ndarray:
    """The refinement as it was until 2026-12-06: every pixel of the box up for GrabCut to decide."""
    height, width = image.shape[:2]
    points = [*positive, *negative]
    xs = [box[0], box[2], *(x for x, _ in points)]
    ys = [box[1], box[3], *(y for _, y in points)]
    x0, x1 = max(0, int(min(xs))), min(width, int(np.ceil(max(xs))) + 1)
    y0, y1 = max(0, int(min(ys))), min(height, int(np.ceil(max(ys))) + 1)
    mx, my = int((x1 - x0) * MARGIN) + 2, int((y1 - y0) * MARGIN) + 2
    cx0, cy0, cx1, cy1 = max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my)
    crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1, ::-1])
    labels = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    labels[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = cv2.GC_PR_BGD
    labels[mask[cy0:cy1, cx0:cx1] > 0] = cv2.GC_PR_FGD
    radius = max(2, int(round(CLICK_RADIUS * max(x1 - x0, y1 - y0))))
    for (x, y), sure in [*((p, cv2.GC_FGD) for p in positive), *((p, cv2.GC_BGD) for p in negative)]:
        cv2.circle(labels, (int(round(x)) - cx0, int(round(y)) - cy0), radius, int(sure), -1)
    try:
        cv2.grabCut(
            crop, labels, None, np.zeros((1, 65)), np.zeros((1, 65)), iterations, cv2.GC_INIT_WITH_MASK
        )
    except cv2.error:
        return mask.astype(np.uint8)
    out = (mask > 0).astype(np.uint8)
    out[cy0:cy1, cx0:cx1] = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    return out


def degraded(mask: np.ndarray, kind: str) -> np.ndarray:
    """The ground truth as a model might give it: coarse as a 28x28 mask head, grown, or shrunk."""
    x0, y0, x1, y1 = (int(round(v)) for v in box_of(mask))
    crop = mask[y0:y1, x0:x1].astype(np.uint8)
    if kind == "coarse":
        small = cv2.resize(crop.astype(np.float32), (14, 14), interpolation=cv2.INTER_AREA)
        back = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) > 0.5
    else:
        side = max(3, int(0.08 * max(x1 - x0, y1 - y0)) | 1)
        change = cv2.dilate if kind == "dilate" else cv2.erode
        back = change(crop, np.ones((side, side), np.uint8)) > 0
    out = np.zeros_like(mask, bool)
    out[y0:y1, x0:x1] = back
    return out


def after_clicks(refine, pixels, box, start, truth) -> tuple[list[float], list[float]]:
    """IoU after 0..CLICKS clicks, and ms per refinement."""
    ious, times = [mask_iou(start, truth)], []
    positive, negative, predicted = (), (), start
    for _ in range(CLICKS):
        click = next_click(predicted, truth)
        if click is not None:
            is_object, point = click
            positive, negative = (
                (positive + (point,), negative) if is_object else (positive, negative + (point,))
            )
            started = time.perf_counter()
            predicted = refine(pixels, box, start.astype(np.uint8), positive=positive, negative=negative) > 0
            times.append(1000 * (time.perf_counter() - started))
        ious.append(mask_iou(predicted, truth))
    return ious, times


def report(name: str, cases) -> None:
    for label, refine in (("before", refine_before), ("now", refine_mask)):
        runs = [after_clicks(refine, *case) for case in cases]
        columns = list(zip(*(ious for ious, _ in runs), strict=True))
        times = [t for _, ts in runs for t in ts]
        medians = " ".join(f"{statistics.median(c):.3f}" for c in columns)
        means = " ".join(f"{float(np.mean(c)):.3f}" for c in columns)
        speed = f"{statistics.median(times):.0f}" if times else "-"
        print(f"{name:<20} {len(cases):>5} {label:<7} {medians}   {means}   {speed:>5}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="a model of the plain synthetic set")
    parser.add_argument("--camouflage-weights", type=Path, help="a model of the camouflage set")
    parser.add_argument("--images", type=int, default=12)
    args = parser.parse_args()
    print(f"{'set, start':<20} {'boxes':>5} {'path':<7} {'median IoU, 0-3 clicks':<23}   "
          f"{'mean IoU, 0-3 clicks':<23}   ms/click")  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        photos = labelled_set("coco-tiny", args.images, None)
    for kind in ("coarse", "dilate", "erode"):
        cases = [
            (pixels, box_of(mask), degraded(mask, kind), mask)
            for pixels, truth in photos
            for _, mask in truth
            if mask.sum() >= 64
        ]
        report(f"coco-tiny, {kind}", cases)
    for name, weights in (("camouflage", args.camouflage_weights), ("synthetic", args.weights)):
        if weights is None:
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            samples = labelled_set(name, args.images, None)
        segmenter = load_segmenter(weights, None)
        cases = []
        for index, (pixels, truth) in enumerate(samples):
            segmenter.prepare(index, pixels)
            for category_id, mask in truth:
                box = box_of(mask)
                first = segmenter.segment(index, pixels, BoxPrompt(box, category_id)).mask.to_array() > 0
                cases.append((pixels, box, first, mask))
        report(f"{name}, model", cases)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
