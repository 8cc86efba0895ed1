"""Datasets built from core types, and pixel reading, for the canvas tests."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from annotator.core.geometry import Mask, Polygons
from annotator.core.model import Category, Dataset, Image, Instance, Source
from annotator.gui.images import pyramid, rgb_image

WIDTH, HEIGHT = 200, 150
IMAGE_RGB = (40, 90, 160)


def square(x0: float, y0: float, x1: float, y1: float) -> Polygons:
    return Polygons((np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64),))


def ring_mask(cx: int, cy: int, outer: int, inner: int) -> Mask:
    """A square ring: a mask with a hole in the middle."""
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[cy - outer : cy + outer, cx - outer : cx + outer] = 1
    mask[cy - inner : cy + inner, cx - inner : cx + inner] = 0
    return Mask.from_array(mask)


def sample_dataset() -> Dataset:
    """One image: a large square (class 1), a small square over it (class 2), a ring mask (class 3)."""
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", WIDTH, HEIGHT)])
    dataset.put_categories(
        [
            Category(1, "road", color=(255, 0, 0)),
            Category(2, "car", color=(0, 255, 0)),
            Category(3, "donut", color=(255, 255, 0)),
        ]
    )
    dataset.put_instances(
        [
            Instance(1, 1, 1, square(10, 10, 110, 110), z=0),
            Instance(2, 1, 2, square(40, 40, 60, 60), z=1, source=Source.from_model("maskrcnn", 0.9)),
            Instance(3, 1, 3, ring_mask(160, 100, 30, 12), z=2),
        ]
    )
    return dataset


def image_levels(
    rgb: tuple[int, int, int] = IMAGE_RGB, size: tuple[int, int] = (WIDTH, HEIGHT)
) -> list[QImage]:
    pixels = np.empty((size[1], size[0], 3), np.uint8)
    pixels[:] = rgb
    return pyramid(rgb_image(pixels).convertToFormat(QImage.Format.Format_RGB32))


def viewport_pixel(canvas, x: float, y: float) -> tuple[int, int, int]:
    """The rendered colour at image pixel (x, y), read from a fresh render of the viewport."""
    frame = canvas.viewport().grab().toImage()
    point = canvas.mapFromScene(x + 0.5, y + 0.5)
    color = frame.pixelColor(point)
    return (color.red(), color.green(), color.blue())


def blend(fill: tuple[int, int, int], image: tuple[int, int, int], alpha: float) -> tuple[float, ...]:
    return tuple(alpha * f + (1 - alpha) * i for f, i in zip(fill, image, strict=True))
