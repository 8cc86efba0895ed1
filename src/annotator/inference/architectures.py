"""The Mask R-CNN architectures we build, and every setting needed to rebuild one exactly.

All are torchvision's `MaskRCNN` on torchvision's backbone builders. `ModelSettings` is what a checkpoint
stores besides the weights: the architecture, the class count, the input size, the norm layers and the
anchor, sampler and proposal sizes. It is plain data (str, int, float, lists), checked against sane bounds
when read from a file, so that a hostile checkpoint is refused before any tensor is allocated.

The light architecture, `maskrcnn_resnet18_fpn`, is the one measured to learn fastest on a CPU from
scratch (docs/decisions/0010-training-recipe.md): a ResNet-18 body, an FPN and torchvision's heads, at
the widths, levels and head norm layers its settings give.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet18, resnet50
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN, _resnet_fpn_extractor
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import FrozenBatchNorm2d, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from annotator.core.predictor import MODEL_NAMES

LIGHT_ARCHITECTURE = "maskrcnn_resnet18_fpn"
ARCHITECTURES = (*MODEL_NAMES, LIGHT_ARCHITECTURE)
NORMS = ("frozen_bn", "bn", "gn")
HEAD_NORMS = ("none", "bn", "gn")
MAX_CLASSES = 4096  # label indices a checkpoint may declare, background included
MAX_INPUT_SIZE = 4096
_GN_GROUPS = 32


class SettingsError(ValueError):
    """Settings that no sane model has; the message names the setting."""


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """Everything that decides a model's shape and behaviour, besides its weights.

    `min_size`/`max_size`: torchvision's input rule (short side scaled to `min_size` unless the long side
    would pass `max_size`). `norm`: the body's norm layers (`frozen_bn` for fine-tuning pretrained
    weights, `bn` or `gn` from scratch); `bn_eps` as the weights were trained with (0 for torchvision's
    COCO R50-FPN v1). The sampler and proposal counts only act in training; the test-time proposal counts
    are torchvision's defaults unless set.
    """

    architecture: str
    num_classes: int  # background included
    min_size: int = 800
    max_size: int = 1333
    norm: str = "bn"
    bn_eps: float = 1e-5
    trainable_layers: int = 5
    anchor_sizes: tuple[int, ...] = (32, 64, 128, 256, 512)
    rpn_batch_size_per_image: int = 256
    box_batch_size_per_image: int = 512
    rpn_pre_nms_top_n_train: int = 2000
    rpn_post_nms_top_n_train: int = 2000
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_test: int = 1000
    # The light architecture's widths and pyramid levels (torchvision's values for the R50 models):
    returned_layers: tuple[int, ...] = (1, 2, 3, 4)  # ResNet stages feeding the FPN (1: stride 4)
    fpn_channels: int = 256
    box_head_size: int = 1024
    box_head_convs: int = 0  # 0: torchvision's two-FC box head; N: N 3x3 convolutions then one FC
    box_roi_size: int = 7  # the box head's RoIAlign output, cells a side (the mask head's is 14)
    mask_head_channels: int = 256
    head_norm: str = "none"  # norm layers in the light model's FPN, mask head and conv box head: none, bn, gn

    def __post_init__(self) -> None:
        object.__setattr__(self, "anchor_sizes", tuple(int(s) for s in self.anchor_sizes))
        object.__setattr__(self, "returned_layers", tuple(int(s) for s in self.returned_layers))
        _check(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (lists, not tuples), so `torch.load(weights_only=True)` reads them back."""
        data = dataclasses.asdict(self)
        data["anchor_sizes"] = list(self.anchor_sizes)
        data["returned_layers"] = list(self.returned_layers)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSettings:
        """Read settings from a file; SettingsError names the first bad or unknown value."""
        if not isinstance(data, Mapping):
            raise SettingsError(f"settings must be a dict, got {type(data).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            values[name] = _typed(name, value, known[name].type)
        try:
            return cls(**values)
        except TypeError as exc:
            raise SettingsError(str(exc)) from None

    def replace(self, **changes: Any) -> ModelSettings:
        return dataclasses.replace(self, **changes)


def default_settings(architecture: str, *, num_classes: int, pretrained: bool = False) -> ModelSettings:
    """torchvision's own settings for `architecture`: FrozenBatchNorm and 3 trainable body stages when
    starting from pretrained weights, BatchNorm and every stage trainable from scratch (as its builders)."""
    if architecture not in ARCHITECTURES:
        raise SettingsError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    if pretrained:
        return ModelSettings(
            architecture=architecture,
            num_classes=num_classes,
            norm="bn" if architecture == "maskrcnn_resnet50_fpn_v2" else "frozen_bn",
            trainable_layers=3,
        )
    return ModelSettings(architecture=architecture, num_classes=num_classes)


def build(settings: ModelSettings) -> MaskRCNN:
    """A randomly initialised model as `settings` describe, in train mode (nothing is downloaded).

    Build it under `torch.device("meta")` to learn its parameter shapes without allocating them.
    """
    norm = _norm_layer(settings.norm, settings.bn_eps)
    levels = len(settings.anchor_sizes)
    anchors = AnchorGenerator(tuple((s,) for s in settings.anchor_sizes), ((0.5, 1.0, 2.0),) * levels)
    sizes = {
        "min_size": settings.min_size,
        "max_size": settings.max_size,
        "rpn_anchor_generator": anchors,
        "rpn_batch_size_per_image": settings.rpn_batch_size_per_image,
        "box_batch_size_per_image": settings.box_batch_size_per_image,
        "rpn_pre_nms_top_n_train": settings.rpn_pre_nms_top_n_train,
        "rpn_post_nms_top_n_train": settings.rpn_post_nms_top_n_train,
        "rpn_pre_nms_top_n_test": settings.rpn_pre_nms_top_n_test,
        "rpn_post_nms_top_n_test": settings.rpn_post_nms_top_n_test,
    }
    if settings.architecture == "maskrcnn_resnet50_fpn_v2":
        return _resnet50_fpn_v2(settings, norm, sizes)
    if settings.architecture == LIGHT_ARCHITECTURE:
        return _resnet18_fpn(settings, norm, sizes)
    backbone = _resnet_fpn_extractor(resnet50(norm_layer=norm), settings.trainable_layers)
    return MaskRCNN(backbone, num_classes=settings.num_classes, **sizes)


def _resnet18_fpn(settings: ModelSettings, norm: Any, sizes: dict[str, Any]) -> MaskRCNN:
    """ResNet-18 and an FPN of `fpn_channels` over `returned_layers`, as torchvision's
    `_resnet_fpn_extractor` makes it (which fixes 256 channels), with torchvision's heads at those widths."""
    body = resnet18(norm_layer=norm)
    trainable = ["layer4", "layer3", "layer2", "layer1", "conv1"][: settings.trainable_layers]
    if settings.trainable_layers == 5:
        trainable.append("bn1")
    for name, parameter in body.named_parameters():
        if all(not name.startswith(layer) for layer in trainable):
            parameter.requires_grad_(False)
    layers = settings.returned_layers
    head_norm = (
        None if settings.head_norm == "none" else _norm_layer(settings.head_norm, 1e-5, any_width=True)
    )
    backbone = BackboneWithFPN(
        body,
        {f"layer{k}": str(v) for v, k in enumerate(layers)},
        [64 * 2 ** (k - 1) for k in layers],
        settings.fpn_channels,
        extra_blocks=LastLevelMaxPool(),
        norm_layer=head_norm,
    )
    names = [str(v) for v in range(len(layers))]
    channels, head = settings.fpn_channels, settings.mask_head_channels
    return MaskRCNN(
        backbone,
        num_classes=None,
        box_roi_pool=MultiScaleRoIAlign(names, settings.box_roi_size, 2),
        box_head=_box_head(settings, head_norm),
        box_predictor=FastRCNNPredictor(settings.box_head_size, settings.num_classes),
        mask_roi_pool=MultiScaleRoIAlign(names, 14, 2),
        mask_head=MaskRCNNHeads(channels, [head] * 4, 1, norm_layer=head_norm),
        mask_predictor=MaskRCNNPredictor(head, head, settings.num_classes),
        **sizes,
    )


def _box_head(settings: ModelSettings, head_norm: Any) -> nn.Module:
    """torchvision's `TwoMLPHead` (two FCs of `box_head_size` on the flattened RoIs) or, with
    `box_head_convs`, its `FastRCNNConvFCHead`: that many 3x3 convolutions of `fpn_channels` with the
    head norm layers, then one FC (as the R50 v2 model, at the light model's widths)."""
    channels, size = settings.fpn_channels, settings.box_roi_size
    if settings.box_head_convs == 0:
        return TwoMLPHead(channels * size * size, settings.box_head_size)
    return FastRCNNConvFCHead(
        (channels, size, size),
        [channels] * settings.box_head_convs,
        [settings.box_head_size],
        norm_layer=head_norm,
    )


def _resnet50_fpn_v2(settings: ModelSettings, norm: Any, sizes: dict[str, Any]) -> MaskRCNN:
    """torchvision's `maskrcnn_resnet50_fpn_v2`: norm layers in the FPN and heads, a two-conv RPN head."""
    backbone = _resnet_fpn_extractor(resnet50(norm_layer=norm), settings.trainable_layers, norm_layer=norm)
    rpn_head = RPNHead(backbone.out_channels, 3, conv_depth=2)
    box_head = FastRCNNConvFCHead((backbone.out_channels, 7, 7), [256] * 4, [1024], norm_layer=norm)
    mask_head = MaskRCNNHeads(backbone.out_channels, [256] * 4, 1, norm_layer=norm)
    return MaskRCNN(
        backbone,
        num_classes=settings.num_classes,
        rpn_head=rpn_head,
        box_head=box_head,
        mask_head=mask_head,
        **sizes,
    )


def _norm_layer(norm: str, eps: float, *, any_width: bool = False) -> Any:
    """`any_width`: GroupNorm takes the largest group count up to 32 that divides the channels (the
    heads' widths are settings)."""
    if norm == "frozen_bn":
        return functools.partial(FrozenBatchNorm2d, eps=eps)
    if norm == "bn":
        return functools.partial(nn.BatchNorm2d, eps=eps)
    if any_width:
        return lambda channels: nn.GroupNorm(math.gcd(_GN_GROUPS, channels), channels, eps=eps)
    return functools.partial(nn.GroupNorm, _GN_GROUPS, eps=eps)


def parameter_shapes(settings: ModelSettings) -> dict[str, tuple[int, ...]]:
    """The state dict's tensor shapes for `settings`, computed without allocating any weight."""
    with torch.device("meta"):
        model = build(settings)
    return {name: tuple(value.shape) for name, value in model.state_dict().items()}


_BOUNDS = {  # setting -> (lowest, highest)
    "num_classes": (2, MAX_CLASSES),
    "min_size": (16, MAX_INPUT_SIZE),
    "max_size": (16, MAX_INPUT_SIZE),
    "trainable_layers": (0, 5),
    "rpn_batch_size_per_image": (1, 4096),
    "box_batch_size_per_image": (1, 4096),
    "rpn_pre_nms_top_n_train": (1, 100_000),
    "rpn_post_nms_top_n_train": (1, 100_000),
    "rpn_pre_nms_top_n_test": (1, 100_000),
    "rpn_post_nms_top_n_test": (1, 100_000),
    "fpn_channels": (8, 1024),
    "box_head_size": (8, 4096),
    "box_head_convs": (0, 8),
    "box_roi_size": (1, 28),
    "mask_head_channels": (8, 1024),
}


def _check(settings: ModelSettings) -> None:
    if settings.architecture not in ARCHITECTURES:
        raise SettingsError(
            f"unknown architecture {settings.architecture!r}; known: {', '.join(ARCHITECTURES)}"
        )
    if settings.norm not in NORMS:
        raise SettingsError(f"norm must be one of {', '.join(NORMS)}, got {settings.norm!r}")
    if settings.head_norm not in HEAD_NORMS:
        raise SettingsError(f"head_norm must be one of {', '.join(HEAD_NORMS)}, got {settings.head_norm!r}")
    for name, (low, high) in _BOUNDS.items():
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SettingsError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    if not 0.0 <= settings.bn_eps <= 1.0:
        raise SettingsError(f"bn_eps must be in [0, 1], got {settings.bn_eps!r}")
    layers = settings.returned_layers
    if not layers or list(layers) != sorted(set(layers)) or not set(layers) <= {1, 2, 3, 4}:
        raise SettingsError(f"returned_layers must be increasing stages among 1-4, got {list(layers)}")
    if len(settings.anchor_sizes) != len(layers) + 1:
        raise SettingsError(f"anchor_sizes must give one size per pyramid level ({len(layers) + 1})")
    if not all(1 <= s <= MAX_INPUT_SIZE for s in settings.anchor_sizes):
        raise SettingsError(f"anchor_sizes must be in [1, {MAX_INPUT_SIZE}]")
    widths = (
        settings.returned_layers,
        settings.fpn_channels,
        settings.box_head_size,
        settings.box_head_convs,
        settings.box_roi_size,
        settings.mask_head_channels,
        settings.head_norm,
    )
    if settings.architecture != LIGHT_ARCHITECTURE and widths != ((1, 2, 3, 4), 256, 1024, 0, 7, 256, "none"):
        raise SettingsError(f"{settings.architecture} has torchvision's fixed widths and levels")


def _typed(name: str, value: Any, kind: Any) -> Any:
    """`value` as the field's type (int, float, str or a tuple of ints), or SettingsError."""
    kind = str(kind)
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
        ok = ok and value == value and abs(value) != float("inf")
    elif kind == "str":
        ok = isinstance(value, str) and len(value) < 100
    else:
        ok = isinstance(value, list | tuple) and len(value) <= 16
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if not ok:
        raise SettingsError(f"setting {name!r} has a bad value {value!r:.60}")
    return value
