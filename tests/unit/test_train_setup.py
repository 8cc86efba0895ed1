"""The from-scratch recipe's choices that follow the data: input size, anchors, head norm layers
(docs/decisions/0010-training-recipe.md)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from annotator.core.geometry import Polygons  # noqa: E402
from annotator.core.model import Category, Image, Instance  # noqa: E402
from annotator.core.training_set import TrainingItem  # noqa: E402
from annotator.inference.architectures import LIGHT_ARCHITECTURE, ModelSettings, build  # noqa: E402
from annotator.inference.models import load_checkpoint, save_checkpoint  # noqa: E402
from annotator.inference.train_setup import (  # noqa: E402
    anchor_sizes,
    default_input_size,
    scratch_settings,
    small_object_size,
)


def _items(sides: list[float], width: int = 384, height: int = 288) -> list[TrainingItem]:
    """One image per object: a square of `side` pixels."""
    items = []
    for index, side in enumerate(sides, start=1):
        ring = np.array([[10, 10], [10 + side, 10], [10 + side, 10 + side], [10, 10 + side]], dtype=float)
        instance = Instance(index, index, 3, Polygons((ring,)))
        items.append(TrainingItem(Image(index, f"{index}.png", width, height), (instance,)))
    return items


def test_small_objects_keep_a_larger_input_and_get_anchors_their_size():
    items = _items([24.0] * 10 + [43.0] * 20 + [70.0] * 10)  # the synthetic set's spread at 384x288
    size = default_input_size(LIGHT_ARCHITECTURE, items)
    assert size == 256  # median 43 px -> 28 px at 256; the tenth percentile 24 -> 16 px
    small = small_object_size(items, size)
    assert small == pytest.approx(16.0, abs=0.5)
    assert anchor_sizes(size, small) == (16, 32, 64, 128)
    tiny = _items([10.0] * 10, width=640, height=480)
    assert default_input_size(LIGHT_ARCHITECTURE, tiny) == 640  # never enlarged
    assert anchor_sizes(640, small_object_size(tiny, 640)) == (8, 16, 32, 64)
    big = _items([300.0] * 10, width=640, height=480)
    assert default_input_size(LIGHT_ARCHITECTURE, big) == 128
    assert anchor_sizes(128, small_object_size(big, 128)) == (64, 128, 256, 512)  # 60 px objects
    assert anchor_sizes(256, None) == (20, 41, 82, 164)  # no objects: torchvision's, scaled


def test_a_model_from_scratch_has_group_norm_heads_and_old_checkpoints_keep_none(tmp_path):
    settings = scratch_settings(LIGHT_ARCHITECTURE, num_classes=3, input_size=64, small_object=16.0)
    assert settings.head_norm == "gn" and settings.anchor_sizes == (16, 32, 64, 128)
    narrow = settings.replace(fpn_channels=16, mask_head_channels=24, box_head_size=32)  # any head width
    model = build(narrow)
    assert any(isinstance(m, torch.nn.GroupNorm) for m in model.roi_heads.mask_head.modules())
    assert any(isinstance(m, torch.nn.GroupNorm) for m in model.backbone.fpn.modules())
    path = tmp_path / "gn.pt"
    save_checkpoint(path, model.eval(), architecture=LIGHT_ARCHITECTURE, settings=narrow,
                    categories=[Category(5, "a"), Category(9, "b")], label_to_category=(0, 5, 9))  # fmt: skip
    assert load_checkpoint(path).settings.head_norm == "gn"
    old = ModelSettings.from_dict({k: v for k, v in narrow.to_dict().items() if k != "head_norm"})
    assert old.head_norm == "none"  # a checkpoint written before the setting builds as it was trained
