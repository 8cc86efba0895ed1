"""Bringing existing labels into the window: File ▸ Import annotations (COCO, LabelMe, YOLO), the offer to
read a folder's LabelMe files into a project made without them, and the question a results list asks
(which dataset its image ids belong to).

An import is one `core.annotation_merge` edit pushed on the undo stack inside one store transaction:
saved like any edit, and one undo takes exactly it back. What did not match (images not in the project,
classes created, lines skipped) is listed in a dialog; a bad file gets one message naming it and why.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from annotator.core.annotation_merge import Merge, merge_edit
from annotator.core.session import SessionChange, SessionEvent
from annotator.gui.importing.report import ImportSummary, show_report
from annotator.gui.menus import menu_titled
from annotator.io.annotation_files import read_annotations
from annotator.io.errors import DatasetError
from annotator.io.labelme import labelme_beside_images
from annotator.io.results_file import NeedsDatasetError

ANNOTATION_FILTER = "Annotations (*.json *.txt *.yaml *.yml);;All files (*)"


class Importing(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.last: ImportSummary | None = None  # the latest import, as its report shows it
        self.offer_box: QMessageBox | None = None
        self.report_box: QMessageBox | None = None
        self._build_menu()
        self.session.subscribe(self._on_session)

    def _build_menu(self) -> None:
        window = self.window
        menu = menu_titled(window, "&File")
        after = menu.actions()[menu.actions().index(window.recent_menu.menuAction()) + 1]
        self.actions = []
        for text, slot, keys in (
            ("&Import annotations (COCO, LabelMe, YOLO)…", self.choose_file, "Ctrl+I"),
            ("Import annotations from a fol&der…", self.choose_folder, None),
        ):
            action = QAction(text, window)
            if keys:
                action.setShortcut(QKeySequence(keys))
            action.triggered.connect(slot)
            menu.insertAction(after, action)
            window.addAction(action)
            self.actions.append(action)
        self._enable()

    def _enable(self) -> None:
        for action in self.actions:
            action.setEnabled(self.session.document is not None)

    # -- File ▸ Import ----------------------------------------------------------------------------
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Import annotations into the project", self._start(), ANNOTATION_FILTER
        )
        if path:
            self.import_path(path)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self.window, "Import a folder of LabelMe files or YOLO labels", self._start()
        )
        if folder:
            self.import_path(folder)

    def _start(self) -> str:
        document = self.session.document
        return "" if document is None else str(document.root)

    def import_path(self, path: str | Path, *, dataset: str | Path | None = None) -> ImportSummary | None:
        """Merge the annotations of `path` into the open project as one undoable step; the report says
        what came in and what did not. `dataset`: the dataset a results list belongs to (asked for when
        missing)."""
        document = self.session.document
        if document is None:
            return None
        path = Path(path)
        try:
            found = read_annotations(
                path, document.dataset, reference=None if dataset is None else Path(dataset)
            )
        except NeedsDatasetError:
            chosen = ask_results_dataset(self.window, path)
            return None if chosen is None else self.import_path(path, dataset=chosen)
        except Exception as error:  # noqa: BLE001 - a slot: the person gets a dialog, never a traceback
            QMessageBox.warning(self.window, "Cannot import", _describe(path, error))
            return None
        merge = merge_edit(document.dataset, found.dataset, text=f"Import {path.name}")
        self._push(merge)
        summary = ImportSummary(
            path, found.format, merge.report, tuple(found.problems), tuple(found.unplaced)
        )
        self._report(summary)
        return summary

    def _push(self, merge: Merge) -> None:
        """One undo step, written in one transaction (all of it on disk, or none)."""
        if merge.edit is None:
            return
        store = getattr(self.session.document, "store", None)
        with store.grouped() if store is not None else contextlib.nullcontext():
            self.window.editor.push(merge.edit)

    def _report(self, summary: ImportSummary) -> None:
        self.last = summary
        self.report_box = show_report(self.window, summary)
        self.window.statusBar().showMessage(summary.headline, 15000)

    # -- a folder's LabelMe files, for a project made without them --------------------------------
    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.DOCUMENT:
            self._enable()
            if getattr(self.session.document, "unread_labelme", False):
                QTimer.singleShot(0, self._offer_labelme)  # once the window shows the project

    def _offer_labelme(self) -> None:
        document = self.session.document
        if not getattr(document, "unread_labelme", False) or self.offer_box is not None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "LabelMe files in this folder",
            f"This folder has LabelMe files (labelme's .json beside the images), but "
            f"{document.path.name} was made without them.\n\nImport their shapes into the project?",
            QMessageBox.StandardButton.NoButton,
            self.window,
        )
        box.addButton("Import", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Don't import", QMessageBox.ButtonRole.RejectRole)
        box.setInformativeText("One step: Edit ▸ Undo takes it back. Not asked again for this project.")
        box.finished.connect(lambda _result: self._offer_answered(document, box))
        self.offer_box = box
        box.open()

    def _offer_answered(self, document, box: QMessageBox) -> None:
        self.offer_box = None
        chosen = box.clickedButton()
        imported = chosen is not None and box.buttonRole(chosen) is QMessageBox.ButtonRole.AcceptRole
        if document is not self.session.document:
            return
        if imported:
            self.import_folder_labelme()
        else:
            self.window.statusBar().showMessage(
                "LabelMe files not imported: File ▸ Import annotations from a folder… brings them in", 15000
            )
        try:
            document.remember_labelme(imported=imported)
        except DatasetError as error:  # the answer is asked again next time; nothing is lost
            self.window.statusBar().showMessage(str(error), 10000)

    def import_folder_labelme(self) -> ImportSummary | None:
        """The LabelMe files of the project's folder, merged as one undoable step."""
        document = self.session.document
        names = [image.file_name for image in document.dataset.images.values()]
        try:
            found = labelme_beside_images(document.root, names)
        except Exception as error:  # noqa: BLE001 - a slot: the person gets a dialog, never a traceback
            QMessageBox.warning(self.window, "Cannot import", _describe(document.root, error))
            return None
        if found is None:
            return None
        merge = merge_edit(document.dataset, found.dataset, text="Import the folder's LabelMe files")
        self._push(merge)
        summary = ImportSummary(document.root, "LabelMe", merge.report, tuple(found.problems), ())
        self._report(summary)
        return summary


