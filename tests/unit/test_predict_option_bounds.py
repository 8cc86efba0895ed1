"""Prediction options past any usable size are refused as options, before a journal or a tensor sees them
(`prelabel --max-dets 10**23` ended in "internal error: Integer exceeds 64-bit range")."""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.cli.main import main
from annotator.core.predictor import MAX_COUNT, MAX_SIDE, PredictOptions


@settings(max_examples=50, deadline=None)
@given(st.integers(-(2**70), 2**70), st.integers(-(2**70), 2**70))
def test_options_are_made_or_refused_with_a_value_error(max_size, max_detections):
    try:
        options = PredictOptions.with_max_size(max_size, max_detections=max_detections)
    except ValueError:
        assert not (1 <= max_size <= MAX_SIDE and 1 <= max_detections <= MAX_COUNT)
    else:
        assert options.max_size <= MAX_SIDE and options.max_detections <= MAX_COUNT


@pytest.mark.parametrize("option", ["--max-dets", "--max-size"])
def test_prelabel_with_an_absurd_count_is_one_line(tmp_path, option):
    from PIL import Image as PilImage

    PilImage.new("RGB", (8, 6)).save(tmp_path / "a.png")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["prelabel", str(tmp_path), "--out", str(tmp_path / "o.json"), option, str(10**23)])
    lines = err.getvalue().splitlines()
    assert code == 2 and len(lines) == 1 and "at most" in lines[0], lines
