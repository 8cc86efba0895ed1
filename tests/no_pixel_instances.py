"""A dataset whose instances include three that cover no pixels: a collinear polygon, an empty mask and
a polygon outside its image (what low-threshold pre-labelling and careless imports produce)."""

from __future__ import annotations

import numpy as np

from annotator.core.geometry import Mask, Polygons
from annotator.core.model import Category, Dataset, Image, Instance

H, W = 30, 40
EMPTY = {2, 3, 4}  # the ids of the instances of area 0; instance 1 is a 15 x 15 square


def dataset_with_empty_instances() -> Dataset:
    dataset = Dataset()
    dataset.put_categories([Category(1, "thing")])
    dataset.put_images([Image(1, "a.png", W, H)])
    square = Polygons((np.array([[5, 5], [20, 5], [20, 20], [5, 20]], np.float64),))
    collinear = Polygons((np.array([[0, 0], [10, 0], [20, 0]], np.float64),))
    outside = Polygons((np.array([[50, 50], [60, 50], [60, 60]], np.float64),))
    empty = Mask.from_array(np.zeros((H, W), np.uint8))
    geometries = {1: square, 2: collinear, 3: empty, 4: outside}
    dataset.put_instances([Instance(i, 1, 1, g, z=i) for i, g in geometries.items()])
    return dataset