def _describe(path: Path, error: Exception) -> str:
    """The dialog's text: our one line for bad input, else what went wrong with the file, still named."""
    if isinstance(error, DatasetError):
        return str(error)
    return f"{path}: cannot be imported ({type(error).__name__}: {error})"


def ask_results_dataset(parent, path: Path) -> Path | None:
    """Which dataset a COCO results list was computed on: a COCO file or a folder of images named by id."""
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Which images?",
        f"{path.name} is a COCO results list: it names its images only by id.\n\n"
        "Which dataset were these predictions computed on?",
        QMessageBox.StandardButton.Cancel,
        parent,
    )
    box.setInformativeText(
        "A COCO file gives the images, their folder and the class names (and is then the ground truth "
        "the predictions are compared with). A folder works when the image names end in their id, "
        "as COCO's do."
    )
    coco = box.addButton("COCO file…", QMessageBox.ButtonRole.AcceptRole)
    folder = box.addButton("Image folder…", QMessageBox.ButtonRole.AcceptRole)
    box.exec()
    start = str(path.parent)
    if box.clickedButton() is coco:
        chosen, _ = QFileDialog.getOpenFileName(parent, "The COCO dataset", start, "COCO JSON (*.json)")
    elif box.clickedButton() is folder:
        chosen = QFileDialog.getExistingDirectory(parent, "The folder of images", start)
    else:
        return None
    return Path(chosen) if chosen else None


def install_importing(window) -> Importing:
    window.importing = Importing(window)
    return window.importing
