"""The review docks' tests share these: the real COCO photos (isat_coco_tiny) opened as a project, with
predictions made by perturbing their ground truth added as the project's own unreviewed predictions."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

from pycocotools.coco import COCO
from PySide6.QtCore import QRectF, Qt
from PySide6.QtTest import QTest

from annotator.core.edits import AddInstances
from annotator.core.geometry import Mask
from annotator.core.model import Dataset, Instance, Source
from perturbed import perturbed_predictions


def open_tiny(window, tmp_path: Path, testdata: Path) -> Path:
    """isat_coco_tiny copied and opened from its COCO file (a project beside it, COCO image ids kept);
    returns the COCO file's path (open it again to reopen the project)."""
    folder = tmp_path / "isat"
    shutil.copytree(testdata / "isat_coco_tiny", folder)
    path = folder / "coco_tiny.json"
    assert window.open_path(path)
    return path


def perturbed_results(coco_path: Path, seed: int = 7) -> list[dict]:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(coco_path))
    return perturbed_predictions(gt, seed=seed)


def add_own_predictions(dataset: Dataset, results: list[dict]) -> list[Instance]:
    """The results as unreviewed model instances of the project (saved like any change)."""
    first = dataset.new_instance_id()
    instances = [
        Instance(first + k, r["image_id"], r["category_id"], Mask.from_coco_rle(r["segmentation"]),
                 z=dataset.top_z(r["image_id"]) + 1 + k, source=Source.from_model("test", r["score"]))
        for k, r in enumerate(results)
    ]  # fmt: skip
    AddInstances(tuple(instances)).apply(dataset)
    return instances


def reopen(window, path: Path) -> Dataset:
    """Close the project (its changes written) and open it again from the file."""
    assert window.set_document(None)
    assert window.open_path(path)
    return window.document.dataset


def run_and_wait(qtbot, job, start=None, timeout: int = 30000):
    """Start (`start()`, or `job.run()`) and wait for the job's result."""
    with qtbot.waitSignal(job.finished, timeout=timeout) as blocker:
        (start or job.run)()
    return blocker.args[0]


def shows_box(canvas, box) -> bool:
    """Whether a COCO box [x, y, w, h] is wholly in view, and in the middle of the view along each axis
    the view can scroll (one the whole image fits in stays put)."""
    x, y, w, h = box
    seen, scene, scale = (
        canvas.mapToScene(canvas.viewport().rect()).boundingRect(),
        canvas.sceneRect(),
        canvas.scale_factor,
    )
    inside = seen.adjusted(-1, -1, 1, 1).contains(QRectF(x, y, w, h))
    across = seen.width() >= scene.width() - 1 or abs(seen.center().x() - (x + w / 2)) * scale < 3
    down = seen.height() >= scene.height() - 1 or abs(seen.center().y() - (y + h / 2)) * scale < 3
    return inside and across and down


def click_row(tree, item) -> None:
    """A real mouse click on a row of a QTreeWidget (scrolled into view first)."""
    tree.scrollToItem(item)
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())
