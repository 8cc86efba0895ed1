"""Existing labels come in through the window, on real files from other tools: a LabelMe folder or file
opens with its shapes, a project made without its folder's LabelMe files offers them, a COCO file with
scores opens as predictions to review and compare, a results list asks for its dataset, and
File ▸ Import annotations merges COCO, LabelMe or YOLO labels by file name as one undoable step."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from dialog_helpers import answer_next_dialog, click_button
from pycocotools.coco import COCO
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QMessageBox
from window_helpers import shown_main_window

from annotator.core import classes
from annotator.core.edits import AddInstances
from annotator.core.geometry import Mask
from annotator.core.model import Instance, Review, Source
from annotator.core.rules import is_unreviewed_prediction
from annotator.io.project import open_project
from conftest import testdata_dir as _testdata

LABELME = _testdata() / "labelme_examples"
ISAT = _testdata() / "isat_coco_tiny"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """The window; a "Cannot open" warning is recorded in `window.warnings` instead of waiting for a
    click (the test that wants the real message box answers it)."""
    win = shown_main_window(qtbot, tmp_path, width=1400, height=900)
    win.warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: win.warnings.append(text))
    yield win
    win.evaluation.controller.wait()
    win.loader.wait()


def _labelme_folder(tmp_path: Path) -> Path:
    shutil.copytree(LABELME / "instance_segmentation", tmp_path / "seg")
    return tmp_path / "seg/data_annotated"


def _isat(tmp_path: Path) -> Path:
    shutil.copytree(ISAT, tmp_path / "isat")
    return tmp_path / "isat"


def _state(dataset) -> tuple:
    return dict(dataset.images), dict(dataset.categories), dict(dataset.instances)


def _close_project(window) -> Path:
    path = window.document.path
    assert window.set_document(None)
    return path


def _choose_file(path: Path):
    def handle(dialog) -> None:
        assert isinstance(dialog, QFileDialog), dialog
        dialog.selectFile(str(path))
        dialog.accept()

    return handle


# -- opening -------------------------------------------------------------------------------------
def test_labelme_folder_opens_with_its_instances(window, tmp_path, qtbot):
    folder = _labelme_folder(tmp_path)
    assert window.open_path(folder)
    dataset = window.document.dataset
    assert (len(dataset.images), len(dataset.instances)) == (3, 12)
    assert "12 instances on 3 images read from LabelMe files" in window.statusBar().currentMessage()
    model = window.images_dock.proxy
    counts = sorted(int(model.index(row, 2).data()) for row in range(model.rowCount()))
    assert counts == [3, 3, 6]  # the image list's Instances column
    shown = dataset.instance_count(window.session.image_id)
    assert shown > 0
    qtbot.waitUntil(lambda: window.instances_dock.tree.topLevelItemCount() == shown)
    _close_project(window)
    with open_project(folder) as project:  # saved in the project, like any edit
        assert len(project.dataset.instances) == 12


def test_project_made_without_the_labelme_files_offers_them(window, tmp_path, qtbot):
    folder = _labelme_folder(tmp_path)
    aside = tmp_path / "aside"
    aside.mkdir()
    for file in folder.glob("*.json"):
        file.rename(aside / file.name)
    open_project(folder).close()  # made earlier, when the folder held only the images
    for file in aside.iterdir():
        file.rename(folder / file.name)

    assert window.open_path(folder)
    dataset = window.document.dataset
    before = _state(dataset)
    qtbot.waitUntil(lambda: window.importing.offer_box is not None and window.importing.offer_box.isVisible())
    box = window.importing.offer_box
    assert "made without them" in box.text()
    next(b for b in box.buttons() if b.text() == "Import").click()
    qtbot.waitUntil(lambda: len(dataset.instances) == 12)
    assert window.importing.last.report.instances == 12
    stack = window.editor.history.stack
    stack.undo()  # one step takes the whole import back
    assert _state(dataset) == before
    stack.redo()
    assert len(dataset.instances) == 12
    window.importing.report_box.close()
    _close_project(window)
    with open_project(folder) as project:
        assert len(project.dataset.instances) == 12 and not project.unread_labelme  # not offered again


def test_declined_labelme_offer_is_not_asked_again(window, tmp_path, qtbot):
    folder = _labelme_folder(tmp_path)
    aside = tmp_path / "aside"
    aside.mkdir()
    for file in folder.glob("*.json"):
        file.rename(aside / file.name)
    open_project(folder).close()
    for file in aside.iterdir():
        file.rename(folder / file.name)
    assert window.open_path(folder)
    qtbot.waitUntil(lambda: window.importing.offer_box is not None and window.importing.offer_box.isVisible())
    next(b for b in window.importing.offer_box.buttons() if b.text() == "Don't import").click()
    qtbot.waitUntil(lambda: window.importing.offer_box is None)
    assert not window.document.dataset.instances
    assert "File ▸ Import annotations from a folder" in window.statusBar().currentMessage()
    _close_project(window)
    with open_project(folder) as project:
        assert not project.unread_labelme


def test_one_labelme_file_opens_its_image_with_its_shapes(window, tmp_path, qtbot):
    shutil.copytree(LABELME / "tutorial", tmp_path / "tutorial")
    assert window.open_path(tmp_path / "tutorial/apc2016_obj3.json")
    dataset = window.document.dataset
    assert len(dataset.images) == 1 and len(dataset.instances) == 4
    qtbot.waitUntil(lambda: window.instances_dock.tree.topLevelItemCount() == 4)
    qtbot.waitUntil(lambda: window.canvas.has_pixels, timeout=10000)  # the image beside it, decoded


def test_coco_file_with_scores_opens_as_predictions_to_review_and_compare(window, tmp_path, qtbot):
    folder = _isat(tmp_path)
    data = json.loads((folder / "coco_tiny.json").read_text())
    for k, ann in enumerate(data["annotations"]):
        ann["score"] = round(0.3 + 0.01 * k, 2)
    detections = folder / "detections.json"
    detections.write_text(json.dumps(data))

    assert window.open_path(detections)
    dataset = window.document.dataset
    assert all(is_unreviewed_prediction(i) for i in dataset.instances.values())
    assert "63 predictions with scores, to review" in window.statusBar().currentMessage()
    # review: Tab selects the best-scoring prediction of the image, Y accepts it
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.waitUntil(lambda: window.canvas.hasFocus())
    QTest.keyClick(window.canvas, Qt.Key.Key_Tab)
    selected = window.session.selected_instance
    on_image = dataset.instances_of(window.session.image_id)
    assert selected is not None and selected.score == max(i.score for i in on_image)
    QTest.keyClick(window.canvas, Qt.Key.Key_Y)
    assert dataset.instances[selected.id].review is Review.ACCEPTED
    # the score slider hides predictions below it
    window.review.slider.setValue(90)
    assert not any(window.session.is_visible(i) for i in on_image if i.score < 0.9 and i.id != selected.id)
    window.review.slider.setValue(0)
    # compared with the file they came from, every prediction is a true positive
    window.evaluation.load_file(folder / "coco_tiny.json")
    controller = window.evaluation.controller
    qtbot.waitUntil(lambda: controller.result is not None and not controller.busy, timeout=30000)
    result = controller.result
    assert result.predictions == 63 and result.evaluation.stats[1] == pytest.approx(1.0)


def test_results_list_asks_for_its_dataset_then_compares_with_it(window, tmp_path, qtbot):
    folder = _isat(tmp_path)
    gt = json.loads((folder / "coco_tiny.json").read_text())
    results = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": a["segmentation"],
         "score": 0.8}
        for a in gt["annotations"] if not a["iscrowd"]
    ]  # fmt: skip
    path = folder / "results.json"
    path.write_text(json.dumps(results))

    asked = answer_next_dialog(click_button("COCO file", then=_choose_file(folder / "coco_tiny.json")))
    assert window.open_path(path)
    assert "names its images only by id" in asked[0].text()
    dataset = window.document.dataset
    assert len(dataset.instances) == 61 and all(
        is_unreviewed_prediction(i) for i in dataset.instances.values()
    )
    assert window.document.root == folder / "images"
    controller = window.evaluation.controller
    qtbot.waitUntil(lambda: controller.result is not None and not controller.busy, timeout=30000)
    assert controller.ground_truth.name == "coco_tiny.json"
    table = window.evaluation.panel.class_table
    shown = {table.item(row, 0).text() for row in range(table.rowCount())}
    assert "person" in shown and not any(name.startswith("class ") for name in shown)


# -- File ▸ Import annotations -------------------------------------------------------------------
def test_import_coco_merges_by_file_name_as_one_undoable_step(window, tmp_path, qtbot):
    folder = _isat(tmp_path)
    assert window.open_path(folder / "images")
    dataset = window.document.dataset
    window.editor.push(classes.add(dataset, "person"))  # the person's own class, matched by name
    person = classes.find_by_name(dataset, "person").id
    before = _state(dataset)
    data = json.loads((folder / "coco_tiny.json").read_text())
    data["images"].append({"id": 1, "file_name": "elsewhere.jpg", "width": 10, "height": 10})
    data["annotations"].append(
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 5, 1, 5, 5]], "iscrowd": 0}
    )
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(data))

    summary = window.importing.import_path(path)
    assert len(dataset.instances) == 63
    assert summary.report.instances == 63 and summary.report.images == 5
    assert summary.not_in_project == ("elsewhere.jpg: not in the project; its instance is left out",)
    used = {
        c["name"] for c in data["categories"] if any(a["category_id"] == c["id"] for a in data["annotations"])
    }
    assert set(summary.report.created_classes) == used - {"person"}
    people = [i for i in dataset.instances.values() if dataset.categories[i.category_id].name == "person"]
    assert people and all(i.category_id == person for i in people)
    box = window.importing.report_box
    assert box.isVisible() and "Imported 63 instances on 5 images" in box.text()
    assert "elsewhere.jpg" in box.informativeText() and "Classes created" in box.informativeText()
    box.close()

    stack = window.editor.history.stack
    assert stack.undoText() == "Import labels.json"
    stack.undo()
    assert _state(dataset) == before
    stack.redo()
    assert len(dataset.instances) == 63
    project_path = _close_project(window)
    with open_project(project_path) as project:  # written through, like any edit
        assert len(project.dataset.instances) == 63


def test_import_labelme_folder_and_yolo_labels(window, tmp_path, qtbot):
    folder = _isat(tmp_path)
    categories = sorted(
        json.loads((folder / "coco_tiny.json").read_text())["categories"], key=lambda c: c["id"]
    )
    (folder / "yolo/classes.txt").write_text("".join(c["name"] + "\n" for c in categories))
    assert window.open_path(folder / "images")
    dataset = window.document.dataset

    labelme = window.importing.import_path(folder / "labelme")
    assert labelme.format == "LabelMe" and labelme.report.images == 5 and not labelme.not_in_project
    after_labelme = len(dataset.instances)
    window.importing.report_box.close()
    yolo = window.importing.import_path(folder / "yolo")
    assert yolo.report.instances == 61 and len(dataset.instances) == after_labelme + 61
    names = {c.name for c in dataset.categories.values()}
    assert len(names) == len(dataset.categories)  # LabelMe's "bird" and YOLO's "bird" are one class
    assert "bird" not in yolo.report.created_classes
    window.importing.report_box.close()


def test_yolo_labels_without_class_names_go_to_the_projects_classes_by_index(window, tmp_path, qtbot):
    """A COCO project (80 classes) and the YOLO labels its export would write, without classes.txt:
    index i is the project's i-th class in id order; no class named "0" or "11" is made."""
    folder = _isat(tmp_path)
    assert window.open_path(folder / "coco_tiny.json")
    dataset = window.document.dataset
    before = {c.id: c.name for c in dataset.categories.values()}
    labelled = Counter(before[i.category_id] for i in dataset.instances.values() if not i.iscrowd)
    old_ids = set(dataset.instances)
    yolo = window.importing.import_path(folder / "yolo")
    assert yolo.report.instances == 61 and not yolo.report.created_classes
    assert {c.id: c.name for c in dataset.categories.values()} == before
    imported = Counter(before[dataset.instances[i].category_id] for i in set(dataset.instances) - old_ids)
    assert imported == labelled  # the same objects under the same classes
    window.importing.report_box.close()


