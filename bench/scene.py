"""The scene the canvas and editing benchmarks share: a 4000x3000 image with 500 instances."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtGui import QImage

from annotator.core.geometry import Mask, Polygons
from annotator.core.model import Category, Dataset, Image, Instance, Source, default_z_order
from annotator.gui.images import pyramid, rgb_image

WIDTH, HEIGHT, COUNT = 4000, 3000, 500
VIEW = (1600, 1000)


def make_dataset(seed: int = 0) -> Dataset:
    """500 star-shaped blobs, 50-200 vertices, sizes log-uniform (many small, a few large), 20 classes;
    half are predictions (dashed outlines)."""
    rng = np.random.default_rng(seed)
    dataset = Dataset()
    dataset.put_images([Image(1, "big.jpg", WIDTH, HEIGHT)], notify=False)
    dataset.put_categories([Category(c, f"class {c}") for c in range(1, 21)], notify=False)
    instances = []
    for index in range(1, COUNT + 1):
        n = int(rng.integers(50, 201))
        cx, cy = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
        radius = float(np.exp(rng.uniform(np.log(15), np.log(500))))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = radius * (0.75 + 0.25 * rng.random(n))
        ring = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
        source = Source.from_model("maskrcnn", float(rng.uniform(0.5, 1))) if index % 2 else Source()
        instances.append(Instance(index, 1, int(rng.integers(1, 21)), Polygons((ring,)), source=source))
    dataset.put_instances(instances, notify=False)
    z = default_z_order({inst.id: dataset.area_of(inst) for inst in instances})
    dataset.put_instances([inst.with_changes(z=z[inst.id]) for inst in instances], notify=False)
    return dataset


def make_levels() -> list[QImage]:
    """A smooth random photo-like image as the canvas's pyramid."""
    rng = np.random.default_rng(1)
    small = (rng.random((HEIGHT // 50, WIDTH // 50, 3)) * 255).astype(np.uint8)
    pixels = cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    return pyramid(rgb_image(pixels).convertToFormat(QImage.Format.Format_RGB32))


def with_next_image(dataset: Dataset, seed: int = 1) -> Dataset:
    """`dataset` plus image 2: another 500 instances (of `make_dataset(seed)`), the image shown next."""
    other = make_dataset(seed)
    dataset.put_images([Image(2, "next.jpg", WIDTH, HEIGHT)], notify=False)
    moved = [inst.with_changes(id=inst.id + COUNT, image_id=2) for inst in other.instances_of(1)]
    dataset.put_instances(moved, notify=False)
    return dataset


def as_masks(dataset: Dataset, per_image: int) -> Dataset:
    """The same scene as pre-labelling leaves it: on each image its first `per_image` instances (by id;
    torchvision's Mask R-CNN keeps at most 100 per image), each an RLE mask of its polygon."""
    masked = Dataset()
    masked.put_images(list(dataset.images.values()), notify=False)
    masked.put_categories(list(dataset.categories.values()), notify=False)
    for image in dataset.images.values():
        kept = sorted(dataset.instances_of(image.id), key=lambda inst: inst.id)[:per_image]
        masked.put_instances(
            [
                inst.with_changes(geometry=Mask(inst.geometry.to_rle(image.height, image.width)))
                for inst in kept
            ],
            notify=False,
        )
    return masked
