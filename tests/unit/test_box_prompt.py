"""Box (and clicks) to mask: the model's heads on the person's box, and GrabCut refinement by clicks."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.core.geometry import mask_iou
from annotator.core.grabcut import refine_mask
from annotator.core.model import Category
from annotator.core.predictor import BoxPrompt, PredictOptions


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """A textured background with one plain square object."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 80, (120, 160, 3), dtype=np.uint8)
    truth = np.zeros((120, 160), bool)
    truth[30:90, 50:110] = True
    image[truth] = (220, 180, 40)
    return image, truth


def test_a_positive_click_grows_a_half_mask_to_the_object():
    image, truth = _scene()
    half = truth.copy()
    half[:, 80:] = False
    refined = refine_mask(image, (45, 25, 115, 95), half.astype(np.uint8), positive=((100.0, 60.0),))
    assert mask_iou(refined > 0, truth) > mask_iou(half, truth) + 0.3


def test_a_negative_click_removes_what_is_not_the_object():
    image, truth = _scene()
    spill = truth.copy()
    spill[20:30, 40:120] = True  # a strip of background taken for object
    refined = refine_mask(image, (40, 15, 120, 95), spill.astype(np.uint8), negative=((45.0, 25.0),))
    assert mask_iou(refined > 0, truth) > mask_iou(spill, truth)


@pytest.fixture(scope="module")
def segmenter():
    torch = pytest.importorskip("torch")
    from annotator.inference.box_prompt import BoxSegmenter
    from annotator.inference.models import LoadedModel, build_model
    from annotator.inference.predictor import TorchPredictor

    torch.manual_seed(0)
    model = build_model("maskrcnn_resnet50_fpn", num_classes=4)
    categories = (Category(3, "car"), Category(7, "train"), Category(44, "bottle"))
    loaded = LoadedModel(model, "maskrcnn_resnet50_fpn", (0, 3, 7, 44), categories, "random")
    return BoxSegmenter(TorchPredictor(loaded), options=PredictOptions.with_max_size(320))


def test_the_mask_head_paints_inside_the_box_with_the_persons_class(segmenter):
    image, _truth = _scene()
    box = (40.0, 20.0, 120.0, 100.0)
    result = segmenter.segment("scene", image, BoxPrompt(box, category_id=7))
    assert result.category_id == 7 and 0.0 <= result.score <= 1.0
    mask = result.mask.to_array()
    assert mask.shape == (120, 160)
    ys, xs = np.nonzero(mask)
    if len(ys):  # a random head may paint nothing; what it paints stays in the box (one pixel of rounding)
        assert xs.min() >= 39 and xs.max() <= 120 and ys.min() >= 19 and ys.max() <= 100
    assert segmenter.is_prepared("scene")


def test_without_a_known_class_the_best_scoring_or_the_most_decided_channel(segmenter):
    image, _truth = _scene()
    best = segmenter.segment("scene", image, BoxPrompt((40.0, 20.0, 120.0, 100.0), category_id=999))
    assert best.category_id in (3, 7, 44)
    agnostic = segmenter.segment("scene", image, BoxPrompt((40.0, 20.0, 120.0, 100.0), agnostic=True))
    assert agnostic.category_id is None


def test_features_are_kept_for_the_last_images_only(segmenter):
    image, _truth = _scene()
    for key in ("a", "b", "c"):
        segmenter.prepare(key, image)
    assert segmenter.is_prepared("c") and segmenter.is_prepared("b") and not segmenter.is_prepared("a")


def test_boxes_are_segmented_on_the_image_a_fifth_larger_than_the_model_learnt():
    pytest.importorskip("torch")
    from annotator.inference.box_prompt import box_input_options

    assert box_input_options((256, 256)).max_size == 307 == box_input_options((256, 256)).min_size
    assert box_input_options(None) == PredictOptions()  # torchvision's weights: their defaults


def test_a_trained_model_without_fixed_options_prepares_at_the_chosen_size():
    torch = pytest.importorskip("torch")
    from dataclasses import replace

    from annotator.inference.architectures import build, default_settings
    from annotator.inference.box_prompt import BoxSegmenter
    from annotator.inference.models import LoadedModel
    from annotator.inference.predictor import TorchPredictor

    torch.manual_seed(0)
    settings = replace(default_settings("maskrcnn_resnet18_fpn", num_classes=2), min_size=96, max_size=96)
    categories = (Category(5, "square"),)
    loaded = LoadedModel(build(settings).eval(), "maskrcnn_resnet18_fpn", (0, 5), categories, "trained",
                         settings, ({"round": 1},))  # fmt: skip
    segmenter = BoxSegmenter(TorchPredictor(loaded))
    image, _truth = _scene()  # 160x120, seen at 1.2 x 96 = 115 on its long side
    segmenter.prepare("scene", image)
    assert segmenter._cache["scene"].image_sizes[0] == (86, 115)
    mask = segmenter.segment("scene", None, BoxPrompt((40.0, 20.0, 120.0, 100.0), category_id=5)).mask
    assert mask.to_array().shape == (120, 160)


def test_a_click_never_throws_away_a_mask_whose_colours_match_the_ground():
    """An object in the ground's own colours: GrabCut cannot tell them apart, so a click may only move
    the outline near where it was and near the click (decided by colour alone, whole masks vanished)."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    truth = np.zeros((120, 160), bool)
    truth[30:90, 50:110] = True
    seed = np.zeros_like(truth)
    seed[33:93, 53:110] = True  # a little off, as a model's mask is
    before = mask_iou(seed, truth)
    for clicks in ({"positive": ((80.0, 60.0),)}, {"negative": ((108.0, 92.0),)}):
        refined = refine_mask(image, (48, 28, 112, 94), seed.astype(np.uint8), **clicks) > 0
        assert mask_iou(refined, truth) > before - 0.1
        assert refined[40:80, 60:100].all()  # the middle, far from any outline, stays object
