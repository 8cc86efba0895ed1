"""Canvas repaint benchmark: a 1600x1000 view of a 4000x3000 image with 500 instances (50-200 vertices).

Three designs in one run, same scene:
- naive:   one item per instance, each polygon and fill drawn again every frame (no caching);
- items:   the app's design, one item per instance with Qt's device-pixel cache (DeviceCoordinateCache);
- overlay: all instances composited once into one image-sized ARGB overlay, a frame is two image blits.
Prints full-repaint and hover-repaint times in ms, ratios to naive, and which design meets the targets
(full <= 16 ms, hover <= 3 ms). Run: `.venv/bin/python bench/canvas.py`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication, QGraphicsItem

from annotator.core.geometry import Polygons
from annotator.core.model import Category, Dataset, Image, Instance, Source, default_z_order
from annotator.gui.canvas import Canvas
from annotator.gui.items import CanvasStyle, outline_pen
from annotator.gui.render import pyramid, rgb_image

WIDTH, HEIGHT, COUNT = 4000, 3000, 500
VIEW = (1600, 1000)
REPEATS = 15


def make_dataset(seed: int = 0) -> Dataset:
    """500 star-shaped blobs, 50-200 vertices, sizes log-uniform (many small, a few large), 20 classes."""
    rng = np.random.default_rng(seed)
    dataset = Dataset()
    dataset.put_images([Image(1, "big.jpg", WIDTH, HEIGHT)], notify=False)
    dataset.put_categories([Category(c, f"class {c}") for c in range(1, 21)], notify=False)
    instances = []
    for index in range(1, COUNT + 1):
        n = int(rng.integers(50, 201))
        cx, cy = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
        radius = float(np.exp(rng.uniform(np.log(15), np.log(500))))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = radius * (0.75 + 0.25 * rng.random(n))
        ring = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
        source = Source.from_model("maskrcnn", float(rng.uniform(0.5, 1))) if index % 2 else Source()
        instances.append(Instance(index, 1, int(rng.integers(1, 21)), Polygons((ring,)), source=source))
    dataset.put_instances(instances, notify=False)
    z = default_z_order({inst.id: dataset.area_of(inst) for inst in instances})
    dataset.put_instances([inst.with_changes(z=z[inst.id]) for inst in instances], notify=False)
    return dataset


def make_levels() -> list[QImage]:
    rng = np.random.default_rng(1)
    small = (rng.random((HEIGHT // 50, WIDTH // 50, 3)) * 255).astype(np.uint8)
    import cv2

    pixels = cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    return pyramid(rgb_image(pixels).convertToFormat(QImage.Format.Format_RGB32))


class OverlayItem(QGraphicsItem):
    """Every instance composited once, back to front, into one image-sized premultiplied ARGB image."""

    def __init__(self, canvas: Canvas) -> None:
        super().__init__()
        self.image = QImage(WIDTH, HEIGHT, QImage.Format.Format_ARGB32_Premultiplied)
        self.image.fill(0)
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for item in sorted(canvas.items_by_id.values(), key=lambda i: i.zValue()):
            painter.drawImage(QPointF(item.fill.x0, item.fill.y0), item._fill_image)
            pen = outline_pen(item.instance, item.color, 3)
            pen.setCosmetic(False)
            painter.setPen(pen)
            painter.drawPath(item.outline)
        painter.end()
        self.setZValue(0.5)

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, WIDTH, HEIGHT)

    def paint(self, painter, option, widget=None) -> None:
        painter.drawImage(option.exposedRect, self.image, option.exposedRect)


def build(design: str, app: QApplication) -> tuple[Canvas, float]:
    started = time.perf_counter()
    canvas = Canvas(style=CanvasStyle(cached=design != "naive", show_labels=False))
    canvas.resize(*VIEW)
    canvas.setFrameShape(Canvas.Shape.NoFrame)
    canvas.set_dataset(make_dataset())
    canvas.show_image(1, make_levels())
    if design == "overlay":
        overlay = OverlayItem(canvas)
        overlay.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        canvas.scene().addItem(overlay)
        for item in canvas.items_by_id.values():
            item.setVisible(False)  # kept for hit tests and the selection outline, not drawn
    canvas.show()
    app.processEvents()
    canvas.fit()
    canvas.viewport().repaint()  # warm the caches
    return canvas, (time.perf_counter() - started) * 1e3


def measure(design: str, app: QApplication) -> dict[str, float]:
    canvas, build_ms = build(design, app)
    full = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        canvas.viewport().repaint()
        full.append((time.perf_counter() - started) * 1e3)
    canvas.zoom_by(1.1)
    started = time.perf_counter()
    canvas.viewport().repaint()
    after_zoom = (time.perf_counter() - started) * 1e3
    canvas.zoom_by(1 / 1.1)
    canvas.viewport().repaint()
    hover, ids = [], list(canvas.items_by_id)[-REPEATS * 2 :]
    for instance_id in ids:
        item = canvas.items_by_id[instance_id]
        point = item.shape_rect.center()
        started = time.perf_counter()
        canvas._set_hovered(canvas.instance_at(point) or instance_id)
        app.processEvents()
        hover.append((time.perf_counter() - started) * 1e3)
    canvas.close()
    return {
        "build": build_ms,
        "full": statistics.median(full),
        "after_zoom": after_zoom,
        "hover": statistics.median(hover),
    }


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    results = {design: measure(design, app) for design in ("naive", "items", "overlay")}
    naive = results["naive"]
    print(f"{VIEW[0]}x{VIEW[1]} view of a {WIDTH}x{HEIGHT} image, {COUNT} polygons of 50-200 vertices")
    print(
        f"{'design':<9}{'build':>9}{'full':>9}{'x naive':>9}{'hover':>9}{'x naive':>9}{'1st after zoom':>16}"
    )
    for design, r in results.items():
        print(
            f"{design:<9}{r['build']:>7.0f}ms{r['full']:>7.1f}ms{naive['full'] / r['full']:>8.1f}x"
            f"{r['hover']:>7.2f}ms{naive['hover'] / r['hover']:>8.1f}x{r['after_zoom']:>14.1f}ms"
        )
    meets = [d for d in ("items", "overlay") if results[d]["full"] <= 16 and results[d]["hover"] <= 3]
    # Prefer the per-item design when both meet the targets: it keeps one item per instance for editing.
    choice = meets[0] if meets else min(("items", "overlay"), key=lambda d: results[d]["full"])
    print(f"meets full <= 16 ms and hover <= 3 ms: {', '.join(meets) or 'none'}; choice: {choice}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
