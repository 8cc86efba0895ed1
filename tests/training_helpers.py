"""A trivially learnable training set and tiny model settings, so the real training loop runs in seconds.

Images are 64x48: a dark background with one red and one blue rectangle (category ids 5 and 9, not
1 and 2, so any renumbering shows). The model is the light architecture with narrow heads and few
proposals: the same code path as a real run, at a fraction of the cost.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from annotator.core.geometry import Polygons
from annotator.core.model import Category, Dataset, Image, Instance
from annotator.io.coco import save_coco

CATEGORIES = (Category(5, "red"), Category(9, "blue"))
WIDTH, HEIGHT = 64, 48

# ModelSettings overrides: narrow heads, few samples and proposals (the ResNet-18 body stays). No norm
# layers in the heads: at 16 channels GroupNorm normalises each channel alone, and the tiny set's loss
# fell to 0.64-0.71 of its start in 32 steps with it, 0.51-0.54 without (test_train_setup covers it).
TINY_MODEL = {
    "head_norm": "none",
    "fpn_channels": 16,
    "mask_head_channels": 16,
    "box_head_size": 64,
    "rpn_batch_size_per_image": 32,
    "box_batch_size_per_image": 16,
    "rpn_pre_nms_top_n_train": 100,
    "rpn_post_nms_top_n_train": 50,
    "rpn_pre_nms_top_n_test": 100,
    "rpn_post_nms_top_n_test": 50,
}


def write_rectangles(folder: Path, count: int = 8, *, seed: int = 0) -> Path:
    """`count` images and their COCO file `data.json` in `folder`; returns the file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    dataset = Dataset()
    dataset.put_categories(CATEGORIES, notify=False)
    instances = []
    for image_id in range(1, count + 1):
        pixels = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
        dataset.put_images([Image(image_id, f"im{image_id}.png", WIDTH, HEIGHT)], notify=False)
        for category, colour in zip(CATEGORIES, ((230, 30, 30), (30, 30, 230)), strict=True):
            x0, y0 = int(rng.integers(0, WIDTH - 24)), int(rng.integers(0, HEIGHT - 20))
            x1, y1 = x0 + int(rng.integers(12, 24)), y0 + int(rng.integers(10, 20))
            pixels[y0:y1, x0:x1] = colour
            ring = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
            instances.append(Instance(len(instances) + 1, image_id, category.id, Polygons((ring,))))
        cv2.imwrite(str(folder / f"im{image_id}.png"), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    dataset.put_instances(instances, notify=False)
    path = folder / "data.json"
    save_coco(dataset, path)
    return path


def tiny_config(data: Path, out: Path, **changes):
    """A TrainConfig for the tiny set: input 64, batch 2, no jitter or copy-paste (their losses are the
    plain set's), a short warm-up."""
    from annotator.inference.train_config import Recipe, TrainConfig

    recipe = Recipe(batch_size=2, warmup_steps=3, lr=1e-3, scale_jitter=(1.0, 1.0), copy_paste=0.0)
    values = {"data": data, "out": out, "epochs": 2, "input_size": 64, "val_split": 0.25, "recipe": recipe,
              "model": TINY_MODEL} | changes  # fmt: skip
    return TrainConfig(**values)
