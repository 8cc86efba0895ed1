"""bench/label_errors.py's planting and scoring, checked with predictions equal to the clean labels: the
audit must find every dropped and every swapped instance, and the scoring must say so."""

from __future__ import annotations

import importlib.util
import shutil
import sys

import pytest

from annotator.core.audit import audit
from annotator.io.coco import load_coco
from conftest import REPO


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("label_errors", REPO / "bench" / "label_errors.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["label_errors"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def clean(testdata, tmp_path):
    shutil.copy(testdata / "isat_coco_tiny" / "coco_tiny.json", tmp_path / "coco_tiny.json")
    return load_coco(tmp_path / "coco_tiny.json").dataset


@pytest.mark.parametrize("seed", [0, 1])
def test_clean_labels_as_predictions_find_every_drop_and_swap(bench, clean, seed) -> None:
    planted = bench.plant_errors(clean, seed=seed, fraction=0.05)
    kinds = [e.kind for e in planted.errors]
    assert [kinds.count(k) for k in bench.ErrorKind] == [3, 3, 3]  # 5% of 61 non-crowd instances, each
    assert len(planted.dataset.instances) == len(clean.instances) - 3
    report = audit(planted.dataset, bench.clean_as_predictions(clean))
    score = bench.score_flags(report.flags, planted, clean.images)
    assert score.found_by_kind[bench.ErrorKind.DROPPED] == (3, 3)
    assert score.found_by_kind[bench.ErrorKind.CLASS_SWAP] == (3, 3)
    assert score.recall_at_2x >= 6 / 9 and score.precision_at_100 >= 6 / len(report.flags)


def test_scoring_counts_nothing_when_the_model_agrees_with_the_errors(bench, clean) -> None:
    planted = bench.plant_errors(clean, seed=0)
    report = audit(planted.dataset, bench.clean_as_predictions(planted.dataset))
    score = bench.score_flags(report.flags, planted, clean.images)
    assert report.flags == () and score.recall_at_2x == 0 and score.precision_at_100 == 0
