"""A cheap image embedding for diversity when there is no model: colour, texture and layout of a small
thumbnail, 120 numbers.

- colour: a joint HSV histogram, 8 hues x 3 saturations x 3 values (72);
- texture: gradient orientations in 8 bins weighted by magnitude, in each quarter of the image (32);
- layout: the 4x4 grey thumbnail (16).
Each histogram is L1-normalised and square-rooted (the Hellinger map, so Euclidean distance compares
distributions sensibly) and each part weighted to unit length, so no part drowns the others. Pooled
features from the model can stand in for it: `core.ranking` takes any float vector per image.
"""

from __future__ import annotations

import cv2
import numpy as np

SIDE = 64  # the thumbnail the descriptor is computed on
VERSION = 1  # bump when the numbers change, so caches are rebuilt
LENGTH = 8 * 3 * 3 + 4 * 8 + 16


def image_descriptor(rgb: np.ndarray) -> np.ndarray:
    """The descriptor of an (H, W, 3) uint8 RGB image, float32 of length LENGTH."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"expected an (H, W, 3) image, got shape {rgb.shape}")
    small = cv2.resize(rgb, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    colour = cv2.calcHist([hsv], [0, 1, 2], None, [8, 3, 3], [0, 180, 0, 256, 0, 256]).ravel()
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    texture = _orientation_histograms(grey)
    layout = cv2.resize(grey, (4, 4), interpolation=cv2.INTER_AREA).ravel() / 255.0
    layout = layout - layout.mean()
    parts = [_hellinger(colour), _hellinger(texture), _unit(layout)]
    return np.concatenate(parts).astype(np.float32) / np.float32(np.sqrt(len(parts)))


def _orientation_histograms(grey: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    magnitude, angle = cv2.cartToPolar(gx, gy)
    bins = (np.floor(angle % np.pi / np.pi * 8).astype(np.int64)) % 8  # orientation, not direction
    half = SIDE // 2
    out = []
    for rows in (slice(0, half), slice(half, SIDE)):
        for cols in (slice(0, half), slice(half, SIDE)):
            out.append(np.bincount(bins[rows, cols].ravel(), magnitude[rows, cols].ravel(), minlength=8))
    return np.concatenate(out)


def _hellinger(histogram: np.ndarray) -> np.ndarray:
    total = float(histogram.sum())
    return np.sqrt(histogram / total) if total > 0 else np.zeros_like(histogram, dtype=np.float64)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
