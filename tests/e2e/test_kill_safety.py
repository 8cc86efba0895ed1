"""Kill a process that is saving edits with SIGKILL at random moments; the project must reopen intact.

Promise (SPEC section 6): killing the process at any moment loses at most the last second of edits and
never corrupts the file. The writer prints each edit once `apply` has returned; every edit printed more
than a second before the kill must be in the reopened project, and what is there must be a whole prefix.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from PIL import Image as PilImage

from annotator.io.project import FOLDER_PROJECT_NAME, open_project

_WRITER = r"""
import sys, time, random
import numpy as np
from annotator.core import edits
from annotator.core.geometry import Mask, Polygons
from annotator.core.model import Category, Instance
from annotator.io.project import open_project

project = open_project(sys.argv[1])
ds = project.dataset
if 1 not in ds.categories:
    ds.put_categories([Category(1, "thing")])
rng = random.Random(int(sys.argv[2]))
start = max(ds.instances, default=0)
for n in range(start + 1, start + 100000):
    if n % 3:
        ring = np.array([[rng.uniform(0, 60), rng.uniform(0, 40)] for _ in range(rng.randint(3, 40))])
        geometry = Polygons((ring,))
    else:
        mask = np.zeros((40, 60), np.uint8)
        mask[rng.randint(0, 20):rng.randint(21, 40), rng.randint(0, 30):rng.randint(31, 60)] = 1
        geometry = Mask.from_array(mask)
    edits.AddInstances((Instance(n, 1, 1, geometry, z=n),)).apply(ds)
    if n > 3 and n % 5 == 0:  # also change and delete, not only append
        old = ds.instances[n - 1]
        edits.ReplaceInstances((old,), (old.with_changes(z=-n),)).apply(ds)
    print(n, flush=True)
    time.sleep(rng.uniform(0, 0.004))
"""


def test_sigkill_at_random_moments_never_corrupts_or_loses_more_than_a_second(tmp_path):
    PilImage.new("RGB", (60, 40)).save(tmp_path / "img.png")
    open_project(tmp_path).close()
    rng = random.Random(1234)
    for round_number in range(6):
        printed: list[tuple[int, float]] = []
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), str(round_number)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        reader = threading.Thread(target=_read_lines, args=(child.stdout, printed), daemon=True)
        reader.start()
        _wait_for_first_line(printed, child)
        time.sleep(rng.uniform(0.05, 1.5))
        child.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        child.wait()
        reader.join(timeout=5)

        db = sqlite3.connect(tmp_path / FOLDER_PROJECT_NAME)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
        with open_project(tmp_path) as project:
            ids = sorted(project.dataset.instances)
            assert ids == list(range(1, len(ids) + 1)), "saved instances must be a whole prefix of the edits"
            old_enough = [n for n, t in printed if t < killed_at - 1.0]
            assert not old_enough or old_enough[-1] <= ids[-1], "an edit older than one second was lost"
            assert printed and ids[-1] >= printed[-1][0], "write-through: every printed edit is saved"
            for n in ids:  # every saved geometry decodes
                assert project.dataset.area_of(project.dataset.instances[n]) >= 0


def _read_lines(stream, out):
    for line in stream:
        out.append((int(line), time.monotonic()))


def _wait_for_first_line(printed, child, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not printed:
        assert child.poll() is None, f"writer process died with exit code {child.returncode}"
        assert time.monotonic() < deadline, "writer process never started"
        time.sleep(0.01)
