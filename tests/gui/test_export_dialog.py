"""File ▸ Export as a person meets it: a missing folder is made, a failure is shown in the dialog with
the options kept, and an instance of area 0 is left out and named there."""

from __future__ import annotations

import json

import pytest
from window_helpers import shown_main_window

from annotator.gui.document import MemoryDocument
from annotator.gui.export_dialog import ExportFormat
from no_pixel_instances import dataset_with_empty_instances


def open_dataset(qtbot, tmp_path):
    window = shown_main_window(qtbot, tmp_path)
    document = MemoryDocument(dataset_with_empty_instances(), tmp_path, tmp_path / "photos.annotator")
    assert window.set_document(document)
    return window


def export_and_wait(qtbot, window, dialog) -> list:
    with qtbot.waitSignal(window.exporter.finished, timeout=20000) as finished:
        dialog.export_button.click()
    return finished.args


def test_export_makes_a_missing_folder_and_names_what_it_left_out(qtbot, tmp_path):
    window = open_dataset(qtbot, tmp_path)
    dialog = window.export()
    out = tmp_path / "not" / "yet" / "there.json"
    dialog.path.setText(str(out))
    dialog.accepted_only.setChecked(False)
    path, count, error, notes = export_and_wait(qtbot, window, dialog)
    assert error == "" and count == 1
    assert [a["id"] for a in json.loads(out.read_text())["annotations"]] == [1]
    assert dialog.isVisible(), "what was left out is shown before the dialog goes"
    shown = dialog.message.text()
    assert "instance 2 on a.png" in shown and "area 0" in shown and dialog.message.isVisible()
    assert "Exported 1 annotation " in window.statusBar().currentMessage()


def test_a_failed_export_keeps_the_dialog_and_its_options(qtbot, tmp_path):
    window = open_dataset(qtbot, tmp_path)
    dialog = window.export()
    (tmp_path / "a-file").write_text("not a folder")
    dialog.format.setCurrentIndex(dialog.format.findData(ExportFormat.YOLO))
    dialog.accepted_only.setChecked(False)
    dialog.path.setText(str(tmp_path / "a-file"))
    _path, _count, error, _notes = export_and_wait(qtbot, window, dialog)
    assert error and "a-file" in dialog.message.text() and dialog.message.isVisible()
    assert dialog.isVisible() and dialog.export_button.isEnabled()
    assert dialog.chosen_format is ExportFormat.YOLO and not dialog.accepted_only.isChecked()
    dialog.path.setText(str(tmp_path / "yolo"))  # fix the path, export again from the same dialog
    _path, count, error, _notes = export_and_wait(qtbot, window, dialog)
    assert error == "" and (tmp_path / "yolo" / "labels" / "a.txt").is_file()
    assert count == 1, "the instances of area 0 left out are not counted as exported"


# -- targets that are the dataset's own files, or links out of it ---------------------------------
def _project_from_coco(qtbot, tmp_path):
    """A real project made from `data/data.json` (images `a.png` and `panoptic/a.png`, the name a
    panoptic export gives `a.png`'s PNG), with a LabelMe file beside `a.png`; a canary outside."""
    from PIL import Image as PilImage

    from hostile_files import BASE, to_text

    folder = tmp_path / "data"
    (folder / "panoptic").mkdir(parents=True)
    PilImage.new("RGB", (40, 30)).save(folder / "a.png")
    PilImage.new("RGB", (20, 20)).save(folder / "panoptic" / "a.png")
    data = json.loads(to_text(BASE))
    data["images"][1]["file_name"] = "panoptic/a.png"
    (folder / "data.json").write_text(json.dumps(data))
    (folder / "a.json").write_text('{"version": "5.5.0", "shapes": [], "imagePath": "a.png"}')
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "canary.json").write_text("canary")
    window = shown_main_window(qtbot, tmp_path)
    assert window.open_path(folder / "data.json")
    return window, folder


def _files(root) -> dict:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and "-wal" not in p.name}


@pytest.mark.parametrize(
    ("export_format", "target"),
    [
        (ExportFormat.COCO, "data.annotator"),  # the project itself: every saved edit was replaced
        (ExportFormat.COCO, "data.json"),  # the COCO file the project was first made from
        (ExportFormat.COCO, "a.png"),  # an image
        (ExportFormat.COCO, "panoptic/a.png"),
        (ExportFormat.LABELME, "."),  # the images folder: a.json is the dataset's own LabelMe file
        (ExportFormat.PANOPTIC, "."),  # panoptic/a.png, a.png's PNG, is an image of the dataset
        (ExportFormat.LABELME, "linked"),  # a folder linked to outside the dataset
        (ExportFormat.YOLO, "linked"),
        (ExportFormat.PANOPTIC, "linked"),
    ],
)
def test_an_export_over_the_datasets_own_files_or_through_a_link_is_refused(
    qtbot, tmp_path, export_format, target
):
    window, folder = _project_from_coco(qtbot, tmp_path)
    (folder / "linked").symlink_to(tmp_path / "outside", target_is_directory=True)
    project, count = window.document.path, len(window.document.dataset.instances)
    before, outside = _files(folder), _files(tmp_path / "outside")
    dialog = window.export()
    dialog.format.setCurrentIndex(dialog.format.findData(export_format))
    dialog.accepted_only.setChecked(False)
    dialog.path.setText(str(folder / target))
    _path, _count, error, _notes = export_and_wait(qtbot, window, dialog)
    named = {"labelme": "a.json", "panoptic": "panoptic/a.png"}[export_format] if target == "." else target
    assert str(folder / named) in error and "export" in error
    assert dialog.isVisible() and str(folder / named) in dialog.message.text()
    assert _files(folder) == before and _files(tmp_path / "outside") == outside
    window.close()
    from annotator.io.project import open_project

    with open_project(project) as reopened:
        assert len(reopened.dataset.instances) == count


