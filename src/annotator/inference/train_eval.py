"""Validation mask AP during training: the model's detections on held-out images, scored by COCOeval.

The model runs as torchvision's `model.eval()` forward (score >= 0.05, at most 100 detections, masks
pasted at the image's own resolution, > 0.5), as torchvision's reference evaluation does; the ground
truth is the held-out instances as they would be exported. AP is COCOeval's segm AP@[.50:.95], AP50 its
AP at IoU 0.5 (`core.evaluation`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pycocotools import mask as mask_utils

from annotator.core.evaluation import evaluate, ground_truth
from annotator.core.training_set import TrainingItem
from annotator.inference.train_data import TrainingImages


@dataclass(frozen=True)
class Validation:
    """A model's scores on the validation images, and its detections there as COCO results (RLE counts
    as text): predictions on images it did not train on, which the label audit can use."""

    ap: float
    ap50: float
    predictions: list[dict]

    @property
    def scores(self) -> tuple[float, float]:
        return self.ap, self.ap50


def validation_ap(
    model: torch.nn.Module,
    images: TrainingImages,
    label_to_category: Sequence[int],
    *,
    device: torch.device,
    autocast: Callable[[], object],
    cancelled: Callable[[], bool] = lambda: False,
) -> Validation | None:
    """`model` scored on `images` (None when cancelled); leaves the model in eval mode."""
    model.eval()
    predictions: list[dict] = []
    with torch.no_grad():
        for index in range(len(images)):
            if cancelled():
                return None
            sample = images[index]
            with autocast():
                output = model([sample.image.to(device)])[0]
            item = images.items[index]
            predictions += _results(output, item, label_to_category, sample.image.shape[1:])
    gt = ground_truth(_ground_truth(images.items))
    stats = evaluate(gt, predictions, iou_type="segm").stats
    for prediction in predictions:
        prediction["segmentation"]["counts"] = prediction["segmentation"]["counts"].decode("ascii")
    # COCOeval's -1 (nothing to measure) counts as 0
    return Validation(max(stats[0], 0.0), max(stats[1], 0.0), predictions)


def _results(output: dict, item: TrainingItem, label_to_category: Sequence[int], shape) -> list[dict]:
    """COCO results for one image, masks scaled back to the image's recorded size if it was shrunk."""
    height, width = item.image.height, item.image.width
    masks = output["masks"][:, 0].float()
    if tuple(shape) != (height, width) and masks.shape[0]:
        masks = torch.nn.functional.interpolate(masks[:, None], size=(height, width), mode="bilinear")[:, 0]
    binary = (masks > 0.5).cpu().numpy().astype(np.uint8)
    results = []
    for mask, label, score in zip(binary, output["labels"].tolist(), output["scores"].tolist(), strict=True):
        rle = mask_utils.encode(np.asfortranarray(mask))
        results.append(
            {
                "image_id": item.image.id,
                "category_id": int(label_to_category[label]),
                "segmentation": rle,
                "score": float(score),
            }
        )
    return results


def _ground_truth(items: Sequence[TrainingItem]) -> dict:
    images, annotations, categories = [], [], {}
    for item in items:
        image = item.image
        images.append(
            {"id": image.id, "width": image.width, "height": image.height, "file_name": image.file_name}
        )
        for inst in item.instances:
            rle = inst.geometry.to_rle(image.height, image.width).as_coco()
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image.id,
                    "category_id": inst.category_id,
                    "segmentation": rle,
                    "area": float(mask_utils.area(rle)),
                    "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                    "iscrowd": 0,
                }
            )
            categories[inst.category_id] = {"id": inst.category_id, "name": str(inst.category_id)}
    return {"images": images, "annotations": annotations, "categories": list(categories.values())}
