"""Brush and eraser strokes on an instance's mask, as deltas: the changed box, its old and new pixels.

A stroke is previewed on a working bitmap while the mouse moves and becomes one `MaskStroke` edit on
release: one gesture, one undo step. The edit keeps only the rectangle the stroke touched (packed bits),
plus the old geometry when the stroke turned a polygon instance into a mask, so undo is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from annotator.core.geometry import Geometry, Mask, Polygons
from annotator.core.model import Dataset, Instance, Review
from annotator.core.region import pixels_at_hand
from annotator.core.rle_splice import splice


def stamp_disc(
    mask: np.ndarray, center: tuple[float, float], radius: float, *, erase: bool
) -> tuple[int, int, int, int]:
    """Paint (or erase) a filled disc on `mask` in place; returns the touched box (x0, y0, x1, y1)."""
    height, width = mask.shape
    r = max(0.5, float(radius))
    cx, cy = center
    x0, y0 = max(0, int(np.floor(cx - r))), max(0, int(np.floor(cy - r)))
    x1, y1 = min(width, int(np.ceil(cx + r)) + 1), min(height, int(np.ceil(cy + r)) + 1)
    if x0 >= x1 or y0 >= y1:
        return (0, 0, 0, 0)
    ys, xs = np.ogrid[y0:y1, x0:x1]
    inside = (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= r * r  # pixel centres inside the disc
    mask[y0:y1, x0:x1][inside] = 0 if erase else 1
    return (x0, y0, x1, y1)


def stamp_segment(
    mask: np.ndarray, start: tuple[float, float], end: tuple[float, float], radius: float, *, erase: bool
) -> tuple[int, int, int, int]:
    """A stroke segment between two mouse positions: discs at steps of half the radius, no gaps."""
    distance = float(np.hypot(end[0] - start[0], end[1] - start[1]))
    steps = max(1, int(np.ceil(distance / max(radius * 0.5, 0.5))))
    box = (0, 0, 0, 0)
    for t in np.linspace(0.0, 1.0, steps + 1):
        point = (start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
        box = union_box(box, stamp_disc(mask, point, radius, erase=erase))
    return box


def union_box(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    if a[2] <= a[0]:
        return b
    if b[2] <= b[0]:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


@dataclass(frozen=True)
class MaskStroke:
    """The change one brush or eraser gesture made to one instance."""

    instance_id: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1
    old_bits: bytes  # np.packbits of the box before
    new_bits: bytes  # and after
    old_geometry: Geometry | None  # set when the stroke turned polygons into a mask
    old_review: Review
    new_review: Review
    text: str = "Brush"
    # the whole new mask as the brush holds it (a window, its origin), for the canvas to draw without
    # decoding it; used by the first apply and dropped, so the undo stack keeps only the packed bits
    pixels: tuple[np.ndarray, tuple[int, int]] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_masks(
        cls,
        instance: Instance,
        before: np.ndarray,
        after: np.ndarray,
        box: tuple[int, int, int, int],
        *,
        text: str = "Brush",
        origin: tuple[int, int] = (0, 0),
    ) -> MaskStroke:
        """`box` in image pixels; `before` and `after` a window of the image whose pixel (0, 0) is
        image pixel `origin` (the whole image by default), holding every pixel of the mask before and
        after (the instance's pixels outside them are none)."""
        x0, y0, x1, y1 = box
        ox, oy = origin
        changed = (slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox))
        review = Review.EDITED if instance.source.is_model else instance.review
        return cls(
            instance.id, box,
            np.packbits(before[changed].astype(bool)).tobytes(),
            np.packbits(after[changed].astype(bool)).tobytes(),
            instance.geometry if isinstance(instance.geometry, Polygons) else None,
            instance.review, review, text, (after, origin),
        )  # fmt: skip

    def apply(self, dataset: Dataset) -> None:
        pixels = self.pixels
        object.__setattr__(self, "pixels", None)
        self._write(dataset, self.new_bits, self.new_review, None, pixels)

    def revert(self, dataset: Dataset) -> None:
        self._write(dataset, self.old_bits, self.old_review, self.old_geometry)

    def _write(
        self,
        dataset: Dataset,
        bits: bytes,
        review: Review,
        geometry: Geometry | None,
        pixels: tuple[np.ndarray, tuple[int, int]] | None = None,
    ) -> None:
        instance = dataset.instances[self.instance_id]
        image = dataset.image_of(instance)
        if geometry is None:
            x0, y0, x1, y1 = self.box
            count = (y1 - y0) * (x1 - x0)
            region = np.unpackbits(np.frombuffer(bits, np.uint8), count=count).reshape(y1 - y0, x1 - x0)
            geometry = Mask(splice(instance.geometry.to_rle(image.height, image.width), self.box, region))
        changed = [instance.with_changes(geometry=geometry, review=review)]
        if pixels is None:
            dataset.put_instances(changed)
            return
        with pixels_at_hand(geometry, image.height, image.width, *pixels, (instance.geometry, self.box)):
            dataset.put_instances(changed)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every enclosed background region filled."""
    binary = (mask > 0).astype(np.uint8)
    padded = np.pad(binary, 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    holes = (flood == 0)[1:-1, 1:-1]
    return (binary | holes).astype(np.uint8)


def remove_small_parts(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """The mask without connected parts (8-connected) smaller than `min_pixels`."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_pixels
    return keep[labels].astype(np.uint8)


def connected_parts(mask: np.ndarray) -> list[np.ndarray]:
    """Each 8-connected part of the mask as its own mask, largest first."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    order = sorted(range(1, count), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    return [(labels == i).astype(np.uint8) for i in order]


def union_masks(masks: Sequence[np.ndarray]) -> np.ndarray:
    out = np.zeros_like(masks[0], dtype=np.uint8)
    for mask in masks:
        out |= mask > 0
    return out
