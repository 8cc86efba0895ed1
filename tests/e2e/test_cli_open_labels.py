"""`annotator open` on labels from other tools, as a user runs it: a results list with `--gt`, and bad
input refused with exit 2 and one line (before any window or thread exists)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from annotator.io.project import open_project
from conftest import testdata_dir as _testdata

ISAT = _testdata() / "isat_coco_tiny"


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "annotator.cli.main", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("QStatusBar")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def _results(folder: Path) -> Path:
    gt = json.loads((folder / "coco_tiny.json").read_text())
    results = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": a["segmentation"],
         "score": 0.7}
        for a in gt["annotations"] if not a["iscrowd"]
    ]  # fmt: skip
    path = folder / "results.json"
    path.write_text(json.dumps(results))
    return path


@pytest.mark.slow
def test_results_list_opens_with_gt_and_needs_it(tmp_path: Path) -> None:
    folder = tmp_path / "isat"
    shutil.copytree(ISAT, folder)
    results = _results(folder)
    _one_line_error(_run("open", results, "--screenshot", tmp_path / "no.png"), str(results), "--gt DATA")
    assert not (folder / "results.annotator").exists()

    shot = tmp_path / "shot.png"
    done = _run("open", results, "--gt", folder / "coco_tiny.json", "--screenshot", shot)
    assert done.returncode == 0, done.stderr
    assert shot.stat().st_size > 0
    with open_project(folder / "results.annotator") as project:
        assert len(project.dataset.instances) == 61
        assert all(i.source.is_model and i.score == 0.7 for i in project.dataset.instances.values())


@pytest.mark.slow
def test_bad_input_to_open_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": 3}')
    _one_line_error(_run("open", bad, "--screenshot", tmp_path / "x.png"), str(bad), "no 'images' list")
    _one_line_error(_run("open", "--gt", bad), "--gt needs a PATH")
