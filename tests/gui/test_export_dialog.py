"""File ▸ Export as a person meets it: a missing folder is made, a failure is shown in the dialog with
the options kept, and an instance of area 0 is left out and named there."""

from __future__ import annotations

import json

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
    assert "Exported 1 annotations" in window.statusBar().currentMessage()


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
