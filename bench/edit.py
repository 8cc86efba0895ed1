"""Editing benchmark: a vertex drag step and a brush dab on a 4000x3000 image with 500 instances, beside a
full-scene repaint in the same run (same scene as bench/canvas.py: 500 polygons of 50-200 vertices, a
1600x1000 view, fit to window). Goal (SPEC section 7): a drag or brush step at most 8 ms.

A step is what the user waits for: the mouse-move event through the canvas and the tool (preview
updated), then the event loop until the changed region is painted. Also shown: the same step followed by
a repaint of the whole viewport (the worst case), and the one-off costs at press and release (the brush
decodes the instance's mask at press; release builds and applies the edit, which the store saves).
Run: `.venv/bin/python bench/edit.py`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from annotator.core.session import BareDocument, Session, ViewStyle
from annotator.gui.canvas.view import Canvas
from annotator.gui.tools.base import ToolKind
from annotator.gui.tools.editor import Editor
from scene import COUNT, HEIGHT, VIEW, WIDTH, make_dataset, make_levels

STEPS = 60
LEFT, NONE = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier


class PaintCounter(QObject):
    """Counts paint events of the viewport, to be sure each step was really drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def ms(started: float) -> float:
    return (time.perf_counter() - started) * 1e3


def settle(app: QApplication, canvas: Canvas) -> None:
    deadline = time.monotonic() + 60
    while getattr(getattr(canvas, "overlay", None), "building", False) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.001)
    for _ in range(3):
        app.processEvents()


def run_gesture(app, canvas, counter, points, *, full: bool) -> tuple[list[float], float, float]:
    """Press at the first point, step through the rest, release; (step times, press, release) in ms."""
    viewport = canvas.viewport()
    started = time.perf_counter()
    QTest.mousePress(viewport, LEFT, NONE, canvas.mapFromScene(QPointF(*points[0])))
    app.processEvents()
    press = ms(started)
    steps = []
    for x, y in points[1:]:
        painted = counter.count
        started = time.perf_counter()
        QTest.mouseMove(viewport, canvas.mapFromScene(QPointF(x, y)))
        app.processEvents()
        app.processEvents()  # the scene's dirty region, then the viewport's paint event
        if full:
            viewport.repaint()
        steps.append(ms(started))
        assert counter.count > painted, "a step that was never painted measures nothing"
    started = time.perf_counter()
    QTest.mouseRelease(viewport, LEFT, NONE, canvas.mapFromScene(QPointF(*points[-1])))
    app.processEvents()
    release = ms(started)
    return steps, press, release


def vertex_drag(app, canvas, editor, counter, dataset, instance_id, *, full: bool):
    editor.set_tool(ToolKind.SELECT)
    editor.select(instance_id)
    settle(app, canvas)
    x, y = dataset.instances[instance_id].geometry.rings[0][0]
    points = [(x, y)] + [(x + 2.0 * k, y + 1.0 * k) for k in range(1, STEPS + 1)]
    return run_gesture(app, canvas, counter, points, full=full)


def brush_stroke(app, canvas, editor, counter, dataset, instance_id, *, full: bool):
    editor.set_tool(ToolKind.BRUSH)
    editor.set_brush_radius(12)
    editor.select(instance_id)
    settle(app, canvas)
    bx, by, bw, bh = dataset.instances[instance_id].geometry.bbox(HEIGHT, WIDTH)
    x, y = bx + bw / 2, by + bh / 2
    points = [(x + 6.0 * k, y + 3.0 * np.sin(k / 3)) for k in range(STEPS + 1)]
    return run_gesture(app, canvas, counter, points, full=full)


def full_repaint(app, canvas) -> list[float]:
    times = []
    for _ in range(15):
        started = time.perf_counter()
        if hasattr(canvas, "invalidate_background"):
            canvas.invalidate_background()
        else:
            canvas.resetCachedContent()
        canvas.viewport().repaint()
        times.append(ms(started))
    return times


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    dataset = make_dataset()
    canvas = Canvas(session=Session(style=ViewStyle(show_labels=False)))
    canvas.resize(*VIEW)
    canvas.setFrameShape(Canvas.Shape.NoFrame)
    canvas.show()
    editor = Editor(canvas.session, canvas)
    canvas.session.open(BareDocument(dataset))
    canvas.session.show_image(1)
    canvas.set_pixels(1, make_levels())
    settle(app, canvas)
    counter = PaintCounter()
    canvas.viewport().installEventFilter(counter)
    by_size = sorted(dataset.instances_of(1), key=lambda i: dataset.area_of(i))
    medium = by_size[len(by_size) // 2].id  # a typical instance, ~100 vertices
    results = {
        "full scene repaint (image + overlay redrawn)": (full_repaint(app, canvas), None, None),
        "vertex drag step": vertex_drag(app, canvas, editor, counter, dataset, medium, full=False),
        "vertex drag step + whole viewport repaint": vertex_drag(
            app, canvas, editor, counter, dataset, medium, full=True
        ),
        "brush dab": brush_stroke(app, canvas, editor, counter, dataset, medium, full=False),
        "brush dab + whole viewport repaint": brush_stroke(
            app, canvas, editor, counter, dataset, medium, full=True
        ),
    }
    print(
        f"{VIEW[0]}x{VIEW[1]} view of a {WIDTH}x{HEIGHT} image, {COUNT} polygons, fit ({canvas.scale_factor:.2f}x)"
    )
    print(f"{'(ms)':<44}{'median':>8}{'p90':>8}{'max':>8}{'press':>8}{'release':>9}")
    for title, (times, press, release) in results.items():
        p90 = float(np.percentile(times, 90))
        extra = "" if press is None else f"{press:>8.1f}{release:>9.1f}"
        print(f"{title:<44}{statistics.median(times):>8.2f}{p90:>8.2f}{max(times):>8.2f}{extra}")
    steps = results["vertex drag step"][0] + results["brush dab"][0]
    print(f"drag and brush steps <= 8 ms (median): {'yes' if statistics.median(steps) <= 8 else 'no'}")
    canvas.close()
    if hasattr(canvas, "overlay"):
        canvas.overlay.builder.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
