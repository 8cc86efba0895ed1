"""File ▸ Export…: which format (COCO JSON, LabelMe, YOLO segmentation, COCO panoptic), where to, and how
(only accepted instances; for COCO also RLE and scores); written in a worker.

The export works on a snapshot of the dataset (its values are immutable, so copying the dicts is
enough) and writes atomically, so the GUI keeps running on a large dataset and a failed write leaves
no half file. The dialog stays open until the export is written: a failure is shown in it with the
options as they were, and so is what the export left out (instances of area 0, for example).
"""

from __future__ import annotations

from dataclasses import dataclass
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
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
)

from annotator.core.model import Dataset
from annotator.core.wording import counted
from annotator.gui.workers import BackgroundWorker
from annotator.io.errors import DatasetError

SHOWN_NOTES = 12  # lines of "left out" notes in the dialog; the rest are counted


EXPORT_KEYS = ("export_path", "export_format")  # the project's settings: its last export


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
    """Format, path and options; `export_requested(path, options)` asks for the export, and
    `show_result` tells the dialog how it went."""

    export_requested = Signal(object, dict)

    def __init__(self, default_path: Path, parent=None, *, protected: tuple[Path | None, ...] = ()) -> None:
        """`protected`: the project's own files, which the export refuses to write over (not asked)."""
        super().__init__(parent)
        self._protected = {_same(p) for p in protected if p is not None}
        self.setWindowTitle("Export")
        self._default = default_path
        self.format = QComboBox()
        for export_format, label in FORMAT_LABELS.items():
            self.format.addItem(label, export_format)
        self.format.currentIndexChanged.connect(self._format_changed)
        self.path = QLineEdit(str(default_path))
        self._confirmed: Path | None = None  # a file the save dialog already asked to replace
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.accepted_only = QCheckBox("Only accepted instances (accepted, edited, drawn or imported)")
        self.accepted_only.setChecked(True)
        self.rle = QCheckBox("Masks as RLE (otherwise polygons where exact)")
        self.scores = QCheckBox("Include scores")
        self.message = QLabel(wordWrap=True)  # a failure, or what the export left out
        self.message.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.export_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.export_button.setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.format)
        layout.addLayout(row)
        for box in (self.accepted_only, self.rle, self.scores):
            layout.addWidget(box)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.resize(560, self.sizeHint().height())

    def restore(self, path: str | None, export_format: str | None) -> None:
        """The project's last export: its format and where it went (anything unknown is left as is)."""
        if export_format in set(ExportFormat):
            self.format.setCurrentIndex(self.format.findData(ExportFormat(export_format)))
        if path:
            self.path.setText(path)

    def accept(self) -> None:
        """Ask for the export (`export_requested`); the dialog closes once it is written (`show_result`)."""
        if not self.path.text().strip():
            self._say("Choose where to write the export.", error=True)
            return
        self.export_button.setEnabled(False)
        self.export_button.setText("Exporting…")
        self.message.hide()
        path = Path(self.path.text().strip()).expanduser()
        if not path.is_absolute():  # beside the default, in the dataset's folder, not the process's
            path = self._default.parent / path
        coco = self.chosen_format is ExportFormat.COCO
        if coco and not path.suffix:
            path = path.with_suffix(".json")
        asked = path == self._confirmed or _same(path) in self._protected or path.suffix.lower() != ".json"
        if coco and path.is_file() and not asked and not self._replace_ok(path):
            self.export_button.setText("Export")
            self.export_button.setEnabled(True)
            return
        self.export_requested.emit(path, self.options())

    def _replace_ok(self, path: Path) -> bool:
        """An export replaced any file of that name without a word (another export, anything .json)."""
        answer = QMessageBox.question(
            self,
            "Replace the file?",
            f"{path.name} already exists in {path.parent}. Replace it with this export?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def show_result_for(self, path: str, count: int, error: str, notes: list[str]) -> None:
        """`Exporter.finished`, connected: the result of this dialog's export, if it is still open."""
        if self.isVisible() and not self.export_button.isEnabled():
            self.show_result(count, error, notes)

    def show_result(self, count: int, error: str, notes: list[str]) -> None:
        """After the export: close if all went well; otherwise say what failed (options kept, try again)
        or what was left out (the Export button goes: nothing is left to do but read and close)."""
        self.export_button.setText("Export")
        self.export_button.setEnabled(True)
        if error:
            self._say(f"Export failed: {error}", error=True)
        elif notes:
            shown = notes[:SHOWN_NOTES]
            more = len(notes) - len(shown)
            lines = "\n".join(f"• {line}" for line in shown) + (f"\n… and {more} more" if more else "")
            exported = counted(count, "annotation")
            self._say(f"Exported {exported} to {self.path.text()}.\nLeft out or changed:\n{lines}")
            self.export_button.hide()
            self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Close")
        else:
            super().accept()

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #c0392b" if error else "color: #9a6700")
        self.message.show()
        self.resize(self.width(), max(self.height(), self.sizeHint().height()))  # room for every line

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
            self._confirmed = Path(path) if path else self._confirmed
        else:
            path = QFileDialog.getExistingDirectory(self, "Export to folder", self.path.text())
        if path:
            self.path.setText(path)

    def options(self) -> dict:
        options = {"format": self.chosen_format, "accepted_only": self.accepted_only.isChecked()}
        if self.chosen_format is ExportFormat.COCO:
            options.update(rle=self.rle.isChecked(), include_scores=self.scores.isChecked())
        return options


def _same(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:  # a loop of links: compared as written
        return path


@dataclass(frozen=True)
class ExportResult:
    count: int  # annotations written
    notes: list[str]  # what was left out or changed, one line each


def write_export(dataset: Dataset, path: Path, options: dict) -> ExportResult:
    """Write `dataset` in the chosen format, making the folder it goes in if it is missing. Refused
    before anything is written: a folder that is a link, a COCO target not named .json (an image, another
    project), and a target that is one of the dataset's own files (`images_root`, and the `protect`ed
    project and source files)."""
    from annotator.core.rules import is_accepted
    from annotator.io.coco_write import save_coco
    from annotator.io.export_files import (
        dataset_files,
        export_files,
        refuse_linked_folder,
        refuse_writing_over,
    )
    from annotator.io.problems import Problems

    export_format = ExportFormat(options.pop("format", ExportFormat.COCO))
    images_root = options.pop("images_root", None)
    project, source = options.pop("protect", (None, None))
    folder = path.parent if export_format is ExportFormat.COCO else path
    if export_format is not ExportFormat.COCO:
        refuse_linked_folder(folder)
    elif path.suffix.lower() != ".json":  # an image, a project: never replaced by JSON
        raise DatasetError(path, "a COCO export is written to a .json file: choose a name ending in .json")
    refuse_writing_over(
        export_files(dataset, path, export_format.value),
        dataset_files(dataset, root=images_root, project=project, source=source),
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DatasetError(folder, "must be a folder, but a file of that name is in the way") from None
    except OSError as exc:
        raise DatasetError(folder, f"cannot make this folder: {exc.strerror or exc}") from None
    if export_format is ExportFormat.COCO:
        problems = Problems()
        count = save_coco(dataset, path, **options, problems=problems)
        return ExportResult(count, problems.lines())
    if options.get("accepted_only"):
        dataset = dataset.snapshot(keep=is_accepted)
    if export_format is ExportFormat.LABELME:
        from annotator.io.labelme_write import save_labelme

        written = save_labelme(dataset, path, images_root=images_root)
    elif export_format is ExportFormat.YOLO:
        from annotator.io.yolo import save_yolo

        written = save_yolo(dataset, path)
    else:
        from annotator.io.panoptic import save_panoptic

        written = save_panoptic(dataset, path)
    return ExportResult(written.instances, written.notes)


class Exporter(QObject):
    """Runs exports one after another in its own thread, each on a snapshot of the dataset taken when it
    was asked for; `finished(path, count, error, notes)` arrives on the GUI thread ("" when no error)."""

    finished = Signal(str, int, str, list)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.worker = BackgroundWorker(self)
        self.worker.done.connect(
            lambda path, result: self.finished.emit(str(path), result.count, "", list(result.notes))
        )
        self.worker.failed.connect(self._failed)

    def export(self, dataset: Dataset, path: Path, options: dict) -> None:
        path = Path(path)
        self.worker.submit(partial(write_export, dataset.snapshot(), path, dict(options)), path)

    def _failed(self, path: Path, error: Exception) -> None:
        message = str(error) if isinstance(error, DatasetError) else f"{type(error).__name__}: {error}"
        self.finished.emit(str(path), 0, message, [])

    def wait(self) -> None:
        self.worker.wait()
