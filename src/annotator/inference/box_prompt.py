"""Box (and clicks) to mask with the loaded Mask R-CNN: the person's box is the proposal.

The image's FPN pyramid is computed once (`prepare`, when the image is shown) and kept for its last few
images; each box then costs only RoIAlign, the box head (to score the classes) and the mask head on that
one box, and pasting the 28x28 mask into the image: tens of milliseconds on a CPU instead of a whole
forward pass. Clicks refine the result (`core.grabcut.refine_mask` seeded with the model's mask, or the
box moved to take in a positive click: see `Refinement`, and bench/box_to_mask.py for which is better).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import torch
import torch.nn.functional as F

from annotator.core.geometry import Mask
from annotator.core.grabcut import refine_mask
from annotator.core.predictor import BoxMask, BoxPrompt, PredictOptions
from annotator.inference.predictor import TorchPredictor, paste_masks_in_boxes

CACHED_IMAGES = 2  # the image shown and the one before it
BOX_SCALE = 1.2  # a trained model segments boxes with the image this many times the size it learnt at
CLICK_MARGIN = 0.05  # of the box's size: how far past a positive click an enlarged box reaches


class Refinement(StrEnum):
    GRABCUT = "grabcut"  # GrabCut seeded with the model's mask, the clicks as sure object / background
    BOX = "box"  # the box grown to take in positive clicks, the mask head run again


@dataclass
class _Features:
    pixels: np.ndarray  # the image (GrabCut refinement reads it)
    shape: tuple[int, int]  # the image's (height, width)
    scale: float  # network input pixels per image pixel
    image_sizes: list[tuple[int, int]]
    pooling: OrderedDict


def box_input_options(trained: tuple[int, int] | None) -> PredictOptions:
    """The network input for segmenting boxes with a model trained by `annotator train` at long side S
    (`trained`, its (min, max) sizes): the image's long side at 1.2 S. Training scaled every image to
    S (times 0.5-1.5); the mask head's 14x14 RoI reads a box more finely on a larger image, up to a
    point. Median IoU of masks from ground-truth boxes (bench/box_to_mask.py, docs/decisions/0019), at
    S / 1.2 S / 1.5 S: a model trained at 640 on the camouflage set 0.844 / 0.854 / 0.826 (24 images:
    0.859 at 1.2 S, 0.847 at 1.5 S); at 384 on it 0.826 (1.2 S) / 0.805 (1.5 S); two trained at 256 on
    the plain set 0.871 and 0.863 (1.2 S) / 0.865 and 0.852 (1.5 S). At 1333 a model trained at 256
    gave 0.64. Other models (torchvision's COCO weights): their own defaults."""
    if trained is None:
        return PredictOptions()
    size = round(BOX_SCALE * max(trained))
    return PredictOptions(min_size=size, max_size=size)


class BoxSegmenter:
    """Masks for boxes on images whose features it keeps; one worker owns it (not thread-safe).

    `options`: the network input for every image; None: chosen per image by `box_input_options`."""

    def __init__(
        self,
        predictor: TorchPredictor,
        *,
        options: PredictOptions | None = None,
        refinement: Refinement = Refinement.GRABCUT,
    ) -> None:
        self.predictor = predictor
        self._fixed_input = options is not None
        self.options = options or PredictOptions()
        self.refinement = Refinement(refinement)
        self._cache: OrderedDict[object, _Features] = OrderedDict()
        loaded = predictor.loaded
        self._label_of = {cid: label for label, cid in enumerate(loaded.label_to_category) if label > 0}
        declared = {c.id for c in loaded.categories}
        self._labels = [label for cid, label in self._label_of.items() if cid in declared]

    def prepare(self, key: object, image: np.ndarray) -> None:
        """Compute and keep the image's features under `key` (an image id, a path)."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return
        height, width = image.shape[:2]
        options = self.options
        if not self._fixed_input:
            options = box_input_options(self.predictor.info.input_size)
        with torch.no_grad():
            images, _features, pooling = self.predictor.backbone_features(image, options)
        scale = images.image_sizes[0][0] / height
        self._cache[key] = _Features(image, (height, width), scale, images.image_sizes, pooling)
        while len(self._cache) > CACHED_IMAGES:
            self._cache.popitem(last=False)

    def is_prepared(self, key: object) -> bool:
        return key in self._cache

    def segment(self, key: object, image: np.ndarray | None, prompt: BoxPrompt) -> BoxMask:
        """The mask of the object in `prompt.box` on `image` (features computed first if not kept; None:
        the image prepared under `key`, KeyError if there is none)."""
        if image is not None:
            self.prepare(key, image)
        features = self._cache[key]
        self._cache.move_to_end(key)
        image = features.pixels
        result = self._model_mask(features, prompt.box, prompt)
        if not (prompt.positive or prompt.negative):
            return result
        if self.refinement is Refinement.BOX:
            grown = _box_taking_in(prompt.box, prompt.positive, features.shape)
            result = self._model_mask(features, grown, prompt)
            mask = result.mask.to_array()
            for x, y in prompt.negative:  # the mask head has no notion of "not here": cut the click's part
                mask = _without_part_at(mask, x, y)
            return BoxMask(Mask.from_array(mask), result.category_id, result.score)
        mask = refine_mask(
            image, prompt.box, result.mask.to_array(), positive=prompt.positive, negative=prompt.negative
        )
        return BoxMask(Mask.from_array(mask), result.category_id, result.score)

    # -- the heads on one box ---------------------------------------------------------------------
    def _model_mask(self, features: _Features, box, prompt: BoxPrompt) -> BoxMask:
        height, width = features.shape
        x0, x1 = sorted((float(box[0]), float(box[2])))
        y0, y1 = sorted((float(box[1]), float(box[3])))
        x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1)
        image_box = torch.tensor([[x0, y0, x1, y1]], device=self.predictor.device)
        scaled = image_box * features.scale
        with torch.no_grad():
            logits = self.predictor.box_head(features.pooling, scaled, features.image_sizes)
            scores = F.softmax(logits, -1)[0]
            probabilities = torch.sigmoid(
                self.predictor.mask_logits(features.pooling, scaled, features.image_sizes)
            )[0]
        label, category_id = self._choose(scores, probabilities, prompt)
        score = float(scores[label]) if label < scores.shape[0] else 0.0
        mask = paste_masks_in_boxes(
            probabilities[label][None, None], image_box, height, width, self.options.mask_threshold
        )[0]
        return BoxMask(mask, category_id, score)

    def _choose(self, scores: torch.Tensor, probabilities: torch.Tensor, prompt: BoxPrompt):
        """(mask channel, category id) for the prompt: the person's class when the model has it, the
        most decided channel when agnostic, else the class the box head scores best."""
        if prompt.agnostic:
            decided = (probabilities[self._labels] - 0.5).abs().mean(dim=(1, 2))
            label = self._labels[int(decided.argmax())]
            return label, None
        if prompt.category_id in self._label_of:
            label = self._label_of[prompt.category_id]
            return label, prompt.category_id
        if not self._labels:
            return 1, None
        label = self._labels[int(scores[self._labels].argmax())]
        return label, self.predictor.loaded.label_to_category[label]


def _box_taking_in(box, points, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """`box` grown just enough to contain `points` (and a margin past each)."""
    if not points:
        return box
    x0, x1 = sorted((box[0], box[2]))
    y0, y1 = sorted((box[1], box[3]))
    mx, my = (x1 - x0) * CLICK_MARGIN, (y1 - y0) * CLICK_MARGIN
    for x, y in points:
        x0, x1 = min(x0, x - mx), max(x1, x + mx)
        y0, y1 = min(y0, y - my), max(y1, y + my)
    height, width = shape
    return (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))


def _without_part_at(mask: np.ndarray, x: float, y: float) -> np.ndarray:
    """The mask without the connected part that holds pixel (x, y) (nothing changes if none does)."""
    import cv2

    col, row = int(x), int(y)
    if not (0 <= row < mask.shape[0] and 0 <= col < mask.shape[1]) or not mask[row, col]:
        return mask
    _count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return (mask.astype(bool) & (labels != labels[row, col])).astype(np.uint8)