def test_a_bad_file_gets_one_message_and_changes_nothing(window, tmp_path, qtbot, monkeypatch):
    monkeypatch.undo()  # the real message box this time
    folder = _isat(tmp_path)
    assert window.open_path(folder / "images")
    dataset = window.document.dataset
    before, steps = _state(dataset), window.editor.history.stack.count()
    bad = tmp_path / "cut.json"
    bad.write_text('{"images": [{"id": 1, "file_name": "a.jpg"')
    said: list[str] = []

    def read_and_close(box) -> None:
        said.append(box.text())
        click_button("OK")(box)

    answer_next_dialog(read_and_close)
    assert window.importing.import_path(bad) is None
    assert len(said) == 1 and str(bad) in said[0] and "truncated" in said[0]
    assert _state(dataset) == before and window.editor.history.stack.count() == steps


def test_a_file_the_reader_fails_on_is_one_dialog_never_a_traceback(window, tmp_path, monkeypatch):
    """Only DatasetError was caught: a data.yaml 100,000 lists deep (RecursionError) or a YOLO
    coordinate of 1e308 (GeometryError) raised out of File ▸ Import. Whatever a reader raises, the slot
    says it in one dialog naming the file, and the project is unchanged."""
    from annotator.gui.importing import actions

    folder = _isat(tmp_path)
    assert window.open_path(folder / "images")
    dataset = window.document.dataset
    before, steps = _state(dataset), window.editor.history.stack.count()

    def fails(*_args, **_kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(actions, "read_annotations", fails)
    monkeypatch.setattr(actions, "labelme_beside_images", fails)
    assert window.importing.import_path(folder / "yolo") is None
    assert window.importing.import_folder_labelme() is None
    assert len(window.warnings) == 2
    assert str(folder / "yolo") in window.warnings[0] and "RecursionError" in window.warnings[0]
    assert _state(dataset) == before and window.editor.history.stack.count() == steps


# -- comparison with a ground truth whose classes the project lacks --------------------------------
def test_comparison_shows_the_ground_truths_class_names(window, tmp_path, qtbot):
    folder = _isat(tmp_path)
    assert window.open_path(folder / "images")
    dataset = window.document.dataset
    assert not dataset.categories  # a folder of photos: no classes yet
    gt = COCO(str(folder / "coco_tiny.json"))
    by_name = {i.file_name: i.id for i in dataset.images.values()}
    first = dataset.new_instance_id()
    kept = [a for a in gt.dataset["annotations"] if not a["iscrowd"]][::2]  # half found: FN on the rest
    instances = tuple(
        Instance(first + k, by_name[gt.imgs[a["image_id"]]["file_name"]], a["category_id"],
                 Mask.from_array(gt.annToMask(a)), source=Source.from_model("m", 0.9))
        for k, a in enumerate(kept)
    )  # fmt: skip
    AddInstances(instances).apply(dataset)

    window.evaluation.load_file(folder / "coco_tiny.json")
    controller = window.evaluation.controller
    qtbot.waitUntil(lambda: controller.result is not None and not controller.busy, timeout=30000)
    table = window.evaluation.panel.class_table
    shown = {table.item(row, 0).text() for row in range(table.rowCount())}
    assert shown and shown <= {c["name"] for c in gt.dataset["categories"]}
    missed_texts = []
    for image_id in dataset.images:
        window.show_image(image_id)
        missed_texts += [text for _path, text in window.evaluation.view.missed._paths]
    names = {c["name"] for c in gt.dataset["categories"]}
    assert missed_texts and all(text[len("FN ") :] in names for text in missed_texts)
