"""Make the README's screenshots from the bundled CC0/public-domain samples (never from test data, whose
photos may not be redistributed).

    .venv/bin/python packaging/make_screenshots.py

A demo project is built in a temporary folder: "ground truth" masks from OpenCV's GrabCut on the samples,
and model-like predictions made from them (shifted, eroded, one missed, one extra), with scores. Then:
`main_window.png` through `annotator open --screenshot`, exactly as a user can make it; `review.png` and
`evaluation.png` by driving the window (review keys, a ground-truth COCO file compared in the editor).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402

from annotator.core.geometry import Mask, area, mask_to_polygons  # noqa: E402
from annotator.core.model import Category, Dataset, Instance, Source, default_z_order  # noqa: E402
from annotator.io.coco import save_coco  # noqa: E402
from annotator.io.images import load_rgb  # noqa: E402
from annotator.io.project import open_project  # noqa: E402
from annotator.io.samples import samples_dir  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
CATEGORIES = [Category(1, "person"), Category(5, "airplane"), Category(17, "cat"), Category(47, "cup"),
              Category(51, "bowl"), Category(33, "suitcase")]  # fmt: skip
# image -> objects: (category, GrabCut box x0 y0 x1 y1, score of its prediction, how the prediction errs)
OBJECTS = {
    "astronaut.jpg": [(1, (45, 20, 455, 511), 0.96, "eroded"), (5, (390, 10, 470, 250), 0.71, "shifted"),
                      (33, (335, 300, 511, 511), 0.34, "wrong class")],
    "chelsea.jpg": [(17, (0, 0, 450, 299), 0.97, "exact")],
    "coffee.jpg": [(51, (80, 40, 560, 360), 0.88, "missed"), (47, (120, 15, 440, 280), 0.93, "eroded")],
    "rocket.jpg": [(5, (300, 80, 345, 426), 0.58, "shifted")],
}  # fmt: skip


def grabcut(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros(image.shape[:2], np.uint8)
    x0, y0, x1, y1 = box
    cv2.grabCut(image[:, :, ::-1].copy(), mask, (x0, y0, x1 - x0, y1 - y0), np.zeros((1, 65)),
                np.zeros((1, 65)), 8, cv2.GC_INIT_WITH_RECT)  # fmt: skip
    return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)


def predicted(mask: np.ndarray, error: str) -> np.ndarray:
    if error == "shifted":
        return np.roll(mask, 14, axis=1)
    if error == "eroded":
        return cv2.erode(mask, np.ones((9, 9), np.uint8))
    return mask


def build_demo(folder: Path) -> Path:
    """The demo project (predictions to review) and a ground-truth COCO file beside it."""
    truth = Dataset()
    truth.put_categories(CATEGORIES)
    for name in OBJECTS:
        shutil.copy(samples_dir() / name, folder / name)
    with open_project(folder) as project:
        ds = project.dataset
        ds.put_categories(CATEGORIES)
        truth.put_images(ds.images.values())
        for image in list(ds.images.values()):
            pixels = load_rgb(folder / image.file_name)
            made = []
            for category, box, score, error in OBJECTS[image.file_name]:
                mask = grabcut(pixels, box)
                polygons = mask_to_polygons(mask, tolerance=1.0, fill_holes=True).polygons
                truth.put_instances([Instance(len(truth.instances) + 1, image.id, category, polygons)])
                if error != "missed":
                    label = 1 if error == "wrong class" else category
                    model = Source.from_model("maskrcnn_resnet50_fpn", score)
                    geometry = Mask.from_array(predicted(mask, error))
                    made.append(Instance(ds.new_instance_id(), image.id, label, geometry, source=model))
            if image.file_name == "coffee.jpg":  # a detection with nothing there
                extra = np.zeros((image.height, image.width), np.uint8)
                cv2.ellipse(extra, (520, 330), (45, 30), 0, 0, 360, 1, -1)
                made.append(Instance(ds.new_instance_id(), image.id, 50, Mask.from_array(extra),
                                     source=Source.from_model("maskrcnn_resnet50_fpn", 0.62)))  # fmt: skip
            order = default_z_order({i.id: area(i.geometry, image.height, image.width) for i in made})
            ds.put_instances([i.with_changes(z=order[i.id]) for i in made])
        ds.put_categories([Category(50, "spoon")])
    truth.put_categories([Category(50, "spoon")])
    gt_file = folder.parent / "ground_truth.json"
    save_coco(truth, gt_file)
    return gt_file


def main_window_shot(folder: Path, temp: Path) -> None:
    env = dict(os.environ, XDG_DATA_HOME=str(temp), XDG_CONFIG_HOME=str(temp))
    command = [sys.executable, "-m", "annotator.cli.main", "open", str(folder),
               "--screenshot", str(OUT / "main_window.png"), "--size", "1400x860"]  # fmt: skip
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)


def review_and_evaluation_shots(folder: Path, gt_file: Path, temp: Path) -> None:
    from annotator.app import application, build_window

    app = application()
    window = build_window(folder, settings=QSettings(str(temp / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1500, 900)
    window.show()
    _wait(app, lambda: window.canvas.has_pixels)
    window.review.slider.setValue(40)
    window.review.step(1)
    window.review.accept_selected()
    _wait(app, lambda: False, 0.3)
    window.canvas.fit()
    _save(app, window, OUT / "review.png")

    window.review.slider.setValue(0)
    window.canvas.session.select(None)
    window.step_image(2)  # coffee: a miss, an eroded cup and an extra detection
    window.evaluation.load_file(gt_file)
    controller = window.evaluation.controller
    _wait(app, lambda: controller.result is not None and not controller.busy)
    window.classes_dock.hide()  # room for the evaluation dock's tables
    window.resizeDocks([window.evaluation.panel], [480], Qt.Orientation.Horizontal)
    window.evaluation.panel.raise_()
    window.evaluation.panel.choose_class(47)  # the cup's precision-recall curve
    _wait(app, lambda: window.canvas.has_pixels, 5)
    _wait(app, lambda: False, 0.5)
    window.canvas.fit()
    _save(app, window, OUT / "evaluation.png")
    controller.wait()
    window.close()


def _wait(app, condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


def _save(app, window, path: Path) -> None:
    app.processEvents()
    window.grab().save(str(path), "PNG")
    print(f"wrote {path}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as name:
        temp = Path(name)
        os.environ["XDG_DATA_HOME"] = str(temp)
        folder = temp / "demo"
        folder.mkdir()
        gt_file = build_demo(folder)
        main_window_shot(folder, temp)
        print(f"wrote {OUT / 'main_window.png'}")
        review_and_evaluation_shots(folder, gt_file, temp)


if __name__ == "__main__":
    main()
