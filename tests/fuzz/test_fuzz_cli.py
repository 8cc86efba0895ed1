"""The command line on generated hostile COCO and LabelMe files, in process (the subprocess cases, for crashes that
would kill pytest, are in tests/e2e/test_cli_hostile_input.py).

Property, for `info`, `convert` (to each format) and `eval` (the file as ground truth, and as predictions):
exit 0 or 2, never 1 ("internal error"); on 2, exactly one line on stderr, naming the file; on 0, every
stderr line is one of ours (`annotator <command>: ...`), never a Python or numpy warning; and what
`convert` wrote, `info` reads back.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage

from annotator.cli.main import main
from hostile_files import BASE, PRED, hostile_coco, hostile_labelme, to_text

EXAMPLES = int(os.environ.get("ANNOTATOR_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=max(EXAMPLES // 8, 10), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip


def _run(*args) -> tuple[int, list[str]]:
    """`annotator ARGS` in process, with streams that encode as a terminal's do (UTF-8, strict on stdout,
    backslashes on stderr), so text a terminal cannot take fails here as it would there."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main([str(a) for a in args])
        out.flush()
        err.flush()
    return code, err.buffer.getvalue().decode("utf-8").splitlines()


def _assert_clear(command: str, code: int, lines: list[str], name: str) -> None:
    assert code in (0, 2), (code, lines)
    assert all(line.startswith(f"annotator {command}: ") for line in lines), lines
    if code == 2:
        assert len(lines) == 1 and name in lines[0], lines


def _folder() -> Path:
    folder = Path(tempfile.mkdtemp())
    PilImage.new("RGB", (40, 30)).save(folder / "a.png")
    PilImage.new("RGB", (20, 20)).save(folder / "b.png")
    return folder


@FUZZ
@given(hostile_coco(), st.sampled_from(["coco", "labelme", "yolo", "panoptic"]))
def test_info_and_convert_exit_0_or_2_with_one_line(data, to):
    folder = _folder()
    (folder / "in.json").write_text(to_text(data))
    code, lines = _run("info", folder / "in.json")
    _assert_clear("info", code, lines, "in.json")
    out = folder / ("out.json" if to == "coco" else "out")
    code, lines = _run("convert", folder / "in.json", "--to", to, "--out", out)
    _assert_clear("convert", code, lines, "in.json")
    if code == 0 and to in ("coco", "labelme"):  # the formats `info` reads
        back, lines = _run("info", out)
        assert back == 0 or (back == 2 and "no JSON files" in lines[0] and to == "labelme"), lines


@FUZZ
@given(hostile_labelme(), st.sampled_from(["coco", "labelme", "yolo", "panoptic"]), st.booleans())
def test_labelme_info_and_convert_exit_0_or_2_with_one_line(data, to, as_folder):
    folder = _folder()
    (folder / "a.json").write_text(to_text(data))
    source = folder if as_folder else folder / "a.json"
    name = folder.name if as_folder else "a.json"
    code, lines = _run("info", source)
    _assert_clear("info", code, lines, name)
    out = Path(tempfile.mkdtemp()) / ("out.json" if to == "coco" else "out")
    code, lines = _run("convert", source, "--to", to, "--out", out)
    _assert_clear("convert", code, lines, name)
    if code == 0 and to in ("coco", "labelme"):
        back, lines = _run("info", out)
        assert back == 0 or (back == 2 and "no JSON files" in lines[0] and to == "labelme"), lines


@FUZZ
@given(hostile_coco())
def test_eval_exits_0_or_2_with_one_line(data):
    folder = _folder()
    (folder / "gt.json").write_text(to_text(data))
    (folder / "pred.json").write_text(json.dumps(PRED))
    code, lines = _run("eval", folder / "gt.json", folder / "pred.json")
    _assert_clear("eval", code, lines, "gt.json")
    # the same mutations in a predictions file (a COCO dataset with scores) against a good ground truth
    (folder / "gt.json").write_text(json.dumps(BASE))
    (folder / "pred.json").write_text(to_text(data))
    code, lines = _run("eval", "--iou-type", "both", folder / "gt.json", folder / "pred.json")
    _assert_clear("eval", code, lines, "pred.json")


@FUZZ
@given(st.one_of(hostile_coco(), hostile_labelme()), st.sampled_from(["audit", "rank", "segment-boxes"]))
def test_audit_rank_and_segment_boxes_exit_0_or_2_with_one_line(data, command):
    """The other commands that read a dataset, on the same hostile files (GrabCut for segment-boxes: no
    model)."""
    folder = _folder()
    (folder / "in.json").write_text(to_text(data))
    extra = {"audit": ["--out", folder / "o.json"], "rank": ["--out", folder / "o.txt", "--no-cache"],
             "segment-boxes": ["--out", folder / "o.json", "--grabcut"]}[command]  # fmt: skip
    code, lines = _run(command, folder / "in.json", *extra)
    _assert_clear(command, code, lines, "in.json")
