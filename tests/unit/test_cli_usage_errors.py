"""A refused command line is one stderr line, exit 2, like every refused input (argparse printed its usage
block first: five to twelve lines for `--score-thr nan` or `--max-size 1e308`)."""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.cli.main import main

OPTIONS = {
    "info": ["--min-fragment"],
    "rank": ["--score-thr"],
    "audit": ["--match-iou", "--min-score"],
    "segment-boxes": ["--max-size"],
    "prelabel": ["--max-dets", "--max-size", "--workers"],
    "train": ["--epochs", "--input-size", "--lr"],
}
CASES = [(command, option) for command, options in OPTIONS.items() for option in options]
VALUES = ["nan", "inf", "-inf", "1e308", "0x10", "１", "", "1e-320", "--", "-1"]


def _run(argv) -> tuple[int, list[str]]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue().splitlines()


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(CASES), st.sampled_from(VALUES) | st.text(max_size=8))
def test_a_bad_option_value_is_one_line_or_accepted(case, value):
    command, option = case
    out = [] if command == "info" else ["--out", "/nonexistent/o"]  # info has no --out
    code, lines = _run([command, "/nonexistent/in.json", *out, option, value])
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"annotator {command}: "), lines


@pytest.mark.parametrize("argv", [["convert", "x.json", "--to", "bogus", "--out", "y"], ["rank", "x.json"]])
def test_a_bad_choice_or_a_missing_option_is_one_line(argv):
    code, lines = _run(argv)
    assert code == 2 and len(lines) == 1 and "--help" in lines[0], lines
