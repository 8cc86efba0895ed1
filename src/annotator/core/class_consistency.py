"""Labels whose class disagrees with the labels most like them: the person's own labels as a second,
model-free witness to a class swap.

A light model trained on a few hundred images names the wrong class for one object in four, so its
disagreements alone cannot find the labels given the wrong class. The person's other labels can: each
label is described by its mask's shape (log area, solidity, extent, circularity, elongation, how well a
triangle, a rectangle and a circle enclose it, four Hu moments) and, with the image, its colour (mean
and spread in Lab), and looks at its `k` nearest labels, itself left out. Features are weighed by how
well they separate the classes of this dataset (the Fisher ratio: variance between the classes' means
over the variance within them), so colour counts where classes differ in colour and shape where they
differ in shape. A label is suspect when fewer of its neighbours share its class than usual for that
class (a per-class threshold, as confident learning's, Northcutt et al. 2021: a small class's labels
have fewer of their kind nearby than a large one's), and more of them carry one other class than its
own; suspicion = that class's share minus its own. Classes with no more labels than `k` are not judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from annotator.core.region import Crop

NEIGHBOURS = 10
BLOCK = 1024  # rows of the distance matrix computed at once
MAX_REFERENCES = 20_000  # beyond this many labels, neighbours are looked for among a seeded sample
MIN_AREA = 64  # pixels; the shape of a smaller mask is mostly its rasterisation


@dataclass(frozen=True)
class ClassVote:
    """What a label's nearest labels call it: `votes[c]` labels of class `c` out of `neighbours`."""

    index: int  # into the labels given
    proposed: int  # the class most of its neighbours carry
    own_share: float
    proposed_share: float


def shape_features(crop: Crop) -> np.ndarray | None:
    """Eleven numbers describing a mask's shape, unchanged by moving or turning it; None for a mask of
    fewer than `MIN_AREA` pixels."""
    mask = crop.mask
    area = float(mask.sum())
    if area < MIN_AREA:
        return None
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)
    hull = max(cv2.contourArea(cv2.convexHull(outline)), 1.0)
    perimeter = max(cv2.arcLength(outline, True), 1.0)
    width, height = cv2.minAreaRect(outline)[1]
    triangle = max(cv2.minEnclosingTriangle(outline.astype(np.float32))[0], 1.0)
    circle = np.pi * cv2.minEnclosingCircle(outline)[1] ** 2
    hu = cv2.HuMoments(cv2.moments(mask, True)).ravel()[:4]
    hu = -np.sign(hu) * np.log10(np.abs(hu) + 1e-30)
    return np.array([
        np.log(area), area / hull, 4 * np.pi * area / perimeter**2,
        min(width, height) / max(width, height, 1.0), area / max(width * height, 1.0),
        area / triangle, area / max(circle, 1.0), *hu,
    ], np.float64)  # fmt: skip


def colour_features(crop: Crop, pixels: np.ndarray) -> np.ndarray:
    """Mean and spread of the label's pixels in Lab (6 numbers). `pixels` is the whole RGB image."""
    h, w = crop.mask.shape
    patch = pixels[crop.y0 : crop.y0 + h, crop.x0 : crop.x0 + w]
    lab = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    inside = lab[crop.mask.ravel() > 0]
    return np.concatenate([inside.mean(0), inside.std(0)])


def odd_ones_out(features: np.ndarray, classes: Sequence[int], *, k: int = NEIGHBOURS) -> list[ClassVote]:
    """The labels (rows of `features`) whose k nearest others mostly carry another class than theirs."""
    classes = np.asarray(classes)
    names = np.unique(classes)
    if len(names) < 2 or len(classes) <= k:
        return []
    scaled = _weighed_features(features, classes)
    references = np.arange(len(classes))
    if len(references) > MAX_REFERENCES:
        references = np.sort(np.random.default_rng(0).choice(references, MAX_REFERENCES, replace=False))
    neighbours = _nearest(scaled, references, k)
    coded = np.searchsorted(names, classes)
    count = np.bincount(coded, minlength=len(names))
    shares = np.stack([(coded[neighbours] == c).mean(axis=1) for c in range(len(names))], axis=1)
    rows = np.arange(len(classes))
    own = shares[rows, coded]
    # each class's usual agreement (confident learning's per-class threshold): a big class's labels
    # have more of their kind nearby than a small one's, so each is judged against its own class's
    usual = np.array([own[coded == c].mean() for c in range(len(names))])
    other = shares.copy()
    other[rows, coded] = -1.0
    proposed = other.argmax(axis=1)
    best = other[rows, proposed]
    judged = count[coded] > k  # a class with fewer labels than neighbours could never win its own vote
    suspect = judged & (own < usual[coded]) & (best > own)
    return [
        ClassVote(int(i), int(names[proposed[i]]), float(own[i]), float(best[i]))
        for i in np.flatnonzero(suspect)
    ]


def _weighed_features(features: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Standardised features, each scaled by the square root of its Fisher ratio on these labels."""
    x = np.nan_to_num(np.asarray(features, np.float64))
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    between, within = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for c in np.unique(classes):
        part = x[classes == c]
        between += len(part) * part.mean(axis=0) ** 2  # the overall mean is 0 after standardising
        within += ((part - part.mean(axis=0)) ** 2).sum(axis=0)
    return x * np.sqrt(between / (within + 1e-9))


def _nearest(x: np.ndarray, references: np.ndarray, k: int) -> np.ndarray:
    """For each row, the indices (into x) of its k nearest rows among `references`, itself excluded."""
    ref = x[references]
    ref_norms = (ref**2).sum(axis=1)
    out = np.empty((len(x), k), np.int64)
    for start in range(0, len(x), BLOCK):
        rows = x[start : start + BLOCK]
        distance = (rows**2).sum(axis=1)[:, None] + ref_norms[None, :] - 2 * rows @ ref.T
        own = np.arange(start, start + len(rows))
        position = np.searchsorted(references, own)
        found = (position < len(references)) & (references[np.minimum(position, len(references) - 1)] == own)
        distance[np.flatnonzero(found), position[found]] = np.inf
        nearest = np.argpartition(distance, k, axis=1)[:, :k]
        out[start : start + len(rows)] = references[nearest]
    return out
