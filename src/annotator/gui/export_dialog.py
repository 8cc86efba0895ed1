"""File ▸ Export COCO…: where to, and how (only accepted instances, RLE, scores); written in a worker.

The export works on a snapshot of the dataset (its values are immutable, so copying the dicts is
enough) and writes atomically, so the GUI keeps running on a large dataset and a failed write leaves
no half file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from annotator.core.model import Dataset


class ExportDialog(QDialog):
    def __init__(self, default_path: Path, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export COCO")
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
        layout.addLayout(row)
        for box in (self.accepted_only, self.rle, self.scores):
            layout.addWidget(box)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export COCO", self.path.text(), "COCO JSON (*.json)")
        if path:
            self.path.setText(path)

    def options(self) -> dict:
        return {
            "accepted_only": self.accepted_only.isChecked(),
            "rle": self.rle.isChecked(),
            "include_scores": self.scores.isChecked(),
        }


def snapshot(dataset: Dataset) -> Dataset:
    """A copy that later edits do not reach (values are frozen: only the indexes are copied)."""
    copy = Dataset(extra=dict(dataset.extra))
    copy.put_categories(dataset.categories.values(), notify=False)
    copy.put_images(dataset.images.values(), notify=False)
    copy.put_instances(dataset.instances.values(), notify=False)
    return copy


class _Signals(QObject):
    finished = Signal(str, int, str)  # path, annotations written, error ("" when none)


class _ExportJob(QRunnable):
    def __init__(self, dataset: Dataset, path: Path, options: dict, signals: _Signals) -> None:
        super().__init__()
        self.dataset, self.path, self.options, self.signals = dataset, path, options, signals

    def run(self) -> None:
        from annotator.io.coco_write import save_coco

        try:
            count = save_coco(self.dataset, self.path, **self.options)
        except Exception as exc:  # noqa: BLE001 - shown to the user, never lost in the thread
            self.signals.finished.emit(str(self.path), 0, f"{type(exc).__name__}: {exc}")
            return
        self.signals.finished.emit(str(self.path), count, "")


class Exporter(QObject):
    """Runs exports one after another in its own thread; `finished` arrives on the GUI thread."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.signals = _Signals(self)
        self.finished = self.signals.finished

    def export(self, dataset: Dataset, path: Path, options: dict) -> None:
        self.pool.start(_ExportJob(snapshot(dataset), Path(path), options, self.signals))

    def wait(self) -> None:
        self.pool.waitForDone()
