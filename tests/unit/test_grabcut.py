"""GrabCut box-to-mask: finds an object on a textured background, stays inside its box, handles edges."""

from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from annotator.core.geometry import mask_iou
from annotator.core.grabcut import segment_box


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(90, 160, (240, 320, 3), dtype=np.uint8)  # grey texture
    truth = np.zeros((240, 320), np.uint8)
    cv2.ellipse(truth, (170, 120), (60, 40), 20, 0, 360, 1, -1)
    image[truth > 0] = rng.integers(0, 60, (int(truth.sum()), 3)) + np.array([180, 40, 20])  # a red object
    return image, truth


def test_the_object_in_the_box_is_found():
    image, truth = _scene()
    mask = segment_box(image, (100, 70, 240, 170))
    assert mask_iou(mask, truth) > 0.9
    assert not mask[:, :95].any() and not mask[:, 245:].any()  # nothing outside the box


def test_a_box_over_the_whole_image_or_off_its_edge_still_works():
    image, truth = _scene(1)
    assert mask_iou(segment_box(image, (-50, -50, 400, 300)), truth) > 0.8
    assert segment_box(image, (10, 10, 11, 11)).sum() == 0  # too small to segment: nothing


def test_small_boxes_on_a_real_photo_give_the_object_not_nothing(testdata):
    """GrabCut from a rectangle alone gave an empty mask for most small COCO boxes (its colour models had
    too few pixels); the person then got "Nothing found there". Boxes of one COCO val2017 photo."""
    import orjson

    folder = testdata / "isat_coco_tiny"
    coco = orjson.loads((folder / "coco_tiny.json").read_bytes())
    image = coco["images"][0]
    pixels = cv2.cvtColor(cv2.imread(str(folder / "images" / image["file_name"])), cv2.COLOR_BGR2RGB)
    ious = []
    for annotation in coco["annotations"]:
        if annotation["image_id"] != image["id"] or annotation["iscrowd"] or annotation["area"] < 200:
            continue
        rles = mask_utils.frPyObjects(annotation["segmentation"], image["height"], image["width"])
        truth = mask_utils.decode(mask_utils.merge(rles))
        x, y, w, h = annotation["bbox"]
        mask = segment_box(pixels, (x, y, x + w, y + h))
        assert mask.any(), f"annotation {annotation['id']}: nothing found in a {w:.0f}x{h:.0f} box"
        ious.append(mask_iou(mask, truth))
    assert len(ious) >= 5 and np.median(ious) >= 0.5, ious
