"""Cheap augmentations of one training sample in numpy, drawn from a seeded generator.

A sample here is an RGB uint8 image (H, W, 3), its instance masks (uint8 H x W each) and their labels.
Every function returns a new sample whose masks still match the image; an instance that an operation
leaves with no pixels (cropped away, hidden under a pasted one) is dropped with its label, so boxes
computed from the masks afterwards (`train_data._target`) stay consistent. Why these: on a small set
trained from scratch the validation AP stops rising while the training loss keeps falling
(docs/decisions/0010-training-recipe.md); these give more distinct views of the same few images for a
few milliseconds each, on any kind of photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# An instance a crop or a paste leaves with less than this share of its pixels is dropped: a sliver of
# an object would teach the model to find slivers.
MIN_VISIBLE = 0.1


@dataclass
class Piece:
    """One sample being augmented: image (H, W, 3) uint8, masks (uint8 H x W each), labels."""

    image: np.ndarray
    masks: list[np.ndarray]
    labels: list[int]


def random_crop(piece: Piece, rng: np.random.Generator, side: tuple[float, float]) -> Piece:
    """A window whose sides are a fraction drawn from `side` (low, high) of the image's, placed anywhere;
    the model's resize then scales it back up: a zoom into part of the image."""
    low, high = side
    fraction = float(rng.uniform(low, high)) if high > low else float(low)
    height, width = piece.image.shape[:2]
    crop_h, crop_w = max(1, round(height * fraction)), max(1, round(width * fraction))
    if (crop_h, crop_w) == (height, width):
        return piece
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    window = (slice(top, top + crop_h), slice(left, left + crop_w))
    masks, labels = _still_visible(piece, [mask[window] for mask in piece.masks])
    return Piece(piece.image[window], masks, labels)


def copy_paste(piece: Piece, source: Piece, rng: np.random.Generator) -> Piece:
    """Paste a random half of `source`'s instances (at least one) onto `piece`, the source resized to
    the piece's size: the pasted objects hide what they cover, and an instance left with less than
    MIN_VISIBLE of its pixels is dropped (simple copy-paste, Ghiasi et al. 2021)."""
    if not source.masks:
        return piece
    height, width = piece.image.shape[:2]
    chosen = [i for i in range(len(source.masks)) if rng.random() < 0.5] or [
        int(rng.integers(len(source.masks)))
    ]
    src_image = source.image
    if src_image.shape[:2] != (height, width):
        src_image = cv2.resize(src_image, (width, height), interpolation=cv2.INTER_LINEAR)
    pasted = []
    for i in chosen:
        mask = source.masks[i]
        if mask.shape != (height, width):
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
        if mask.any():
            pasted.append((mask, source.labels[i]))
    if not pasted:
        return piece
    cover = np.zeros((height, width), dtype=bool)
    for mask, _ in pasted:
        cover |= mask.astype(bool)
    image = np.array(piece.image)
    image[cover] = src_image[cover]
    masks, labels = _still_visible(piece, [np.where(cover, 0, mask).astype(np.uint8) for mask in piece.masks])
    for mask, label in pasted:
        masks.append(mask.astype(np.uint8))
        labels.append(label)
    return Piece(image, masks, labels)


def _still_visible(piece: Piece, kept: list[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
    """The masks `kept` of `piece`'s instances (what an operation left of each) and their labels, less
    those left with under MIN_VISIBLE of their pixels."""
    masks, labels = [], []
    for mask, left, label in zip(piece.masks, kept, piece.labels, strict=True):
        area = int(np.count_nonzero(mask))
        if area and np.count_nonzero(left) >= MIN_VISIBLE * area:
            masks.append(left)
            labels.append(label)
    return masks, labels


def photometric(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Brightness, contrast and saturation each scaled by a factor in [1 - strength, 1 + strength]."""
    if strength <= 0:
        return image
    brightness, contrast, saturation = rng.uniform(1 - strength, 1 + strength, size=3)
    pixels = image.astype(np.float32)
    gray = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    pixels = gray[..., None] + saturation * (pixels - gray[..., None])
    mean = float(gray.mean())
    pixels = mean + contrast * (pixels - mean)
    pixels *= brightness
    return np.clip(pixels, 0, 255).astype(np.uint8)


def flip(piece: Piece, *, horizontal: bool, vertical: bool) -> Piece:
    """Mirror the image and its masks (views: no copy)."""
    if not (horizontal or vertical):
        return piece
    axes = (
        slice(None, None, -1) if vertical else slice(None),
        slice(None, None, -1) if horizontal else slice(None),
    )
    return Piece(piece.image[axes], [m[axes] for m in piece.masks], list(piece.labels))


def rotate90(piece: Piece, turns: int) -> Piece:
    """Rotate by `turns` quarter turns counter-clockwise (views: no copy)."""
    if turns % 4 == 0:
        return piece
    return Piece(np.rot90(piece.image, turns), [np.rot90(m, turns) for m in piece.masks], list(piece.labels))
