"""A synthetic instance-segmentation set: textured ellipses, rectangles and triangles on textured ground.

Why: the training benchmark needs a labelled set with exact masks that a model can learn in minutes on a
CPU, and that no pretrained weight has seen. The class is the shape; colour and texture are not cues,
since objects and background draw from the same textures (stripes at any angle and period, checkers,
smooth colour blobs, dots) in random colours. Objects overlap: each mask is the object's visible pixels,
and an object less than half visible is left out of the labels (as a person would skip it).

`write_set(folder, count, seed)` writes PNG images and a COCO file `annotations.json` whose category ids
are 3, 7 and 12 (not 1..3), so a benchmark also checks that ids are never renumbered.

`camouflage=True` draws a harder variant in which colour does not separate object from ground: every
object is filled with the background's own texture kind and two colours, only turned and at another
period, so a person still sees the outline (the pattern breaks there) but a colour model
(GrabCut's) finds the same colours inside and outside. Background and objects are stripes, checkers or
dots (smooth blobs have no orientation to break).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from annotator.core.geometry import Mask
from annotator.core.model import Category, Dataset, Image, Instance, Review

CATEGORIES = (Category(3, "ellipse"), Category(7, "rectangle"), Category(12, "triangle"))
WIDTH, HEIGHT = 384, 288
DIAMETER = (28, 110)  # object size in pixels at 384x288


def textured_image(
    rng: np.random.Generator,
    width: int = WIDTH,
    height: int = HEIGHT,
    *,
    count: int | None = None,
    camouflage: bool = False,
) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """An (height, width, 3) uint8 RGB image and its instances [(category id, bool mask)]."""
    count = int(rng.integers(3, 11)) if count is None else count
    ground = _Pattern.draw(rng, camouflage=camouflage)
    image = ground.render(width, height, rng)
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
        pattern = ground.turned(rng) if camouflage else _Pattern.draw(rng)
        texture = pattern.render(width, height, rng)
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


def write_set(folder: str | Path, count: int, seed: int, *, camouflage: bool = False) -> Path:
    """`count` images (PNG) and their COCO file in `folder`; returns the COCO file's path."""
    from annotator.io.coco import save_coco

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dataset = Dataset()
    dataset.put_categories(CATEGORIES, notify=False)
    rng = np.random.default_rng(seed)
    instances = []
    for image_id in range(1, count + 1):
        image, objects = textured_image(rng, camouflage=camouflage)
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


@dataclass(frozen=True)
class _Pattern:
    """A texture's parameters, so that an object can take the ground's kind and colours, turned."""

    kind: int  # 0 stripes, 1 checkers, 2 smooth blobs, 3 dots
    angle: float
    period: float
    colours: tuple[tuple[int, int, int], ...] | None = None  # None: drawn when rendered

    @classmethod
    def draw(cls, rng: np.random.Generator, *, camouflage: bool = False) -> _Pattern:
        kind = int(rng.choice((0, 1, 3))) if camouflage else int(rng.integers(0, 4))
        angle, period = rng.uniform(0, np.pi), rng.uniform(5, 24)
        if not camouflage:
            return cls(kind, angle, period)
        while True:  # two colours a person tells apart, else the pattern (and the outline) fades
            colours = (_colour(rng), _colour(rng))
            if np.abs(np.subtract(*colours)).sum() >= 180:
                return cls(kind, angle, rng.uniform(6, 16), colours)

    def turned(self, rng: np.random.Generator) -> _Pattern:
        """The same kind and colours, turned and at 0.6-0.8 or 1.25-1.6 times the period.

        Stripes turn by 35-90 degrees; checkers and dots look the same a quarter turn later, so by 25-65.
        """
        degrees = rng.uniform(35, 90) if self.kind == 0 else rng.uniform(25, 65)
        factor = rng.uniform(0.6, 0.8) if rng.random() < 0.5 else rng.uniform(1.25, 1.6)
        return replace(
            self, angle=self.angle + rng.choice((-1, 1)) * np.deg2rad(degrees), period=self.period * factor
        )

    def render(self, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
        """A full-size texture in two random colours: stripes, checkers, blobs or dots."""
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        u = xs * np.cos(self.angle) + ys * np.sin(self.angle)
        v = -xs * np.sin(self.angle) + ys * np.cos(self.angle)
        period = self.period
        if self.kind == 0:  # stripes
            weight = 0.5 + 0.5 * np.sin(2 * np.pi * u / period)
        elif self.kind == 1:  # checkers
            weight = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
        elif self.kind == 2:  # smooth blobs
            cell = rng.uniform(8, 40)
            small = rng.random((max(int(height / cell), 2), max(int(width / cell), 2))).astype(np.float32)
            weight = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)
        else:  # dots
            dots = np.sin(2 * np.pi * u / period) * np.sin(2 * np.pi * v / period)
            weight = (dots > 0.5).astype(np.float32)
        colours = self.colours or (_colour(rng), _colour(rng))
        first, second = (np.asarray(c, dtype=np.float32) for c in colours)
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
