"""The model dialog: which model and weights, device, thresholds, classes, input size; remembered (QSettings).

`PrelabelSettings` is the plain value the dialog edits; it turns into the `ModelSpec` and the
`PredictOptions` a request carries. Class names are resolved in the worker, against the categories of
the model actually loaded (the GUI cannot ask torchvision which classes a weights file has).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from annotator.core.predictor import DEFAULT_MODEL, MODEL_NAMES, Device, ModelSpec, PredictOptions

_GROUP = "prelabel"


@dataclass(frozen=True, kw_only=True)
class PrelabelSettings:
    """What the user chose for pre-labelling. `weights=""` means torchvision's COCO weights for `model`."""

    model: str = DEFAULT_MODEL
    weights: str = ""
    device: Device = Device.AUTO
    score_threshold: float = 0.5
    classes: str = ""  # names or ids, comma-separated; empty keeps every class
    mask_threshold: float = 0.5
    max_detections: int = 100
    input_size: int = 0  # the long side the image is resized to, at most; 0: the model's own (see options)
    min_mask_area: int = PredictOptions.min_mask_area  # pixels; smaller masks are dropped
    replace_predictions: bool = True  # earlier unreviewed predictions of the image are replaced
    release_after_minutes: float = 5.0  # idle model closed (its memory given back) after this; 0: never
    redo_prelabelled: bool = False  # "all images" also runs on images labelled or pre-labelled before

    def spec(self) -> ModelSpec:
        return ModelSpec(
            name=self.model,
            weights=Path(self.weights).expanduser() if self.weights.strip() else None,
            device=Device(self.device),
        )

    def options(self) -> PredictOptions:
        """The options of a run; with `input_size` 0 the sizes torchvision's COCO models use, which the
        worker replaces by a trained checkpoint's own (`follows_model`)."""
        return PredictOptions.with_max_size(
            self.input_size or 1333,
            score_threshold=self.score_threshold,
            mask_threshold=self.mask_threshold,
            max_detections=self.max_detections,
            min_mask_area=self.min_mask_area,
        )

    @property
    def follows_model(self) -> bool:
        return self.input_size == 0

    def release_after_s(self) -> float | None:
        return self.release_after_minutes * 60 if self.release_after_minutes > 0 else None

    def class_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.classes.split(",") if name.strip())

    @classmethod
    def load(cls, settings: QSettings) -> PrelabelSettings:
        """The remembered settings; a missing or unreadable value falls back to its default."""
        value = cls()
        for spec in fields(cls):
            raw = settings.value(f"{_GROUP}/{spec.name}")
            if raw is None:
                continue
            default = getattr(value, spec.name)
            try:
                if isinstance(default, bool):
                    parsed = raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1")
                else:
                    parsed = type(default)(raw)
                value = replace(value, **{spec.name: parsed})
            except (TypeError, ValueError):
                continue
        return value if value.model in MODEL_NAMES else replace(value, model=DEFAULT_MODEL)

    def save(self, settings: QSettings) -> None:
        for spec in fields(self):
            raw = getattr(self, spec.name)
            settings.setValue(f"{_GROUP}/{spec.name}", raw.value if isinstance(raw, Device) else raw)
        settings.sync()


WEIGHTS_NOTE = (
    "A checkpoint trained here brings its own architecture and classes; Model is used for a torchvision "
    "weights file"
)


