"""End-to-end fixtures: a randomly initialised Mask R-CNN checkpoint in our own format (no download)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """Our checkpoint format holding a randomly initialised model with three classes."""
    torch = pytest.importorskip("torch")
    from annotator.core.model import Category
    from annotator.inference.models import build_model, save_checkpoint

    torch.manual_seed(0)
    model = build_model("maskrcnn_resnet50_fpn", num_classes=4)
    path = tmp_path_factory.mktemp("model") / "random.pt"
    categories = [Category(3, "car"), Category(7, "train"), Category(44, "bottle")]
    save_checkpoint(path, model, architecture="maskrcnn_resnet50_fpn", categories=categories,
                    label_to_category=(0, 3, 7, 44))  # fmt: skip
    return path
