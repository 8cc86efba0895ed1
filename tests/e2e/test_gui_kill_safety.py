"""The real window, edited through its tools, killed with SIGKILL: reopening finds every edit older than a
second (SPEC section 6). The driver opens a folder in MainWindow (offscreen), draws rectangles and brush
strokes with mouse events on the canvas viewport from a timer, and prints each finished edit."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from PIL import Image as PilImage

from annotator.core.geometry import Mask
from annotator.io.project import FOLDER_PROJECT_NAME, open_project

_DRIVER = r"""
import random, sys
from PySide6.QtCore import QPointF, QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from annotator.gui.main_window import MainWindow

app = QApplication([])
window = MainWindow(QSettings(sys.argv[2], QSettings.Format.IniFormat))
window.resize(900, 700)
window.show()
assert window.open_path(sys.argv[1])
canvas, editor, actions = window.canvas, window.editor, window.editing.actions
if not editor.dataset.categories:  # a bare folder: the first shape would ask for a class name
    editor.create_class("thing")
rng = random.Random(int(sys.argv[3]))
drawn = []

def at(x, y):
    return canvas.mapFromScene(QPointF(x, y))

def drag(points):
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mousePress(canvas.viewport(), left, none, at(*points[0]))
    for p in points[1:]:
        QTest.mouseMove(canvas.viewport(), at(*p))
    QTest.mouseRelease(canvas.viewport(), left, none, at(*points[-1]))

def tick():
    count = editor.history.stack.count()
    if drawn and rng.random() < 0.3:
        target = rng.choice(drawn)
        editor.select(target)
        actions["tool_brush"].trigger()
        x, y = rng.uniform(10, 150), rng.uniform(10, 110)
        drag([(x, y), (x + 5, y + 3), (x + 9, y + 1)])
        kind = "brush"
    else:
        actions["tool_rectangle"].trigger()
        x, y = rng.uniform(0, 140), rng.uniform(0, 100)
        drag([(x, y), (x + 8, y + 5), (x + rng.uniform(6, 20), y + rng.uniform(6, 20))])
        target, kind = canvas.session.selected_id, "add"
        drawn.append(target)
    if editor.history.stack.count() > count:
        print(kind, target, flush=True)

timer = QTimer(interval=3)
timer.timeout.connect(tick)
timer.start()
app.exec()
"""


def test_sigkill_while_editing_in_the_window_loses_at_most_the_last_second(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    PilImage.new("RGB", (160, 120), (90, 120, 160)).save(folder / "img.png")
    open_project(folder).close()
    rng = random.Random(99)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for round_number in range(3):
        printed: list[tuple[str, int, float]] = []
        child = subprocess.Popen(
            [sys.executable, "-c", _DRIVER, str(folder), str(tmp_path / "s.ini"), str(round_number)],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        reader = threading.Thread(target=_read_lines, args=(child.stdout, printed), daemon=True)
        reader.start()
        _wait_for_first_line(printed, child)
        time.sleep(rng.uniform(1.2, 2.5))
        child.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        child.wait()
        reader.join(timeout=5)

        db = sqlite3.connect(folder / FOLDER_PROJECT_NAME)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
        old_enough = [(kind, n) for kind, n, t in printed if t < killed_at - 1.0]
        assert len(old_enough) >= 5, "the driver should have made edits for more than a second"
        with open_project(folder) as project:
            instances = project.dataset.instances
            for kind, n in old_enough:
                assert n in instances, f"edit '{kind} {n}' older than a second was lost"
                if kind == "brush":
                    assert isinstance(instances[n].geometry, Mask), f"brush stroke on {n} was lost"
            for instance in instances.values():  # everything saved decodes
                assert project.dataset.area_of(instance) >= 0


def _read_lines(stream, out):
    for line in stream:
        kind, n = line.split()
        out.append((kind, int(n), time.monotonic()))


def _wait_for_first_line(printed, child, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not printed:
        assert child.poll() is None, "the GUI driver exited before editing"
        assert time.monotonic() < deadline, "the GUI driver never started editing"
        time.sleep(0.01)
