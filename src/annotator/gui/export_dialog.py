"""File ▸ Export…: which format (COCO JSON, LabelMe, YOLO segmentation, COCO panoptic), where to, and how
(only accepted instances; for COCO also RLE and scores); written in a worker.

The export works on a snapshot of the dataset (its values are immutable, so copying the dicts is
enough) and writes atomically, so the GUI keeps running on a large dataset and a failed write leaves
no half file.
"""

from __future__ import annotations

from enum import StrEnum
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from annotator.core.model import Dataset
from annotator.gui.workers import BackgroundWorker
from annotator.io.errors import DatasetError


class ExportFormat(StrEnum):
    COCO = "coco"
    LABELME = "labelme"
    YOLO = "yolo"
    PANOPTIC = "panoptic"


FORMAT_LABELS = {
    ExportFormat.COCO: "COCO instances JSON (a file)",
    ExportFormat.LABELME: "LabelMe JSON, one per image (a folder)",
    ExportFormat.YOLO: "YOLO segmentation labels (a folder)",
    ExportFormat.PANOPTIC: "COCO panoptic PNG + JSON (a folder)",
}


class ExportDialog(QDialog):
    def __init__(self, default_path: Path, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self._default = default_path
        self.format = QComboBox()
        for export_format, label in FORMAT_LABELS.items():
            self.format.addItem(label, export_format)
        self.format.currentIndexChanged.connect(self._format_changed)
        self.path = QLineEdit(str(default_path))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.accepted_only = QCheckBox("Only accepted instances (accepted, edited or drawn by hand)")
        self.accepted_only.setChecked(True)
        self.rle = QCheckBox("Masks as RLE (otherwise polygons where exact)")
        self.scores = QCheckBox("Include scores")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.format)
        layout.addLayout(row)
        for box in (self.accepted_only, self.rle, self.scores):
            layout.addWidget(box)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())

    @property
    def chosen_format(self) -> ExportFormat:
        return ExportFormat(self.format.currentData())

    def _format_changed(self) -> None:
        coco = self.chosen_format is ExportFormat.COCO
        self.rle.setEnabled(coco)
        self.scores.setEnabled(coco)
        stem = self._default.with_suffix("")
        self.path.setText(str(self._default if coco else stem.with_name(f"{stem.name}_{self.chosen_format}")))

    def _browse(self) -> None:
        if self.chosen_format is ExportFormat.COCO:
            path, _ = QFileDialog.getSaveFileName(self, "Export COCO", self.path.text(), "COCO JSON (*.json)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export to folder", self.path.text())
        if path:
            self.path.setText(path)

    def options(self) -> dict:
        options = {"format": self.chosen_format, "accepted_only": self.accepted_only.isChecked()}
        if self.chosen_format is ExportFormat.COCO:
            options.update(rle=self.rle.isChecked(), include_scores=self.scores.isChecked())
        return options


def write_export(dataset: Dataset, path: Path, options: dict) -> int:
    """Write `dataset` in the chosen format; the number of annotations written."""
    from annotator.core.rules import is_accepted
    from annotator.io.coco_write import save_coco

    export_format = ExportFormat(options.pop("format", ExportFormat.COCO))
    images_root = options.pop("images_root", None)
    if export_format is ExportFormat.COCO:
        return save_coco(dataset, path, **options)
    if options.get("accepted_only"):
        dataset = dataset.snapshot(keep=is_accepted)
    if path.exists() and not path.is_dir():
        raise DatasetError(path, "must be a folder for this format")
    if export_format is ExportFormat.LABELME:
        from annotator.io.labelme_write import save_labelme

        save_labelme(dataset, path, images_root=images_root)
    elif export_format is ExportFormat.YOLO:
        from annotator.io.yolo import save_yolo

        save_yolo(dataset, path)
    else:
        from annotator.io.panoptic import save_panoptic

        save_panoptic(dataset, path)
    return len(dataset.instances)


class Exporter(QObject):
    """Runs exports one after another in its own thread, each on a snapshot of the dataset taken when it
    was asked for; `finished(path, count, error)` arrives on the GUI thread ("" when no error)."""

    finished = Signal(str, int, str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.worker = BackgroundWorker(self)
        self.worker.done.connect(lambda path, count: self.finished.emit(str(path), count, ""))
        self.worker.failed.connect(self._failed)

    def export(self, dataset: Dataset, path: Path, options: dict) -> None:
        path = Path(path)
        self.worker.submit(partial(write_export, dataset.snapshot(), path, dict(options)), path)

    def _failed(self, path: Path, error: Exception) -> None:
        message = error.reason if isinstance(error, DatasetError) else f"{type(error).__name__}: {error}"
        self.finished.emit(str(path), 0, message)

    def wait(self) -> None:
        self.worker.wait()