def test_a_relative_export_path_lands_in_the_datasets_folder(qtbot, tmp_path, monkeypatch):
    window, folder = _project_from_coco(qtbot, tmp_path)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    dialog = window.export()
    dialog.path.setText("relative.json")
    path, _count, error, _notes = export_and_wait(qtbot, window, dialog)
    assert not error and (folder / "relative.json").is_file() and not list(elsewhere.iterdir())
    window.close()


@pytest.mark.parametrize("victim", ["other.annotator", "photo.jpg", "notes"])
def test_a_coco_export_never_replaces_a_file_of_another_kind(qtbot, tmp_path, victim):
    """Typed into the path, another project (a backup set aside by a re-import) and a photo outside the
    dataset were replaced by JSON without a word; a name without a suffix is given .json."""
    window, folder = _project_from_coco(qtbot, tmp_path)
    target = tmp_path / "outside" / victim
    target.write_bytes(b"SQLite format 3\x00 work of a day")
    dialog = window.export()
    dialog.path.setText(str(target))
    _path, _count, error, _notes = export_and_wait(qtbot, window, dialog)
    assert target.read_bytes() == b"SQLite format 3\x00 work of a day"
    if victim == "notes":  # written beside it as notes.json
        assert not error and json.loads((tmp_path / "outside" / "notes.json").read_text())["images"]
    else:
        assert str(target) in error and ".json" in error and dialog.isVisible()
    window.close()


def test_an_existing_export_is_replaced_only_when_the_person_says_so(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window, folder = _project_from_coco(qtbot, tmp_path)
    earlier = tmp_path / "outside" / "canary.json"  # an earlier export, or any JSON of the person's
    answers, asked = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes], []
    monkeypatch.setattr(
        QMessageBox, "question", lambda _p, _t, text, *_a: asked.append(text) or answers.pop(0)
    )
    dialog = window.export()
    dialog.path.setText(str(earlier))
    dialog.export_button.click()  # asked, and cancelled: nothing written, the dialog stays
    assert len(asked) == 1 and "canary.json already exists" in asked[0]
    assert earlier.read_text() == "canary" and dialog.isVisible() and dialog.export_button.isEnabled()
    _path, count, error, _notes = export_and_wait(qtbot, window, dialog)  # asked again: yes
    assert len(asked) == 2 and not error and json.loads(earlier.read_text())["annotations"]
    window.close()


def test_the_next_export_offers_the_projects_last_one(qtbot, tmp_path):
    """Each export started from "<project>_export.json" again, whatever was chosen last time."""
    window, folder = _project_from_coco(qtbot, tmp_path)
    dialog = window.export()
    dialog.format.setCurrentIndex(dialog.format.findData(ExportFormat.YOLO))
    dialog.path.setText(str(tmp_path / "outside" / "for-training"))
    _path, _count, error, _notes = export_and_wait(qtbot, window, dialog)
    assert not error
    project = window.document.path
    window.set_document(None)
    assert window.open_path(project)  # reopened: the project keeps it
    again = window.export()
    assert again.chosen_format is ExportFormat.YOLO and again.path.text() == str(
        tmp_path / "outside" / "for-training"
    )
    window.close()


def test_browse_takes_the_file_the_save_dialog_chose_and_asks_no_second_time(qtbot, tmp_path, monkeypatch):
    """The save dialog asked already whether to replace the file; a COCO Browse opened a folder dialog
    after it too (a lost `else`), which replaced the chosen file by a folder."""
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    window, folder = _project_from_coco(qtbot, tmp_path)
    chosen = tmp_path / "outside" / "canary.json"  # exists: the save dialog asked
    folders, asked = [], []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *_a: (str(chosen), "COCO JSON (*.json)"))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a: folders.append(1) or str(folder))
    monkeypatch.setattr(
        QMessageBox, "question", lambda *_a: asked.append(1) or QMessageBox.StandardButton.Cancel
    )
    dialog = window.export()
    dialog._browse()
    assert dialog.path.text() == str(chosen) and folders == []
    _path, _count, error, _notes = export_and_wait(qtbot, window, dialog)
    assert not error and asked == [] and json.loads(chosen.read_text())["images"]
    window.close()
