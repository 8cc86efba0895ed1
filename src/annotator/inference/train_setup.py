"""The model a training run starts from: its settings, and weights from scratch, COCO or a checkpoint.

New classes: the box and mask predictors are rebuilt for the data's classes; their rows for a class the
starting weights already know (same category id and name) are copied, so a second round keeps what the
first learned, and a COCO class the project names the same way ("person", id 1) starts from COCO.
Everything else comes from the starting weights, which must be the same architecture.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.models.detection import MaskRCNN

from annotator.core.geometry import area
from annotator.core.model import Category
from annotator.core.training_set import TrainingItem
from annotator.inference.architectures import LIGHT_ARCHITECTURE, ModelSettings, build, default_settings
from annotator.inference.checkpoint_file import check_state, read_payload
from annotator.inference.models import (
    Checkpoint,
    coco_categories,
    coco_settings,
    read_checkpoint,
    resolve_coco_weights,
)
from annotator.inference.train_config import WEIGHTS_COCO, TrainConfig
from annotator.io.errors import DatasetError

# Rows of these tensors are per class (label index); the bbox regressor has 4 rows per class.
_PREDICTOR_ROWS = {
    "roi_heads.box_predictor.cls_score.weight": 1,
    "roi_heads.box_predictor.cls_score.bias": 1,
    "roi_heads.box_predictor.bbox_pred.weight": 4,
    "roi_heads.box_predictor.bbox_pred.bias": 4,
    "roi_heads.mask_predictor.mask_fcn_logits.weight": 1,
    "roi_heads.mask_predictor.mask_fcn_logits.bias": 1,
}

DEFAULT_LIGHT_INPUT = 640  # the light model's largest default long side
MEDIAN_OBJECT, SMALL_OBJECT = 28.0, 16.0  # pixels across (square root of the area) at the input
MAX_SIZED_IMAGES = 500  # images whose objects are measured to choose the input size


@dataclass(frozen=True)
class StartingPoint:
    """A model ready to train, its settings, the history it brings, and where it came from."""

    model: MaskRCNN
    settings: ModelSettings
    history: tuple[Mapping, ...]
    source: str  # "scratch", "coco" or the checkpoint's path
    kept_classes: int  # classes whose predictor rows came from the starting weights


def scratch_settings(
    base: str, *, num_classes: int, input_size: int, small_object: float | None = None
) -> ModelSettings:
    """The measured from-scratch recipe for `base` (docs/decisions/0010-training-recipe.md).

    The R50 models keep torchvision's settings at `input_size`. The light model: a 128-channel FPN over
    ResNet-18's stages 2-4 (strides 8-64: the stride-4 level and torchvision's 256-channel 3x3
    convolutions on it cost more than the whole body), GroupNorm in the FPN and the mask head (from
    scratch, the unnormalised heads learned far slower), a 128-channel mask head, a 512-wide box head,
    anchors fitted to the objects (`anchor_sizes`), and smaller RPN and RoI samples and proposal counts.
    `small_object`: the tenth percentile of the objects' sizes at the input, in pixels, when known.
    """
    settings = default_settings(base, num_classes=num_classes).replace(
        min_size=input_size, max_size=input_size
    )
    if base != LIGHT_ARCHITECTURE:
        return settings
    return settings.replace(
        returned_layers=(2, 3, 4),
        anchor_sizes=anchor_sizes(input_size, small_object),
        fpn_channels=128,
        mask_head_channels=128,
        box_head_size=512,
        head_norm="gn",
        rpn_batch_size_per_image=128,
        box_batch_size_per_image=64,
        rpn_pre_nms_top_n_train=600,
        rpn_post_nms_top_n_train=300,
        rpn_pre_nms_top_n_test=500,
        rpn_post_nms_top_n_test=300,
    )


def anchor_sizes(input_size: int, small_object: float | None) -> tuple[int, ...]:
    """One anchor per pyramid level (strides 8-64), doubling: the smallest is the small objects' size
    (the tenth percentile at the input) as a power of two in [8, 64], so the small objects have an
    anchor their size; torchvision's sizes scaled by input/800 when the objects are unknown (at 256
    their 20 px smallest anchor is larger than the 16 px objects the input rule allows)."""
    if small_object is None or not math.isfinite(small_object):
        return tuple(max(8, round(size * input_size / 800)) for size in (64, 128, 256, 512))
    first = 2 ** round(math.log2(min(64.0, max(8.0, small_object))))
    return tuple(first * 2**level for level in range(4))


def default_input_size(base: str, items: Sequence[TrainingItem]) -> int:
    """The input's long side when none is given: torchvision's 1333 for the R50 models; for the light
    one, the images shrunk as far as the objects allow (the median object at least 28 pixels across,
    the smallest tenth at least 16: below that a stride-8 pyramid loses them), never enlarged, at most
    640, the nearest multiple of 32. Cost grows with the pixels: on the synthetic set 256 learned as
    fast per CPU-minute as 288 (the rule's choice when it rounded up) and 384, at less cost per image."""
    if base != LIGHT_ARCHITECTURE:
        return 1333
    if not items:
        return DEFAULT_LIGHT_INPUT
    long_side = _median_long_side(items)
    sides = _object_sides(items)
    scale = 1.0
    if sides.size:
        median, tenth = float(np.median(sides)), float(np.percentile(sides, 10))
        scale = min(1.0, max(MEDIAN_OBJECT / max(median, 1.0), SMALL_OBJECT / max(tenth, 1.0)))
    size = min(DEFAULT_LIGHT_INPUT, long_side * scale)
    return int(max(128, round(size / 32) * 32))


def small_object_size(items: Sequence[TrainingItem], input_size: int) -> float | None:
    """The tenth percentile of the objects' sizes (square root of the area) once each image is scaled
    to `input_size` on its long side, as the model's resize does; None without objects."""
    sizes = [
        math.sqrt(_area(inst, item)) * input_size / max(item.image.width, item.image.height, 1)
        for item in items[:MAX_SIZED_IMAGES]
        for inst in item.instances
    ]
    return float(np.percentile(sizes, 10)) if sizes else None


def _median_long_side(items: Sequence[TrainingItem]) -> int:
    long_sides = sorted(max(item.image.width, item.image.height) for item in items)
    return long_sides[len(long_sides) // 2]


def _object_sides(items: Sequence[TrainingItem]) -> np.ndarray:
    return np.sqrt([_area(inst, item) for item in items[:MAX_SIZED_IMAGES] for inst in item.instances])


def _area(instance, item: TrainingItem) -> float:
    return float(area(instance.geometry, item.image.height, item.image.width))


def starting_point(
    config: TrainConfig,
    categories: Sequence[Category],
    *,
    input_size: int | None,
    items: Sequence[TrainingItem],
) -> StartingPoint:
    """The model to train for `config` on `categories` (label i + 1 is categories[i])."""
    num_classes = len(categories) + 1
    if config.weights == WEIGHTS_COCO:
        return _from_coco(config.base, categories, input_size)
    if config.weights is not None:
        return _from_checkpoint(read_checkpoint(Path(config.weights)), config, categories, input_size)
    size = input_size or default_input_size(config.base, items)
    small = small_object_size(items, size)
    settings = _with_overrides(
        scratch_settings(config.base, num_classes=num_classes, input_size=size, small_object=small), config
    )
    if config.base != LIGHT_ARCHITECTURE and input_size is None:
        settings = settings.replace(min_size=800, max_size=1333)  # torchvision's own rule
    return StartingPoint(build(settings), settings, (), "scratch", 0)


def _from_coco(base: str, categories: Sequence[Category], input_size: int | None) -> StartingPoint:
    if base == LIGHT_ARCHITECTURE:
        raise DatasetError(
            None,
            f"--weights coco: torchvision has no COCO weights for {base}; use --base maskrcnn_resnet50_fpn",
        )
    path = resolve_coco_weights(base)
    state = read_payload(path)
    check_state(state, coco_settings(base), path)
    pretrained = default_settings(base, num_classes=len(categories) + 1, pretrained=True)
    settings = pretrained.replace(bn_eps=coco_settings(base).bn_eps)
    if input_size is not None:
        settings = settings.replace(min_size=input_size, max_size=input_size)
    source_labels = tuple(range(91))
    model, kept = _transfer(state, settings, source_labels, coco_categories(base), categories, path)
    return StartingPoint(model, settings, (), WEIGHTS_COCO, kept)


def _from_checkpoint(
    checkpoint: Checkpoint, config: TrainConfig, categories: Sequence[Category], input_size: int | None
) -> StartingPoint:
    settings = _with_overrides(checkpoint.settings.replace(num_classes=len(categories) + 1), config)
    if input_size is not None:
        settings = settings.replace(min_size=input_size, max_size=input_size)
    model, kept = _transfer(
        checkpoint.state_dict, settings, checkpoint.label_to_category, checkpoint.categories, categories,
        checkpoint.path,
    )  # fmt: skip
    return StartingPoint(model, settings, checkpoint.history, str(checkpoint.path), kept)


def _with_overrides(settings: ModelSettings, config: TrainConfig) -> ModelSettings:
    known = {f.name for f in dataclasses.fields(settings)}
    unknown = sorted(set(config.model) - known)
    if unknown:  # not Python's "__init__() got an unexpected keyword argument"
        raise DatasetError(
            None, f"--set {unknown[0]}: no such model setting; known: {', '.join(sorted(known))}"
        )
    try:
        return settings.replace(**config.model) if config.model else settings
    except (TypeError, ValueError) as exc:
        raise DatasetError(None, f"bad model setting: {exc}") from None


def _transfer(
    state: Mapping[str, torch.Tensor],
    settings: ModelSettings,
    source_labels: Sequence[int],
    source_categories: Sequence[Category],
    categories: Sequence[Category],
    path: Path,
) -> tuple[MaskRCNN, int]:
    """A model of `settings` with `state`'s weights, predictor rows mapped class by class."""
    model = build(settings)
    own = model.state_dict()
    names = {c.id: c.name.casefold() for c in source_categories}
    source_row = {(cid, names.get(cid)): label for label, cid in enumerate(source_labels) if label > 0}
    rows = [0] + [source_row.get((c.id, c.name.casefold()), -1) for c in categories]  # -1: new class
    merged = {}
    for name, value in state.items():
        if name not in own and name.endswith("num_batches_tracked"):
            continue  # frozen BatchNorm keeps no step count
        if name in _PREDICTOR_ROWS:
            merged[name] = _mapped_rows(own[name], value, rows, _PREDICTOR_ROWS[name])
        elif name in own and own[name].shape != value.shape:
            raise DatasetError(path, f"weights do not fit {settings.architecture}: {name} has another shape")
        else:
            merged[name] = value
    try:
        model.load_state_dict(merged, strict=False)
    except RuntimeError as exc:
        raise DatasetError(path, f"weights do not fit the model: {str(exc).splitlines()[0]}") from None
    return model.train(), sum(1 for row in rows[1:] if row >= 0)


def _mapped_rows(
    fresh: torch.Tensor, source: torch.Tensor, rows: Sequence[int], per_class: int
) -> torch.Tensor:
    """`fresh` with the blocks of `per_class` rows of each mapped class copied from `source`."""
    result = fresh.clone()
    for target, origin in enumerate(rows):
        if origin >= 0 and (origin + 1) * per_class <= source.shape[0]:
            result[target * per_class : (target + 1) * per_class] = source[
                origin * per_class : (origin + 1) * per_class
            ]
    return result
