"""A short coverage-guided run of atheris over the importers, seeded with small valid files: no crash."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

atheris = pytest.importorskip("atheris", reason="atheris is not installed on this platform")

# A fixed seed and run count: CI replays the same inputs every time, so a red build always means a change
# broke something; new ground is covered by longer runs by hand (see atheris_importers.py).
RUNS = int(os.environ.get("ANNOTATOR_ATHERIS_RUNS", "20000"))
SEED = int(os.environ.get("ANNOTATOR_ATHERIS_SEED", "1"))
# libFuzzer's -rss_limit_mb checks getrusage's peak RSS, which on Linux a child takes over from its parent
# at fork/exec: launched from a pytest process that once peaked at 5 GB (earlier tests in the same run),
# the fuzzer stopped at its first input with "out-of-memory (used: 5300Mb)" while it used 82 MB. A
# grandchild starts from its own parent's peak, a small Python's: the limit then measures the fuzzer.
FRESH_PEAK = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def test_atheris_finds_no_crash_in_the_importers(tmp_path):
    here = Path(__file__).parent
    coco_base, labelme_base = _seed(here / "test_fuzz_coco.py"), _seed(here / "test_fuzz_labelme.py")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "coco.json").write_text(json.dumps(coco_base))
    (corpus / "labelme.json").write_text(json.dumps(labelme_base))
    script = Path(__file__).with_name("atheris_importers.py")
    fuzz = [sys.executable, str(script), f"-runs={RUNS}", f"-seed={SEED}", "-rss_limit_mb=4096", str(corpus)]
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PEAK, *fuzz], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Done {RUNS} runs" in result.stderr  # libFuzzer ran every input


def _seed(path: Path) -> dict:
    """The valid document (`BASE`) a hypothesis fuzz module mutates, as a seed for atheris."""
    spec = importlib.util.spec_from_file_location(path.stem + "_seed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BASE


def test_the_fuzzer_s_memory_limit_counts_its_own_memory_not_pytest_s():
    ballast = np.ones(400 * 2**20, np.uint8)  # this process's peak RSS is now at least 400 MB
    del ballast
    child = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    out = subprocess.run([sys.executable, "-c", FRESH_PEAK, sys.executable, "-c", child], capture_output=True)
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    assert int(out.stdout) * unit < 200 * 2**20, out
