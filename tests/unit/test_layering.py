"""The layering rule of STYLE.md, as import-linter contracts (pyproject.toml): core < io < inference < gui
< app, cli; core and io import neither Qt nor torch; the GUI never imports torch, directly or not.

grimp reads every import statement, those inside functions too, without running the code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, source: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(source)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_every_layering_contract_is_kept():
    result = _lint(REPO, REPO / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("gui/loader.py", "    import torch", "The GUI never imports torch"),
        ("gui/workers.py", "    from annotator.inference import predictor", "The GUI never imports torch"),
        ("core/review.py", "    from PySide6 import QtCore", "core and io import neither Qt nor torch"),
        ("io/store.py", "    from annotator.gui import workers", "Layers"),
    ],
)
def test_a_function_level_import_across_a_layer_is_caught(tmp_path, module, line, contract):
    shutil.copytree(REPO / "src" / "annotator", tmp_path / "src" / "annotator")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "src" / "annotator" / module
    target.write_text(target.read_text() + f"\n\ndef _sneaky():\n{line}\n")
    result = _lint(tmp_path, tmp_path / "src")
    assert result.returncode == 1
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout
