"""Screenshots of review and evaluation for the README, from COCO val2017 image 000000549930 (Flickr,
CC BY 2.0, licence id 4 in coco_tiny.json) and its official ground truth, with predictions made by
perturbing that ground truth (the generator the tests use).

    .venv/bin/python packaging/make_review_screenshots.py
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pycocotools.coco import COCO  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from annotator.app import application  # noqa: E402
from annotator.core.edits import AddInstances  # noqa: E402
from annotator.core.geometry import Mask  # noqa: E402
from annotator.core.model import Instance, Source  # noqa: E402
from annotator.gui.main_window import MainWindow  # noqa: E402
from perturbed import perturbed_predictions  # noqa: E402

PHOTO = "000000549930.jpg"
OUT = ROOT / "docs" / "screenshots"


def _wait(app, condition, seconds: float = 30) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


def main() -> None:
    app = application()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        (folder / "images").mkdir(parents=True)
        source = ROOT.parent / "shared" / "testdata" / "isat_coco_tiny"
        shutil.copy(source / "images" / PHOTO, folder / "images" / PHOTO)
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(str(source / "coco_tiny.json"))
        results = [
            r for r in perturbed_predictions(gt, seed=11) if gt.imgs[r["image_id"]]["file_name"] == PHOTO
        ]
        window = MainWindow(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        window.resize(1500, 900)
        window.show()
        window.open_path(folder / "images")
        dataset = window.document.dataset
        from annotator.core.model import Category

        dataset.put_categories([Category(c["id"], c["name"]) for c in gt.dataset["categories"]])
        image_id = next(iter(dataset.images))
        first = dataset.new_instance_id()
        AddInstances(tuple(
            Instance(first + k, image_id, r["category_id"], Mask.from_coco_rle(r["segmentation"]), z=k,
                     source=Source.from_model("maskrcnn_resnet50_fpn_v2", r["score"]))
            for k, r in enumerate(results)
        )).apply(dataset)  # fmt: skip
        _wait(app, lambda: window.canvas.has_pixels)
        window.review.slider.setValue(40)
        window.review.step(1)
        window.review.accept_selected()
        window.review.reject_selected()
        _wait(app, lambda: False, 0.3)
        window.canvas.fit()
        _save(window, OUT / "review.png")

        window.review.slider.setValue(0)
        window.canvas.select(None)
        gt_file = Path(tmp) / "ground_truth.json"
        shutil.copy(source / "coco_tiny.json", gt_file)
        window.evaluation.load_file(gt_file)
        controller = window.evaluation.controller
        _wait(app, lambda: controller.result is not None and not controller.busy)
        window.resizeDocks(
            [window.evaluation.panel],
            [430],
            window.evaluation.panel.orientation()
            if False
            else __import__("PySide6.QtCore", fromlist=["Qt"]).Qt.Orientation.Horizontal,
        )
        window.evaluation.panel.raise_()
        _wait(app, lambda: False, 0.3)
        window.canvas.fit()
        _save(window, OUT / "evaluation.png")
        window.evaluation.controller.wait()
        window.close()


def _save(window, path: Path) -> None:
    app = application()
    app.processEvents()
    image = window.grab().toImage()
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(str(path), "PNG")
    print(f"{path}: {image.width()}x{image.height()}")


if __name__ == "__main__":
    main()
