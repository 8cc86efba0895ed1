"""Shared test fixtures: where the third-party test data lives, offscreen Qt, a private data folder,
a random Mask R-CNN checkpoint. (One conftest only: tests import `testdata_dir` from it by name.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Idle OpenMP threads sleep rather than spin, as in `annotator train`: on cores shared with other test
# runs, spinning made each step of the training tests 5-20x slower (annotator/inference/openmp.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]


def testdata_dir() -> Path:
    """`shared/testdata` beside the checkout (the checkout is X/main, shared is X/shared)."""
    return REPO.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    path = testdata_dir()
    assert path.is_dir(), f"third-party test data missing: {path}"
    return path


@pytest.fixture(autouse=True)
def _private_data_home(tmp_path_factory, monkeypatch):
    """Projects that live in the user's data folder (samples, read-only folders) go to a temp folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data-home")))


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """Our checkpoint format holding a randomly initialised Mask R-CNN with three classes (no download)."""
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
