"""A synthetic instance-segmentation set: textured ellipses, rectangles and triangles on textured ground.

Why: the training benchmark needs a labelled set with exact masks that a model can learn in minutes on a
CPU, and that no pretrained weight has seen. The class is the shape; colour and texture are not cues,
since objects and background draw from the same textures (stripes at any angle and period, checkers,
smooth colour blobs, dots) in random colours. Objects overlap: each mask is the object's visible pixels,
and an object less than half visible is left out of the labels (as a person would skip it).

`write_set(folder, count, seed)` writes PNG images and a COCO file `annotations.json` whose category ids
are 3, 7 and 12 (not 1..3), so a benchmark also checks that ids are never renumbered.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from annotator.core.geometry import Mask
from annotator.core.model import Category, Dataset, Image, Instance, Review

CATEGORIES = (Category(3, "ellipse"), Category(7, "rectangle"), Category(12, "triangle"))
WIDTH, HEIGHT = 384, 288
DIAMETER = (28, 110)  # object size in pixels at 384x288


def textured_image(
    rng: np.random.Generator, width: int = WIDTH, height: int = HEIGHT, *, count: int | None = None
) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """An (height, width, 3) uint8 RGB image and its instances [(category id, bool mask)]."""
    count = int(rng.integers(3, 11)) if count is None else count
    image = _texture(rng, width, height)
    for _ in range(int(rng.integers(2, 7))):  # clutter that is not an object
        start = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(image, start, end, _colour(rng), int(rng.integers(1, 4)), cv2.LINE_AA)
    owner = np.zeros((height, width), dtype=np.int32)
    painted = []
    for index in range(count):
        category = CATEGORIES[int(rng.integers(0, len(CATEGORIES)))]
        inside = _shape(category.name, rng, width, height).astype(bool)
        if not inside.any():
            continue
        texture = _texture(rng, width, height)
        image[inside] = texture[inside]
        owner[inside] = index + 1
        painted.append((index + 1, category.id, int(inside.sum())))
    image = cv2.GaussianBlur(image, (3, 3), 0)
    noise = rng.normal(0.0, rng.uniform(3, 10), image.shape)
    image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    instances = []
    for key, category_id, drawn in painted:
        mask = owner == key
        visible = int(mask.sum())
        if visible >= 40 and visible >= 0.5 * drawn:
            instances.append((category_id, mask))
    return image, instances


def write_set(folder: str | Path, count: int, seed: int) -> Path:
    """`count` images (PNG) and their COCO file in `folder`; returns the COCO file's path."""
    from annotator.io.coco import save_coco

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dataset = Dataset()
    dataset.put_categories(CATEGORIES, notify=False)
    rng = np.random.default_rng(seed)
    instances = []
    for image_id in range(1, count + 1):
        image, objects = textured_image(rng)
        name = f"img_{image_id:04d}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        dataset.put_images([Image(image_id, name, image.shape[1], image.shape[0])], notify=False)
        for category_id, mask in objects:
            geometry = Mask.from_array(mask.astype(np.uint8))
            instances.append(
                Instance(len(instances) + 1, image_id, category_id, geometry, review=Review.ACCEPTED)
            )
    dataset.put_instances(instances, notify=False)
    path = folder / "annotations.json"
    save_coco(dataset, path, rle=True)
    return path


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A full-size texture in two or three random colours: stripes, checkers, blobs or dots."""
    kind = int(rng.integers(0, 4))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    u = xs * np.cos(angle) + ys * np.sin(angle)
    v = -xs * np.sin(angle) + ys * np.cos(angle)
    period = rng.uniform(5, 24)
    if kind == 0:  # stripes
        weight = 0.5 + 0.5 * np.sin(2 * np.pi * u / period)
    elif kind == 1:  # checkers
        weight = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    elif kind == 2:  # smooth blobs
        cell = rng.uniform(8, 40)
        small = rng.random((max(int(height / cell), 2), max(int(width / cell), 2))).astype(np.float32)
        weight = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    else:  # dots
        weight = ((np.sin(2 * np.pi * u / period) * np.sin(2 * np.pi * v / period)) > 0.5).astype(np.float32)
    first, second = (np.asarray(_colour(rng), dtype=np.float32) for _ in range(2))
    texture = first * weight[..., None] + second * (1 - weight[..., None])
    return texture.clip(0, 255).astype(np.uint8)


def _shape(name: str, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    canvas = np.zeros((height, width), dtype=np.uint8)
    diameter = rng.uniform(*DIAMETER)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    angle = rng.uniform(0, 360)
    if name == "ellipse":  # aspect 0.5-1
        axes = (max(1, round(diameter / 2)), max(1, round(diameter / 2 * rng.uniform(0.5, 1.0))))
        cv2.ellipse(canvas, (round(cx), round(cy)), axes, angle, 0, 360, 1, -1, cv2.LINE_8)
    elif name == "rectangle":  # aspect 0.4-1, any rotation
        box = ((cx, cy), (diameter, diameter * rng.uniform(0.4, 1.0)), angle)
        cv2.fillPoly(canvas, [np.round(cv2.boxPoints(box)).astype(np.int32)], 1, cv2.LINE_8)
    else:  # triangle: corners about 120 degrees apart (+-25)
        corners = np.deg2rad(angle + np.array([0, 120, 240]) + rng.uniform(-25, 25, 3))
        radius = diameter / 2 * rng.uniform(0.8, 1.0, 3)
        points = np.stack([cx + radius * np.cos(corners), cy + radius * np.sin(corners)], axis=1)
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 1, cv2.LINE_8)
    return canvas
