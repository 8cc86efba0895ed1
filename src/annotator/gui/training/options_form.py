"""The options of a training round: architecture, start weights, how long, input size, device."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from annotator.core.model_rounds import ModelRound
from annotator.gui.training.options import Length, StartFrom, TrainOptions
from annotator.inference.train_config import BASES, DEVICES

BASE_NAMES = {
    "maskrcnn_resnet18_fpn": "ResNet-18 FPN, light (fast on a CPU)",
    "maskrcnn_resnet50_fpn": "ResNet-50 FPN (torchvision's)",
    "maskrcnn_resnet50_fpn_v2": "ResNet-50 FPN v2 (torchvision's)",
}
COCO_BASE = "maskrcnn_resnet50_fpn"
LIGHT_BASE = "maskrcnn_resnet18_fpn"


class OptionsForm(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._value = TrainOptions()
        self._last: ModelRound | None = None
        self.base = QComboBox()
        for base in BASES[::-1]:  # the light one first: it is the default
            self.base.addItem(BASE_NAMES.get(base, base), base)
        self.start = QComboBox()
        self.weights_file = QLineEdit(placeholderText="a checkpoint from annotator train (.pt)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.file_row = _row(self.weights_file, browse)
        self.minutes = QDoubleSpinBox(minimum=0.5, maximum=24 * 60, decimals=1, singleStep=5.0)
        self.epochs = QSpinBox(minimum=1, maximum=10_000)
        self.unit = QComboBox()
        self.unit.addItem("minutes", Length.MINUTES.value)
        self.unit.addItem("epochs (passes over the images)", Length.EPOCHS.value)
        self.input_size = QSpinBox(minimum=0, maximum=4096, singleStep=32, suffix=" px")
        self.input_size.setSpecialValueText("automatic (from the objects' sizes)")
        self.input_size.setToolTip("The long side the images are scaled to for the network")
        self.device = QComboBox()
        for device in DEVICES:
            self.device.addItem(device, device)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Start from", self.start)
        form.addRow("", self.file_row)
        form.addRow("Architecture", self.base)
        form.addRow("Train for", _row(self.minutes, self.epochs, self.unit))
        form.addRow("Input size", self.input_size)
        form.addRow("Device", self.device)
        self.start.currentIndexChanged.connect(self._follow_start)
        self.unit.currentIndexChanged.connect(self._follow_unit)

    def set_value(self, value: TrainOptions, last: ModelRound | None) -> None:
        """Show `value`; `last` is the project's last round with a model (None: it has none)."""
        self._value, self._last = value, last
        self.start.blockSignals(True)
        self.start.clear()
        self.start.addItem(
            f"The project's last model (round {last.number})" if last else "The project's last model "
            "(none yet: from scratch)", StartFrom.LAST.value,
        )  # fmt: skip
        self.start.addItem("From scratch", StartFrom.SCRATCH.value)
        self.start.addItem("torchvision's COCO weights (ResNet-50 only)", StartFrom.COCO.value)
        self.start.addItem("A checkpoint file…", StartFrom.FILE.value)
        self.start.setCurrentIndex(max(0, self.start.findData(value.start.value)))
        self.start.blockSignals(False)
        self.weights_file.setText(value.weights_file)
        self.base.setCurrentIndex(max(0, self.base.findData(value.base)))
        self.minutes.setValue(value.minutes)
        self.epochs.setValue(value.epochs)
        self.unit.setCurrentIndex(max(0, self.unit.findData(value.length.value)))
        self.input_size.setValue(value.input_size)
        self.device.setCurrentIndex(max(0, self.device.findData(value.device)))
        self._follow_start()
        self._follow_unit()

    def value(self) -> TrainOptions:
        return replace(
            self._value,
            base=self.base.currentData(),
            start=StartFrom(self.start.currentData()),
            weights_file=self.weights_file.text().strip(),
            length=Length(self.unit.currentData()),
            minutes=round(self.minutes.value(), 1),
            epochs=self.epochs.value(),
            input_size=self.input_size.value(),
            device=self.device.currentData(),
        )

    def _follow_start(self) -> None:
        """A checkpoint brings its own architecture; COCO weights exist only for the ResNet-50 ones."""
        start = StartFrom(self.start.currentData())
        self.file_row.setVisible(start is StartFrom.FILE)
        from_checkpoint = start is StartFrom.FILE or (start is StartFrom.LAST and self._last is not None)
        self.base.setEnabled(not from_checkpoint)
        if start is StartFrom.LAST and self._last is not None:
            base = self._last.details.get("architecture")
            self.base.setCurrentIndex(max(0, self.base.findData(base)))
        self.base.setToolTip("The checkpoint's own architecture is used" if from_checkpoint else "")
        if start is StartFrom.COCO and self.base.currentData() == LIGHT_BASE:
            self.base.setCurrentIndex(self.base.findData(COCO_BASE))

    def _follow_unit(self) -> None:
        minutes = Length(self.unit.currentData()) is Length.MINUTES
        self.minutes.setVisible(minutes)
        self.epochs.setVisible(not minutes)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Start from a checkpoint", self.weights_file.text() or str(Path.home()),
            "Checkpoints (*.pt *.pth);;All files (*)",
        )  # fmt: skip
        if path:
            self.weights_file.setText(path)


def _row(*widgets: QWidget) -> QWidget:
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget, 1 if isinstance(widget, QLineEdit) else 0)
    return holder
