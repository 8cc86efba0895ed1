"""Predictions made from real COCO ground truth by perturbing it (shifted, eroded, dilated, dropped,
wrong class, doubled, and extra ones out of nowhere), as COCO results with random scores."""

from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

KINDS = ("keep", "shift", "erode", "dilate", "drop", "wrong_class", "double")


def perturbed_predictions(gt: COCO, seed: int, *, extra_per_image: int = 3) -> list[dict]:
    rng = np.random.default_rng(seed)
    cat_ids = gt.getCatIds()
    results = []
    for ann in gt.dataset["annotations"]:
        mask = gt.annToMask(ann)
        kind = rng.choice(KINDS)
        if kind == "drop":
            continue
        if kind == "shift":
            mask = np.roll(mask, int(rng.integers(-12, 13)), axis=int(rng.integers(0, 2)))
        elif kind in ("erode", "dilate"):
            op = cv2.erode if kind == "erode" else cv2.dilate
            mask = op(mask, np.ones((5, 5), np.uint8), iterations=int(rng.integers(1, 4)))
        category = int(rng.choice(cat_ids)) if kind == "wrong_class" else ann["category_id"]
        for _ in range(2 if kind == "double" else 1):
            results.append(result(ann["image_id"], category, mask, float(rng.uniform(0.05, 1))))
    for image_id, image in gt.imgs.items():
        for _ in range(extra_per_image):
            mask = np.zeros((image["height"], image["width"]), np.uint8)
            x, y = int(rng.integers(0, image["width"] - 40)), int(rng.integers(0, image["height"] - 40))
            mask[y : y + int(rng.integers(5, 40)), x : x + int(rng.integers(5, 40))] = 1
            results.append(result(image_id, int(rng.choice(cat_ids)), mask, float(rng.uniform(0.05, 1))))
    return results


def result(image_id: int, category_id: int, mask: np.ndarray, score: float) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode()
    return {"image_id": image_id, "category_id": category_id, "segmentation": rle, "score": score}
