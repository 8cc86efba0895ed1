"""The light model's convolutional box head (`box_head_convs`): built, trained through the real loop,
saved, loaded back and run by the predictor and the box prompt as a two-FC head is
(docs/decisions/0010-training-recipe.md)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, TwoMLPHead  # noqa: E402

from annotator.core.predictor import BoxPrompt, Precision, PredictOptions  # noqa: E402
from annotator.inference.architectures import (  # noqa: E402
    LIGHT_ARCHITECTURE,
    ModelSettings,
    SettingsError,
    build,
)
from annotator.inference.box_prompt import BoxSegmenter  # noqa: E402
from annotator.inference.models import LoadedModel, load_checkpoint  # noqa: E402
from annotator.inference.predictor import TorchPredictor  # noqa: E402
from annotator.inference.training import train  # noqa: E402
from training_helpers import CATEGORIES, TINY_MODEL, tiny_config, write_rectangles  # noqa: E402

pytestmark = pytest.mark.training

CONV_MODEL = TINY_MODEL | {"box_head_convs": 2, "head_norm": "gn"}  # gn: the norm layers' path too


def _settings(**changes) -> ModelSettings:
    return ModelSettings(architecture=LIGHT_ARCHITECTURE, num_classes=3, min_size=64, max_size=64,
                         anchor_sizes=(16, 32, 64, 128), returned_layers=(2, 3, 4), **changes)  # fmt: skip


def test_the_setting_picks_the_head_round_trips_and_old_checkpoints_keep_two_fcs():
    settings = _settings(fpn_channels=16, box_head_size=32, head_norm="gn", box_head_convs=3)
    head = build(settings).roi_heads.box_head
    assert isinstance(head, FastRCNNConvFCHead)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in head.modules()) == 3
    assert sum(isinstance(m, torch.nn.GroupNorm) for m in head.modules()) == 3
    assert head(torch.zeros(5, 16, 7, 7)).shape == (5, 32)
    assert ModelSettings.from_dict(settings.to_dict()) == settings
    new_keys = ("box_head_convs", "box_roi_size")
    old = ModelSettings.from_dict({k: v for k, v in settings.to_dict().items() if k not in new_keys})
    assert (old.box_head_convs, old.box_roi_size) == (0, 7)
    assert isinstance(build(old).roi_heads.box_head, TwoMLPHead)
    assert build(old).roi_heads.box_roi_pool.output_size == (7, 7)
    with pytest.raises(SettingsError, match="box_head_convs"):
        _settings(box_head_convs=9)
    with pytest.raises(SettingsError, match="box_roi_size"):
        _settings(box_roi_size=0)
    with pytest.raises(SettingsError, match="fixed widths"):
        ModelSettings(architecture="maskrcnn_resnet50_fpn", num_classes=3, box_head_convs=4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny conv-head model after one epoch of the real loop, loaded back from its checkpoint."""
    folder = tmp_path_factory.mktemp("conv-head")
    data = write_rectangles(folder / "data", count=8)
    torch.manual_seed(0)
    finished = train(tiny_config(data, folder / "m.pt", epochs=1, model=CONV_MODEL), on_event=lambda e: None)
    assert finished.reason == "done" and finished.steps == 3
    return load_checkpoint(folder / "m.pt"), data.parent


def test_a_trained_conv_head_loads_back_with_its_setting_and_weights(trained):
    loaded, _folder = trained
    assert loaded.settings.box_head_convs == 2 and loaded.settings.head_norm == "gn"
    assert isinstance(loaded.model.roi_heads.box_head, FastRCNNConvFCHead)


def _image(folder) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imread(str(folder / "im1.png")), cv2.COLOR_BGR2RGB)


def test_the_predictor_runs_it_and_its_tuned_path_keeps_the_exact_detections(trained):
    loaded, folder = trained
    image = _image(folder)
    options = PredictOptions(score_threshold=0.0, min_size=48, max_size=64, min_mask_area=0)

    def predictor(**kwargs) -> TorchPredictor:
        return TorchPredictor(copy.deepcopy(loaded), **kwargs)

    exact = predictor(precision=Precision.FP32).predict(image, options)
    assert exact and all(d.mask.rle.height == 48 for d in exact)
    tuned = predictor(precision=Precision.AUTO, bf16_stages=())
    assert isinstance(tuned.model.roi_heads.box_head, FastRCNNConvFCHead)  # not wrapped as an MLP
    # folded BatchNorm, channels_last and our RoIAlign change only rounding
    ours = tuned.predict(image, options)
    assert len(ours) == len(exact)
    np.testing.assert_allclose([d.score for d in ours], [d.score for d in exact], atol=1e-3)
    assert predictor(precision=Precision.BF16).predict(image, options) is not None  # bf16 box head runs


def test_the_box_prompt_scores_a_box_with_it(trained):
    loaded, folder = trained
    segmenter = BoxSegmenter(
        TorchPredictor(copy.deepcopy(loaded)), options=PredictOptions(min_size=48, max_size=64)
    )
    result = segmenter.segment("im1", _image(folder), BoxPrompt((8.0, 8.0, 40.0, 30.0), category_id=None))
    assert result.category_id in (5, 9) and 0.0 <= result.score <= 1.0
    assert result.mask.to_array().shape == (48, 64)


@pytest.mark.parametrize("convs", [0, 1])
def test_a_finer_box_roi_runs_in_the_predictor_as_in_torchvision(trained, convs):
    _loaded, folder = trained
    settings = _settings(**(TINY_MODEL | {"box_roi_size": 14, "box_head_convs": convs}))
    torch.manual_seed(0)
    model = build(settings).eval()
    assert model.roi_heads.box_roi_pool.output_size == (14, 14)
    loaded = LoadedModel(model, LIGHT_ARCHITECTURE, (0, 5, 9), CATEGORIES, "random", settings)
    options = PredictOptions(score_threshold=0.0, min_size=48, max_size=64, min_mask_area=0)
    image = _image(folder)
    exact = TorchPredictor(copy.deepcopy(loaded), precision=Precision.FP32).predict(image, options)
    tuned = TorchPredictor(copy.deepcopy(loaded), precision=Precision.AUTO, bf16_stages=())
    ours = tuned.predict(image, options)  # the two-FC head reads the 14x14 RoIs in their memory order
    assert exact and len(ours) == len(exact)
    np.testing.assert_allclose([d.score for d in ours], [d.score for d in exact], atol=1e-3)
