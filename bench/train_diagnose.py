"""Where a trained model falls short on the held-out set: mask AP beside box AP, and both again with the
classes ignored (every detection and instance as one class), so a low AP is traced to finding objects,
outlining them or naming them.

    PYTHONPATH=src:bench python bench/train_diagnose.py MODEL.pt HELDOUT/annotations.json
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils

from annotator.core.evaluation import evaluate, ground_truth
from annotator.core.training_set import select_training_set
from annotator.inference.models import load_checkpoint
from annotator.inference.train_data import TrainingImages
from annotator.inference.train_eval import _ground_truth, _results
from annotator.io.dataset_files import load_dataset_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("heldout", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_checkpoint(args.model).model.eval()
    held = select_training_set(load_dataset_file(args.heldout).dataset, val_split=0.0)
    label_of = {c.id: i for i, c in enumerate(held.categories, start=1)}
    images = TrainingImages(held.train, args.heldout.parent, label_of, max_side=10_000)
    predictions = []
    with torch.no_grad():
        for index in range(len(images)):
            sample = images[index]
            output = model([sample.image])[0]
            results = _results(output, images.items[index], held.label_to_category, sample.image.shape[1:])
            for result in results:
                result["bbox"] = [float(v) for v in mask_utils.toBbox(result["segmentation"])]
            predictions += results
    truth = _ground_truth(images.items)
    one_class = copy.deepcopy(truth)
    for ann in one_class["annotations"]:
        ann["category_id"] = 1
    one_class["categories"] = [{"id": 1, "name": "object"}]
    agnostic = [{**p, "category_id": 1} for p in predictions]
    print(
        f"{args.model}: {len(predictions)} detections (score >= 0.05) for {len(truth['annotations'])} instances"
    )
    for name, gt, preds in (("classes", truth, predictions), ("one class", one_class, agnostic)):
        for iou in ("segm", "bbox"):
            stats = evaluate(ground_truth(gt), preds, iou_type=iou).stats
            print(f"  {name:9} {iou}: AP {stats[0]:.3f} AP50 {stats[1]:.3f} AP75 {stats[2]:.3f} "
                  f"AR100 {stats[8]:.3f} APsmall {stats[3]:.3f} APmedium {stats[4]:.3f}")  # fmt: skip
    scores = np.array([p["score"] for p in predictions])
    print(f"  detections per image {len(predictions) / len(images):.1f}, score >= 0.5: "
          f"{(scores >= 0.5).sum() / len(images):.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
