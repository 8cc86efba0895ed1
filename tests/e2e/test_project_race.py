"""Two processes opening the same new folder at once: neither creates its project over the other's, and
no edit that one of them saved is lost (the folder scan of the slower one used to end after the faster
one had made, edited and closed the project, and its create then renamed over it)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
from PIL import Image as PilImage

from annotator.io.project import FOLDER_PROJECT_NAME

# One opener: its folder scan is slowed down by DELAY seconds, then it adds ten instances and closes.
OPENER = """
import sys, time
import numpy as np
import annotator.io.project as project_module
from annotator.core import edits
from annotator.core.geometry import Polygons
from annotator.core.model import Category, Instance
from annotator.io.errors import ProjectLockedError

folder, delay, first_id = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
scan = project_module.dataset_from_folder
def slow_scan(path):
    result = scan(path)
    time.sleep(delay)
    return result
project_module.dataset_from_folder = slow_scan
try:
    project = project_module.open_project(folder)
except ProjectLockedError:
    print("refused")
    sys.exit(0)
project.dataset.put_categories([Category(1, "thing")])
ring = np.array([[1.0, 1.0], [6.0, 1.0], [6.0, 5.0]])
for instance_id in range(first_id, first_id + 10):
    edits.AddInstances((Instance(instance_id, 1, 1, Polygons((ring,))),)).apply(project.dataset)
assert project.store.save_error is None
project.close()
print("saved")
"""


@pytest.mark.slow
@pytest.mark.parametrize("delays", [(0.0, 4.0), (0.5, 0.5)], ids=["slow scan", "same time"])
def test_two_processes_opening_a_new_folder_lose_no_saved_edit(tmp_path, delays):
    PilImage.new("RGB", (10, 8)).save(tmp_path / "a.png")
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(tmp_path), str(delay), str(first_id)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for delay, first_id in zip(delays, (100, 200), strict=True)
    ]
    outcomes = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        outcomes.append(out.strip())
    assert "saved" in outcomes
    conn = sqlite3.connect(tmp_path / FOLDER_PROJECT_NAME)
    stored = {row[0] for row in conn.execute("SELECT id FROM instances")}
    conn.close()
    for outcome, first_id in zip(outcomes, (100, 200), strict=True):
        if outcome == "saved":
            assert set(range(first_id, first_id + 10)) <= stored, (outcomes, sorted(stored))