class PrelabelDialog(QDialog):
    """Edit `PrelabelSettings`; `accept_text` names what OK does ("Save", "Pre-label 12 images").
    `known_models` describes checkpoints by path (the project's rounds): the dialog says which one the
    weights file is, since the Model choice does not apply to it."""

    def __init__(
        self,
        value: PrelabelSettings,
        parent: QWidget | None = None,
        *,
        accept_text: str = "Save",
        known_models: Mapping[str, str] | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Model settings")
        self._known = {_same_file_key(path): text for path, text in (known_models or {}).items()}
        # with no file chosen, Browse starts where the project's rounds are
        self._start_folder = str(Path(next(iter(known_models))).parent) if known_models else ""
        self.model = QComboBox()
        self.model.addItems(MODEL_NAMES)
        self.weights = QLineEdit(placeholderText="empty: torchvision's COCO weights (downloaded once)")
        self.weights.setToolTip(self.weights.placeholderText())
        self.weights.setMinimumWidth(
            self.weights.fontMetrics().horizontalAdvance(self.weights.placeholderText()) + 40
        )
        self.weights.setClearButtonEnabled(True)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        weights_row = QHBoxLayout()
        weights_row.setContentsMargins(0, 0, 0, 0)
        weights_row.addWidget(self.weights, 1)
        weights_row.addWidget(browse)
        self.device = QComboBox()
        for device in Device:
            self.device.addItem(device.value, device.value)
        self.score = _spin(0.0, 1.0, 0.05)
        self.classes = QLineEdit(placeholderText="all; or names / ids, comma-separated: person, car")
        self.mask_threshold = _spin(0.05, 0.95, 0.05)
        self.max_detections = QSpinBox(minimum=1, maximum=1000)
        self.input_size = QSpinBox(minimum=0, maximum=4096, singleStep=32, suffix=" px")
        self.input_size.setSpecialValueText("the model's own")
        self.input_size.setToolTip(
            "Images are resized so that their long side is at most this (and short side 800); the model's "
            "own: the size a trained checkpoint learnt at, 1333 for COCO weights"
        )
        self.min_mask_area = QSpinBox(minimum=0, maximum=100_000, suffix=" px")
        self.min_mask_area.setToolTip("Predictions whose mask covers fewer pixels are dropped (0 keeps all)")
        self.release_after = QDoubleSpinBox(minimum=0.0, maximum=600.0, decimals=1, singleStep=1.0)
        self.release_after.setSuffix(" min")
        self.release_after.setSpecialValueText("never")
        self.release_after.setToolTip(
            "The model process holds about 2 GB of memory; it is closed after this long without images "
            "to pre-label, and started again when needed"
        )
        self.replace_predictions = QCheckBox(
            "Replace earlier predictions (accepted and edited ones are kept)"
        )
        self.redo = QCheckBox("Also run on images labelled or pre-labelled before (“all images”)")
        self.problem = QLabel(wordWrap=True)
        self.problem.setStyleSheet("color: #c0392b")
        self.weights_note = QLabel(wordWrap=True)
        self.weights_note.setStyleSheet("color: palette(placeholder-text)")
        form = self._form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("Weights file", _wrap(weights_row))
        form.addRow("", self.weights_note)
        form.addRow("Device", self.device)
        form.addRow("Score threshold", self.score)
        form.addRow("Classes to keep", self.classes)
        form.addRow("Mask threshold", self.mask_threshold)
        form.addRow("Max detections", self.max_detections)
        form.addRow("Input size", self.input_size)
        form.addRow("Smallest mask", self.min_mask_area)
        form.addRow("Free the model's memory after", self.release_after)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(accept_text)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.replace_predictions)
        layout.addWidget(self.redo)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.weights.textChanged.connect(self._check)
        self.set_value(value)

    def set_value(self, value: PrelabelSettings) -> None:
        self.model.setCurrentText(value.model)
        self.weights.setText(value.weights)
        self.device.setCurrentIndex(max(0, self.device.findData(Device(value.device).value)))
        self.score.setValue(value.score_threshold)
        self.classes.setText(value.classes)
        self.mask_threshold.setValue(value.mask_threshold)
        self.max_detections.setValue(value.max_detections)
        self.input_size.setValue(value.input_size)
        self.min_mask_area.setValue(value.min_mask_area)
        self.release_after.setValue(value.release_after_minutes)
        self.replace_predictions.setChecked(value.replace_predictions)
        self.redo.setChecked(value.redo_prelabelled)
        self._check()

    def value(self) -> PrelabelSettings:
        return PrelabelSettings(
            model=self.model.currentText(),
            weights=self.weights.text().strip(),
            device=Device(self.device.currentData()),
            score_threshold=round(self.score.value(), 4),
            classes=self.classes.text().strip(),
            mask_threshold=round(self.mask_threshold.value(), 4),
            max_detections=self.max_detections.value(),
            input_size=self.input_size.value(),
            min_mask_area=self.min_mask_area.value(),
            release_after_minutes=round(self.release_after.value(), 1),
            replace_predictions=self.replace_predictions.isChecked(),
            redo_prelabelled=self.redo.isChecked(),
        )

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a Mask R-CNN checkpoint",
            self.weights.text() or self._start_folder,
            "Checkpoints (*.pt *.pth);;All files (*)",
        )
        if path:
            self.weights.setText(path)

    def _check(self) -> None:
        from annotator.io.errors import DatasetError
        from annotator.io.file_kind import require_regular_file

        text, problem = self.weights.text().strip(), ""
        if text:
            try:
                require_regular_file(Path(text).expanduser())  # a folder or a pipe is named as one
            except DatasetError as exc:
                problem = str(exc)
        known = self._known.get(_same_file_key(text)) if text else None
        # a round of this project brings its own architecture (the note names it): no Model row to
        # read as the architecture in use
        self._form.setRowVisible(self.model, known is None)
        self.weights_note.setText(known or WEIGHTS_NOTE)
        self.weights_note.setVisible(bool(text) and not problem)
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)


def _same_file_key(path: str) -> str:
    """A path as typed and as recorded compare equal (`~` expanded, made absolute)."""
    return str(Path(path).expanduser().absolute()) if path else ""


def _spin(low: float, high: float, step: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox(minimum=low, maximum=high, singleStep=step, decimals=2)
    return spin


def _wrap(layout: QHBoxLayout) -> QWidget:
    widget = QWidget()
    widget.setLayout(layout)
    return widget
