"""Whether a label's outline lies on the object's edge in the image, or a few pixels off it.

A mask drawn a few pixels too large or too small keeps a high IoU with any model's mask (a 3-pixel
dilation of a 40-pixel object is still IoU 0.75, within a light model's own error), so the model cannot
tell it from a good label. The image can: an object's edge is where the colour changes most, and a
good outline runs along it. The label's outline is moved in and out by whole pixels (erosion and
dilation with a 3x3 square, so one chessboard distance transform gives every offset at once), and the
image's gradient is averaged along each moved outline (the pixels on both sides of it). When an
outline moved by two or more pixels runs along a clearly stronger edge than the label's own, the label
is probably loose or tight by that much, and the moved mask is the suggested fix.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from annotator.core.geometry import Geometry, Mask
from annotator.core.region import Crop
from annotator.core.rle_splice import splice

REACH = 5  # pixels the outline is moved in and out
MIN_OFFSET = 2  # a pixel off is within any labeller's and rasteriser's tolerance
MIN_KEPT = 0.5  # an erosion that leaves less than this share of the label suggests no fix


@dataclass(frozen=True)
class EdgeFit:
    """`offset`: pixels the outline should move to lie on the strongest edge (negative: the label is that
    much too large). `gain`: how much of that edge's strength the label's own outline lacks, in [0, 1]."""

    offset: int
    gain: float
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (half-open) of `moved` in the image
    moved: np.ndarray  # the label moved by `offset`, inside `box`, uint8 0 or 1

    def geometry(self, label: Geometry, height: int, width: int) -> Mask:
        """The label with its outline moved: the fix this fit suggests."""
        return Mask(splice(label.to_rle(height, width), self.box, self.moved))


def edge_strength(pixels: np.ndarray) -> np.ndarray:
    """The gradient magnitude of an image (3x3 Sobel), the strongest of its colour channels, float32."""
    planes = cv2.split(pixels) if pixels.ndim == 3 else [pixels]
    strength = np.zeros(pixels.shape[:2], np.float32)
    for plane in planes:
        dx = cv2.Sobel(plane, cv2.CV_32F, 1, 0, ksize=3)
        dy = cv2.Sobel(plane, cv2.CV_32F, 0, 1, ksize=3)
        np.maximum(strength, cv2.magnitude(dx, dy), out=strength)
    return strength


def edge_fit(pixels: np.ndarray, crop: Crop, *, reach: int = REACH) -> EdgeFit | None:
    """How far the outline of a label (its pixels, `Region.crop`) lies from the image's strongest nearby
    edge; None for an empty label. `pixels` is the whole image (H x W, or H x W x C)."""
    height, width = pixels.shape[:2]
    if crop.empty:
        return None
    margin = reach + 2  # the moved outline's outer side, and a pixel for the Sobel kernel
    h, w = crop.mask.shape
    x0, y0 = max(crop.x0 - margin, 0), max(crop.y0 - margin, 0)
    x1, y1 = min(crop.x0 + w + margin, width), min(crop.y0 + h + margin, height)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    mask[crop.y0 - y0 : crop.y0 - y0 + h, crop.x0 - x0 : crop.x0 - x0 + w] = crop.mask
    level = _levels(mask)
    strength = edge_strength(np.ascontiguousarray(pixels[y0:y1, x0:x1]))
    # the outline moved by d runs between levels d and d + 1 (see _levels)
    shift = reach + 1
    index = np.clip(level + shift, 0, 2 * shift + 1).ravel()
    sums = np.bincount(index, weights=strength.ravel(), minlength=2 * shift + 2)
    counts = np.bincount(index, minlength=2 * shift + 2)
    area = int(mask.sum())
    best_offset, best, own = 0, 0.0, 0.0
    for offset in range(-reach, reach + 1):
        low = offset + shift
        along = counts[low] + counts[low + 1]
        if along == 0:
            continue
        if offset < 0 and counts[: low + 1].sum() < MIN_KEPT * area:  # the eroded label: levels <= offset
            continue
        mean = float(sums[low] + sums[low + 1]) / float(along)
        if offset == 0:
            own = mean
        if mean > best:
            best_offset, best = offset, mean
    if best <= 0 or abs(best_offset) < MIN_OFFSET:
        return EdgeFit(0, 0.0, (x0, y0, x1, y1), mask)
    moved = (level <= best_offset).astype(np.uint8)
    return EdgeFit(best_offset, (best - own) / best, (x0, y0, x1, y1), moved)


def _levels(mask: np.ndarray) -> np.ndarray:
    """Each pixel's level: outside the mask, its chessboard distance to it (1, 2, ...); inside, one minus
    its distance to the outside (0, -1, ...). The mask dilated by d > 0 is levels <= d, eroded by k is
    levels <= -k; its outline runs between its last level and the next."""
    outside = cv2.distanceTransform(1 - mask, cv2.DIST_C, 3)
    inside = cv2.distanceTransform(mask, cv2.DIST_C, 3)
    return np.where(mask > 0, 1 - inside, outside).astype(np.int32)
