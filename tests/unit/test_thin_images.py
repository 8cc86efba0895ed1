"""An image too thin for the model (a 1x10000 strip) is said to be the image's problem, before the model
runs, and only such images: the size rule is checked against torchvision's own resize."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage

from annotator.core.predictor import PredictOptions
from annotator.inference.batch import prelabel_images

torch = pytest.importorskip("torch")
from torchvision.models.detection.transform import GeneralizedRCNNTransform  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(width=st.integers(1, 12000), height=st.integers(1, 12000), max_size=st.integers(64, 1333))
def test_the_size_rule_is_torchvisions(width, height, max_size):
    options = PredictOptions.with_max_size(max_size)
    transform = GeneralizedRCNNTransform(options.min_size, options.max_size, [0.0] * 3, [1.0] * 3)
    try:
        resized, _ = transform.resize(torch.zeros(3, height, width), None)
    except RuntimeError:
        assert options.unusable_size(width, height) is not None
        return
    assert options.input_size(width, height) == (resized.shape[2], resized.shape[1])
    assert options.unusable_size(width, height) is None


def test_a_strip_is_reported_as_the_images_problem_and_others_still_run(tmp_path, checkpoint):
    from annotator.core.predictor import ModelSpec
    from annotator.inference.predictor import TorchPredictor

    PilImage.new("RGB", (1, 10000)).save(tmp_path / "strip.png")
    PilImage.new("RGB", (40, 30)).save(tmp_path / "fine.png")
    predictor = TorchPredictor.from_spec(ModelSpec(weights=checkpoint))
    paths = [tmp_path / "strip.png", tmp_path / "fine.png"]
    results = list(prelabel_images(predictor, paths, PredictOptions.with_max_size(256)))
    assert "1x10000 pixels, too narrow" in results[0].error and "model" not in results[0].error.split(":")[1]
    assert results[1].ok
