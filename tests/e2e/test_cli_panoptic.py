"""`annotator convert IN --to panoptic` as a user runs it: the files it writes, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from annotator.io.panoptic import decode_png
from conftest import testdata_dir as _testdata

COCO_TINY = _testdata() / "isat_coco_tiny/coco_tiny.json"


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "annotator.cli.main", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_convert_coco_to_panoptic(tmp_path: Path) -> None:
    out = tmp_path / "pan"
    result = _run("convert", COCO_TINY, "--to", "panoptic", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "(panoptic): 5 images, 63 instances" in result.stdout
    assert "24 bits" in result.stderr  # the crowd regions' 12-digit ids are renumbered, with a warning
    data = json.loads((out / "panoptic.json").read_text())
    assert {a["file_name"] for a in data["annotations"]} == {p.name for p in (out / "panoptic").iterdir()}
    first = data["annotations"][0]
    decoded = decode_png(out / "panoptic" / first["file_name"])
    assert set(decoded.ravel().tolist()) - {0} == {s["id"] for s in first["segments_info"]}
    # our own importer recognises the result as a panoptic file and refuses it as instances
    info = _run("info", out / "panoptic.json")
    assert info.returncode == 2 and "panoptic" in info.stderr


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{broken")
    result = _run("convert", bad, "--to", "panoptic", "--out", tmp_path / "pan")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.json" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "pan").exists()
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    result = _run("convert", COCO_TINY, "--to", "panoptic", "--out", not_a_folder)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "must be a folder" in result.stderr
