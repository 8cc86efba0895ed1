"""Canvas benchmark: a 1600x1000 view of a 4000x3000 image with 500 instances (50-200 vertices).

Two designs in one run, same scene:
- naive:  one QGraphicsItem per instance, each polygon and fill drawn again every frame (no caching);
- canvas: the app's canvas as it is: one composited ARGB overlay per zoom level (gui.canvas.overlay).
Each design runs in its own process (so each peak RSS is its own); the canvas three times, as "today"
(every lever of docs/decisions/0020 off: the path before them), "held GIL" (all but levers 14 and 21: the
crops decoded by pycocotools, lazily in the bands), "mask crops" (all but lever 21: zoomed out, every fill
sampled from the mask's crop) and "now", and the ratios today / now, held GIL / now and mask crops / now.
Prints, in ms: switching to the image (time the GUI thread is blocked, and until the overlay is shown;
then to a second image of 500 instances, whose overlay the canvas makes while idle, as the main window
asks it to for the following image, and back to the first),
a full repaint (view cache warm, and with the image and overlay drawn again), a hover repaint, the first
frame after a zoom step and the time until the exact overlay for the new zoom is shown, and after the
step back out to fit (whose tile the zoom step kept), and one instance changing (partial redraw and repaint); the same zoom step at 1:1 (zoomed in); one mouse wheel
notch's zoom at fit by the + key (whose tile the canvas makes ahead while idle), and by the wheel itself
(whose events are a gesture that settles before a build), at fit and then twice zoomed in, each notch
after a pause, then two notches out (the second to a zoom whose tile no step kept: "lever 28 off" runs
without the tile a notch out made ahead), then one in at fit with an instance selected ("lever 29 off":
no notch tile made ahead while anything is selected), one more notch in and F ("lever 30 off": no tile
at fit made ahead); the peak RSS.
Targets: full repaint <= 16 ms, hover <= 3 ms; exact overlay after a zoom step <= 100 ms, switch until
the overlay is shown <= 150 ms. Run: `.venv/bin/python bench/canvas.py`; with `--masks 100` each image
holds its first 100 instances as RLE masks, as pre-labelling leaves an image (levers 21 and 22 of
docs/decisions/0020 are for polygons and masks).
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QWheelEvent
from PySide6.QtWidgets import QApplication, QGraphicsScene, QGraphicsView

import annotator.gui.canvas.compose as compose
from annotator.core import coco_native
from annotator.core.geometry import Mask, Polygons
from annotator.core.model import Dataset
from annotator.core.session import BareDocument, Session, ViewStyle
from annotator.gui.canvas.items import InstanceItem, MarkItem
from annotator.gui.canvas.overlay import Levers
from annotator.gui.canvas.view import NOTCH, WHEEL_NOTCH, Canvas
from scene import COUNT, HEIGHT, VIEW, WIDTH, as_masks, make_dataset, make_levels, with_next_image

REPEATS = 15
# `--masks N`: each image holds N RLE masks (its first N instances), as pre-labelling leaves it
MASKS = int(sys.argv[sys.argv.index("--masks") + 1]) if "--masks" in sys.argv else 0


def scene(*, next_image: bool) -> Dataset:
    dataset = with_next_image(make_dataset()) if next_image else make_dataset()
    return as_masks(dataset, MASKS) if MASKS else dataset


def moved_right(geometry, pixels: float):
    """The same shape `pixels` to the right (a mask by whole pixels)."""
    if isinstance(geometry, Polygons):
        return Polygons(tuple(ring + (pixels, 0.0) for ring in geometry.rings))
    return Mask.from_array(np.roll(geometry.to_array(), round(pixels), axis=1))


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
        "zoom_back": float("nan"),
        "zoom_in_exact": float("nan"),
        "shown_next": float("nan"),
        "notch_exact": float("nan"),
        "wheel_fit": float("nan"),
        "wheel_in": float("nan"),
        "wheel_out": float("nan"),
        "wheel_selected": float("nan"),
        "fit_exact": float("nan"),
        "shown_back": float("nan"),
        "edit": float("nan"),
    }


# -- the canvas as it is ----------------------------------------------------------------------------
def today() -> Levers:
    """The overlay as it was before docs/decisions/0020: every lever off."""
    return Levers(**{lever.name: False for lever in dataclasses.fields(Levers)})


def exact_after(app: QApplication, canvas: Canvas, zoom) -> float:
    """Ms from a zoom until the exact overlay for it is on screen (a frame right after the zoom too)."""
    started = time.perf_counter()
    zoom()
    canvas.viewport().repaint()
    wait_for(app, canvas.overlay.shows_view)
    canvas.viewport().repaint()
    return ms(started)


def wheel_notch(canvas: Canvas, point: QPointF, *, out: bool = False) -> None:
    """One notch of a mouse wheel in (or `out`) over `point`, as the window system sends it (a zoom
    gesture: the canvas shows the last frame stretched until the wheel settles, unless the notch's tile
    is ready)."""
    angle = -WHEEL_NOTCH if out else WHEEL_NOTCH
    QApplication.sendEvent(canvas.viewport(), QWheelEvent(
        point, QPointF(canvas.viewport().mapToGlobal(point.toPoint())), QPoint(), QPoint(0, angle),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    ))  # fmt: skip


def measure_canvas(
    app: QApplication, dataset: Dataset, levels: list[QImage], levers: Levers
) -> dict[str, float]:
    canvas = Canvas(session=Session(style=ViewStyle(show_labels=False)))
    canvas.overlay.levers = levers
    canvas.resize(*VIEW)
    canvas.setFrameShape(Canvas.Shape.NoFrame)
    canvas.show()
    canvas.session.open(BareDocument(dataset))
    app.processEvents()
    started = time.perf_counter()
    canvas.session.show_image(1)
    canvas.set_pixels(1, levels)
    switch = ms(started)  # the GUI thread is free again
    wait_for(app, canvas.overlay.shows_view)
    canvas.viewport().repaint()
    shown = ms(started)  # masks decoded and composited in the worker, overlay on screen
    wait_for(app, lambda: not canvas.overlay.building)
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
    wait_for(app, canvas.overlay.shows_view)
    canvas.viewport().repaint()
    zoom_exact = ms(started)
    wait_for(app, lambda: not canvas.overlay.building)
    zoom_back = exact_after(app, canvas, lambda: canvas.zoom_by(1 / 1.1))  # and back to fit
    wait_for(app, lambda: not canvas.overlay.building)
    canvas.set_zoom(1.0)
    wait_for(app, lambda: not canvas.overlay.building)
    canvas.viewport().repaint()
    zoom_in_exact = exact_after(app, canvas, lambda: canvas.zoom_by(1.1))
    wait_for(app, lambda: not canvas.overlay.building)
    canvas.fit()
    wait_for(app, lambda: not canvas.overlay.building and not canvas.overlay.working_ahead)
    wheel = QPointF(VIEW[0] * 0.3, VIEW[1] * 0.6)
    notch_exact = exact_after(app, canvas, lambda: canvas.zoom_by(NOTCH, wheel))  # the + key
    wait_for(app, lambda: not canvas.overlay.building)
    canvas.fit()
    wait_for(app, lambda: not canvas.overlay.building and not canvas.overlay.working_ahead)
    wheel_exact = []  # the wheel itself, a notch at a time, each after a pause (from fit: in, in, in)
    for _ in range(3):
        wheel_exact.append(exact_after(app, canvas, lambda: wheel_notch(canvas, wheel)))
        wait_for(app, lambda: not canvas.in_gesture and not canvas.overlay.building)
        wait_for(app, lambda: not canvas.overlay.working_ahead)
    wheel_out = []  # then out, paused: the first to the zoom the last notch left (its tile kept), then on
    for _ in range(2):
        wheel_out.append(exact_after(app, canvas, lambda: wheel_notch(canvas, wheel, out=True)))
        wait_for(app, lambda: not canvas.in_gesture and not canvas.overlay.building)
        wait_for(app, lambda: not canvas.overlay.working_ahead)
    canvas.fit()  # then an instance selected at fit (how an edit starts) and a notch in
    canvas.session.select(canvas.overlay.order[len(canvas.overlay.order) // 2].instance_id)
    wait_for(app, lambda: not canvas.overlay.building and not canvas.overlay.working_ahead)
    wheel_selected = exact_after(app, canvas, lambda: wheel_notch(canvas, wheel))
    wait_for(app, lambda: not canvas.in_gesture and not canvas.overlay.building)
    canvas.session.select(None)
    wait_for(app, lambda: not canvas.overlay.working_ahead)
    wheel_notch(canvas, wheel)  # one notch further in, then F (fit) after a pause
    wait_for(app, lambda: not canvas.in_gesture and not canvas.overlay.building)
    wait_for(app, lambda: not canvas.overlay.working_ahead)
    fit_exact = exact_after(app, canvas, canvas.fit)
    wait_for(app, lambda: not canvas.overlay.building)
    canvas.fit()
    wait_for(app, lambda: not canvas.overlay.building)
    edits = []
    for instance_id in ids[:REPEATS]:
        instance = dataset.instances[instance_id]
        moved = moved_right(instance.geometry, 25.0)
        started = time.perf_counter()
        dataset.put_instances([instance.with_changes(geometry=moved)])
        canvas.viewport().repaint()
        edits.append(ms(started))
    canvas.prefetch(2)  # as the main window does for the following image
    wait_for(app, lambda: not canvas.overlay.working_ahead)
    started = time.perf_counter()
    canvas.session.show_image(2)
    canvas.set_pixels(2, levels)
    wait_for(app, canvas.overlay.shows_view)
    canvas.viewport().repaint()
    shown_next = ms(started)
    wait_for(app, lambda: not canvas.overlay.building and not canvas.overlay.working_ahead)
    started = time.perf_counter()
    canvas.session.show_image(1)  # and back (A after D)
    canvas.set_pixels(1, levels)
    wait_for(app, canvas.overlay.shows_view)
    canvas.viewport().repaint()
    shown_back = ms(started)
    wait_for(app, lambda: not canvas.overlay.building)
    canvas.close()
    canvas.overlay.builder.wait()
    return {
        "shown_next": shown_next,
        "shown_back": shown_back,
        "switch": switch,
        "shown": shown,
        "full": full,
        "full_redraw": full_redraw,
        "hover": statistics.median(hover),
        "after_zoom": after_zoom,
        "zoom_exact": zoom_exact,
        "zoom_back": zoom_back,
        "zoom_in_exact": zoom_in_exact,
        "notch_exact": notch_exact,
        "wheel_fit": wheel_exact[0],
        "wheel_in": max(wheel_exact[1:]),
        "wheel_out": wheel_out[1],
        "wheel_selected": wheel_selected,
        "fit_exact": fit_exact,
        "edit": statistics.median(edits),
    }


def run(path: str) -> dict[str, float]:
    """One design, in this process: its figures and this process's peak RSS (MB)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    levels = make_levels()
    if path == "naive":
        results = measure_naive(app, scene(next_image=False), levels)
    else:
        dataset = scene(next_image=True)
        if path in ("today", "held GIL"):  # crops decoded by pycocotools' Python, lazily in the bands
            coco_native._lib = None
            compose.decode_fills = lambda *args: None
        if path in ("today", "held GIL", "lever 21 off"):  # every fill sampled from the mask's crop
            compose.VERTEX_FILL_BELOW = 0.0
        if path in ("today", "held GIL", "lever 22 off"):  # masks' outlines stroked as traced
            compose.STRAIGHTEN_BELOW = 0.0
        levers = (
            today()
            if path == "today"
            else Levers(
                zoom_out_ahead=path != "lever 28 off",
                zoom_ahead_selected=path != "lever 29 off",
                fit_ahead=path != "lever 30 off",
            )
        )
        results = measure_canvas(app, dataset, levels, levers)
    results["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def main() -> int:
    if sys.argv[1:2] == ["--run"]:
        print(json.dumps(run(sys.argv[2])))
        return 0
    results = {}
    variants = ("lever 21 off",) * (not MASKS) + (
        "lever 22 off",
        "lever 28 off",
        "lever 29 off",
        "lever 30 off",
    )
    for path in ("naive", "today", "held GIL", *variants, "now"):
        command = [sys.executable, __file__, "--run", path, *(["--masks", str(MASKS)] if MASKS else [])]
        child = subprocess.run(command, capture_output=True, text=True, check=True)
        results[path] = json.loads(child.stdout.strip().splitlines()[-1])
    shapes = f"{MASKS} RLE masks (of polygons" if MASKS else f"{COUNT} polygons (with"
    print(f"{VIEW[0]}x{VIEW[1]} view of a {WIDTH}x{HEIGHT} image, {shapes} 50-200 vertices; ms)")
    columns = [
        ("switch", "switch (GUI blocked)"),
        ("shown", "switch (overlay shown)"),
        ("shown_next", "switch to the next image (overlay shown)"),
        ("shown_back", "and back to the image left (overlay shown)"),
        ("full", "full repaint"),
        ("full_redraw", "full repaint, image+overlay redrawn"),
        ("hover", "hover repaint"),
        ("after_zoom", "1st frame after zoom step"),
        ("zoom_exact", "exact overlay after zoom step"),
        ("zoom_back", "and after the step back out"),
        ("zoom_in_exact", "exact overlay after zoom step at 1:1"),
        ("notch_exact", "exact overlay after + at fit"),
        ("wheel_fit", "... after a wheel notch at fit"),
        ("wheel_in", "... after the next notches, paused (worst)"),
        ("wheel_out", "... after the second notch out, paused"),
        ("wheel_selected", "... after a notch, an instance selected"),
        ("fit_exact", "... after F (fit), zoomed in"),
        ("edit", "one instance changed + repaint"),
        ("rss", "peak RSS (MB)"),
    ]
    print(f"{'':<38}{'naive':>10}{'today':>10}{'now':>10}{'today/now':>11}")
    for key, title in columns:
        naive, before, now = (results[path][key] for path in ("naive", "today", "now"))
        ratio = before / now if now else float("nan")
        print(f"{title:<38}{naive:>10.1f}{before:>10.1f}{now:>10.1f}{ratio:>10.2f}x")
    held = results["held GIL"]
    print("lever 14 alone (crops decoded without the GIL, two threads): held GIL / now")
    for key in ("shown", "shown_next", "zoom_exact"):
        title = dict(columns)[key]
        print(
            f"  {title:<44}{held[key]:>8.1f} /{results['now'][key]:>7.1f}{held[key] / results['now'][key]:>8.2f}x"
        )
    for variant, what in (
        ("lever 21 off", "zoomed out, polygons filled from their vertices"),
        ("lever 22 off", "zoomed out, masks' outlines straightened"),
        ("lever 28 off", "zoomed in, the tile a notch out made ahead"),
        ("lever 29 off", "the notches' tiles made ahead with an instance selected"),
        ("lever 30 off", "zoomed in, the tile at fit made ahead"),
    ):
        if variant not in results:
            continue
        off = results[variant]
        print(f"{variant[:-4]} alone ({what}): off / now")
        keys = {
            "lever 28 off": ("wheel_out", "shown_next", "rss"),
            "lever 29 off": ("wheel_selected", "wheel_out", "rss"),
            "lever 30 off": ("fit_exact", "shown_next", "rss"),
        }.get(variant, ("shown", "shown_next", "zoom_exact", "zoom_in_exact", "rss"))
        for key in keys:
            title = dict(columns)[key]
            now = results["now"][key]
            print(f"  {title:<44}{off[key]:>8.1f} /{now:>7.1f}{off[key] / now:>8.2f}x")
    now = results["now"]
    meets = now["full_redraw"] <= 16 and now["hover"] <= 3
    print(f"canvas meets full repaint <= 16 ms and hover <= 3 ms: {'yes' if meets else 'no'}")
    exact = now["zoom_exact"] <= 100 and now["shown"] <= 150
    print(
        f"exact overlay <= 100 ms after a zoom step and <= 150 ms after a switch: {'yes' if exact else 'no'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
