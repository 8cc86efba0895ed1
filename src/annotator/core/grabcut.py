"""Box to mask without a model: OpenCV's GrabCut on a crop around the box the user drew.

Working on a crop (the box plus a margin of background) keeps it fast on large images; the margin gives
GrabCut's background model pixels to learn from.
"""

from __future__ import annotations

import cv2
import numpy as np

MARGIN = 0.25  # of the box's size, on each side, as background context


def segment_box(
    image: np.ndarray, box: tuple[float, float, float, float], *, iterations: int = 5
) -> np.ndarray:
    """The foreground inside `box` (x0, y0, x1, y1) of an (H, W, 3) RGB image, as an (H, W) uint8 mask."""
    height, width = image.shape[:2]
    x0, x1 = sorted((int(round(box[0])), int(round(box[2]))))
    y0, y1 = sorted((int(round(box[1])), int(round(box[3]))))
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    full = np.zeros((height, width), np.uint8)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return full
    mx, my = int((x1 - x0) * MARGIN) + 2, int((y1 - y0) * MARGIN) + 2
    cx0, cy0, cx1, cy1 = max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my)
    crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1, ::-1])  # OpenCV wants BGR
    # The rectangle must leave some background inside the crop, even for a box over the whole image.
    rx0, ry0 = max(1, x0 - cx0), max(1, y0 - cy0)
    rx1, ry1 = min(crop.shape[1] - 1, x1 - cx0), min(crop.shape[0] - 1, y1 - cy0)
    labels = np.zeros(crop.shape[:2], np.uint8)
    background, foreground = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(crop, labels, (rx0, ry0, rx1 - rx0, ry1 - ry0), background, foreground, iterations,
                cv2.GC_INIT_WITH_RECT)  # fmt: skip
    inside = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    full[cy0:cy1, cx0:cx1] = inside
    return full
