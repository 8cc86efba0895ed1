"""Canvas benchmark: a 1600x1000 view of a 4000x3000 image with 500 instances (50-200 vertices).

Two designs in one run, same scene:
- naive:  one QGraphicsItem per instance, each polygon and fill drawn again every frame (no caching);
- canvas: the app's canvas as it is: one composited ARGB overlay per zoom level (gui.canvas.overlay).
Prints, in ms: switching to the image (time the GUI thread is blocked, and until the overlay is shown),
a full repaint (view cache warm, and with the image and overlay drawn again), a hover repaint, the first
frame after a zoom step and the time until the exact overlay for the new zoom is shown, and one
instance changing (partial redraw and repaint). Targets: full repaint <= 16 ms, hover <= 3 ms.
Run: `.venv/bin/python bench/canvas.py`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication, QGraphicsScene, QGraphicsView

from annotator.core.geometry import Polygons
from annotator.core.model import Dataset
from annotator.core.session import BareDocument, Session, ViewStyle
from annotator.gui.canvas.items import InstanceItem, MarkItem
from annotator.gui.canvas.view import Canvas
from scene import COUNT, HEIGHT, VIEW, WIDTH, make_dataset, make_levels

REPEATS = 15


def ms(started: float) -> float:
    return (time.perf_counter() - started) * 1e3


def median_ms(action, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(ms(started))
    return statistics.median(times)


def wait_for(app: QApplication, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the canvas never finished building its overlay")
        app.processEvents()
        time.sleep(0.001)


# -- naive: an item per instance, nothing cached ----------------------------------------------------
class NaiveView(QGraphicsView):
    def __init__(self, dataset: Dataset, levels: list[QImage]) -> None:
        super().__init__()
        self.setScene(QGraphicsScene(self))
        self.levels = levels
        style = ViewStyle(show_labels=False)
        self.items_by_id = {}
        for rank, instance in enumerate(dataset.instances_of(1)):
            category = dataset.categories[instance.category_id]
            item = InstanceItem(instance, category, (WIDTH, HEIGHT), style, cached=False)
            item.setZValue(rank)
            item.set_margin(12)
            self.scene().addItem(item)
            self.items_by_id[instance.id] = item
        self.mark = MarkItem(selected=False)
        self.scene().addItem(self.mark)
        self.scene().setSceneRect(QRectF(0, 0, WIDTH, HEIGHT))

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, QColor(60, 60, 60))
        painter.drawImage(QRectF(0, 0, WIDTH, HEIGHT), self.levels[1])

    def hover(self, instance_id: int) -> None:
        self.mark.set_target(self.items_by_id[instance_id].outline, 12)


def measure_naive(app: QApplication, dataset: Dataset, levels: list[QImage]) -> dict[str, float]:
    started = time.perf_counter()
    view = NaiveView(dataset, levels)
    switch = ms(started)
    view.resize(*VIEW)
    view.setFrameShape(QGraphicsView.Shape.NoFrame)
    view.show()
    app.processEvents()
    view.fitInView(QRectF(0, 0, WIDTH, HEIGHT))
    view.viewport().repaint()
    full = median_ms(view.viewport().repaint, 5)
    view.scale(1.1, 1.1)
    started = time.perf_counter()
    view.viewport().repaint()
    after_zoom = ms(started)
    view.scale(1 / 1.1, 1 / 1.1)
    view.viewport().repaint()
    hover = []
    for instance_id in list(view.items_by_id)[-REPEATS:]:
        started = time.perf_counter()
        view.hover(instance_id)
        app.processEvents()
        hover.append(ms(started))
    view.close()
    return {
        "switch": switch,
        "shown": switch,
        "full": full,
        "full_redraw": full,
        "hover": statistics.median(hover),
        "after_zoom": after_zoom,
        "zoom_exact": after_zoom,
        "edit": float("nan"),
    }


# -- the canvas as it is ----------------------------------------------------------------------------
def measure_canvas(app: QApplication, dataset: Dataset, levels: list[QImage]) -> dict[str, float]:
    canvas = Canvas(session=Session(style=ViewStyle(show_labels=False)))
    canvas.resize(*VIEW)
    canvas.setFrameShape(Canvas.Shape.NoFrame)
    canvas.show()
    canvas.session.open(BareDocument(dataset))
    app.processEvents()
    started = time.perf_counter()
    canvas.session.show_image(1)
    canvas.set_pixels(1, levels)
    switch = ms(started)  # the GUI thread is free again
    wait_for(app, lambda: not canvas.overlay.building)
    shown = ms(started)  # masks decoded and composited in the worker, overlay on screen
    canvas.viewport().repaint()
    full = median_ms(canvas.viewport().repaint)

    def redraw_all() -> None:
        canvas.invalidate_background()
        canvas.viewport().repaint()

    full_redraw = median_ms(redraw_all)
    hover, ids = [], [layer.instance_id for layer in canvas.overlay.order][-REPEATS * 2 :]
    for instance_id in ids:
        x0, y0, x1, y1 = canvas.overlay.layers[instance_id].box
        point = canvas.mapFromScene((x0 + x1) / 2, (y0 + y1) / 2)
        started = time.perf_counter()
        canvas._set_hovered(canvas.instance_at(canvas.mapToScene(point)) or instance_id)
        app.processEvents()
        hover.append(ms(started))
    started = time.perf_counter()
    canvas.zoom_by(1.1)
    canvas.viewport().repaint()
    after_zoom = ms(started)  # the last tile, stretched, while the new one is built
    wait_for(app, lambda: not canvas.overlay.building)
    canvas.viewport().repaint()
    zoom_exact = ms(started)
    canvas.fit()
    wait_for(app, lambda: not canvas.overlay.building)
    edits = []
    for instance_id in ids[:REPEATS]:
        instance = dataset.instances[instance_id]
        moved = Polygons(tuple(ring + (25.0, 0.0) for ring in instance.geometry.rings))
        started = time.perf_counter()
        dataset.put_instances([instance.with_changes(geometry=moved)])
        canvas.viewport().repaint()
        edits.append(ms(started))
    canvas.close()
    canvas.overlay.builder.wait()
    return {
        "switch": switch,
        "shown": shown,
        "full": full,
        "full_redraw": full_redraw,
        "hover": statistics.median(hover),
        "after_zoom": after_zoom,
        "zoom_exact": zoom_exact,
        "edit": statistics.median(edits),
    }


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    levels = make_levels()
    results = {
        "naive": measure_naive(app, make_dataset(), levels),
        "canvas": measure_canvas(app, make_dataset(), levels),
    }
    print(f"{VIEW[0]}x{VIEW[1]} view of a {WIDTH}x{HEIGHT} image, {COUNT} polygons of 50-200 vertices (ms)")
    columns = [
        ("switch", "switch (GUI blocked)"),
        ("shown", "switch (overlay shown)"),
        ("full", "full repaint"),
        ("full_redraw", "full repaint, image+overlay redrawn"),
        ("hover", "hover repaint"),
        ("after_zoom", "1st frame after zoom step"),
        ("zoom_exact", "exact overlay after zoom step"),
        ("edit", "one instance changed + repaint"),
    ]
    print(f"{'':<38}{'naive':>10}{'canvas':>10}{'x naive':>9}")
    for key, title in columns:
        naive, canvas = results["naive"][key], results["canvas"][key]
        ratio = naive / canvas if canvas and naive == naive else float("nan")
        print(f"{title:<38}{naive:>10.1f}{canvas:>10.1f}{ratio:>8.1f}x")
    canvas = results["canvas"]
    meets = canvas["full_redraw"] <= 16 and canvas["hover"] <= 3
    print(f"canvas meets full repaint <= 16 ms and hover <= 3 ms: {'yes' if meets else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
