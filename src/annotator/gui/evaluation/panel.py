"""The Evaluation dock: where the ground truth comes from, this image's TP / FP / FN and AP, the
dataset's mask AP/AR table (COCOeval's 12 numbers), per-class AP and a precision-recall curve per class.

Every number shown is COCOeval's (`core.evaluation`), computed in the worker; the panel only formats.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from annotator.core.comparison import Comparison, average_precision
from annotator.core.evaluation import STAT_NAMES
from annotator.core.model import Dataset
from annotator.gui.evaluation.pr_curve import PrCurve

NUMBER_ROLE = Qt.ItemDataRole.UserRole + 1  # the value behind a cell, for sorting and for tests

STAT_LABELS = (  # COCOeval's twelve figures, in STAT_NAMES' order, as a reader says them
    "AP (IoU 0.50–0.95)",
    "AP50 (IoU 0.50)",
    "AP75 (IoU 0.75)",
    "AP, small objects",
    "AP, medium objects",
    "AP, large objects",
    "AR, 1 detection per image",
    "AR, 10 detections per image",
    "AR, 100 detections per image",
    "AR, small objects",
    "AR, medium objects",
    "AR, large objects",
)


def fmt(value: float | None) -> str:
    return "–" if value is None or value < 0 else f"{value:.3f}"


def _cell(text: str, value: float | None = None) -> QTableWidgetItem:
    item = _SortItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if value is not None:
        item.setData(NUMBER_ROLE, value)
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class _SortItem(QTableWidgetItem):
    def __lt__(self, other) -> bool:
        mine, theirs = self.data(NUMBER_ROLE), other.data(NUMBER_ROLE)
        if mine is not None or theirs is not None:
            return (mine if mine is not None else 2.0) < (theirs if theirs is not None else 2.0)
        return super().__lt__(other)


class EvaluationPanel(QDockWidget):
    load_requested = Signal()
    accepted_requested = Signal()
    stop_requested = Signal()
    class_chosen = Signal(object)  # a class id: 64-bit, past a Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__("Evaluation", parent)
        self.setObjectName("evaluation_dock")
        self.result: Comparison | None = None
        self.dataset: Dataset | None = None
        buttons = QHBoxLayout()
        for text, signal, tip in (
            ("Ground truth file…", self.load_requested, "Compare the predictions with a COCO file"),
            ("Accepted as truth", self.accepted_requested, "Compare the model's predictions with what "
             "was accepted, edited or drawn by hand"),
            ("Stop", self.stop_requested, "Stop comparing; the canvas shows class colours again"),
        ):  # fmt: skip
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(signal)
            buttons.addWidget(button)
        self.source_label = QLabel("No ground truth: choose a file or use the accepted instances")
        self.source_label.setWordWrap(True)
        self.image_label = QLabel()
        self.image_label.setTextFormat(Qt.TextFormat.RichText)
        self.summary_table = self._table(["Metric", "Value"])
        self.class_table = self._table(["Class", "AP", "AP50", "AP75"])
        self.class_table.setSortingEnabled(True)
        self.class_table.currentCellChanged.connect(self._class_row_changed)
        self.pr_curve = PrCurve()
        classes = QSplitter(Qt.Orientation.Vertical)
        classes.addWidget(self.class_table)
        classes.addWidget(self.pr_curve)
        self.tabs = QTabWidget()
        self.tabs.addTab(classes, "Classes")
        self.tabs.addTab(self.summary_table, "Mask AP / AR")
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.source_label)
        layout.addWidget(self.image_label)
        layout.addWidget(self.tabs, 1)
        self.setWidget(body)

    @staticmethod
    def _table(headers: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().hide()
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, header.ResizeMode.Stretch)
        for column in range(1, len(headers)):
            header.setSectionResizeMode(column, header.ResizeMode.ResizeToContents)
        return table

    # -- filling ----------------------------------------------------------------------------------
    def set_message(self, text: str) -> None:
        self.source_label.setText(text)

    def show_result(self, result: Comparison | None, dataset: Dataset | None) -> None:
        self.result, self.dataset = result, dataset
        self._fill_summary()
        self._fill_classes()
        if result is None:
            self.image_label.setText("")
            self.pr_curve.set_curve("", None)

    def _fill_summary(self) -> None:
        table, evaluation = self.summary_table, self.result.evaluation if self.result else None
        table.setRowCount(0 if evaluation is None else len(STAT_NAMES))
        if evaluation is None:
            return
        for row, (label, name, value) in enumerate(
            zip(STAT_LABELS, STAT_NAMES, evaluation.stats, strict=True)
        ):
            cell = _cell(label)
            cell.setToolTip(name)  # pycocotools' own words, as its summary prints them
            table.setItem(row, 0, cell)
            table.setItem(row, 1, _cell(fmt(value), value))

    def _fill_classes(self) -> None:
        table = self.class_table
        evaluation = self.result.evaluation if self.result else None
        chosen = self.chosen_class()
        table.setSortingEnabled(False)
        table.setRowCount(0)
        if evaluation is not None:
            categories = self.dataset.categories.values() if self.dataset else ()
            names = self.result.ground_truth.class_names(categories)
            rows = [(cid, ap) for cid, ap in evaluation.per_class.items() if ap is not None]
            table.setRowCount(len(rows))
            for row, (cid, ap) in enumerate(rows):
                curve = evaluation.pr_curves[cid]
                name = _cell(names.get(cid, f"class {cid}"))
                name.setData(Qt.ItemDataRole.UserRole, cid)
                table.setItem(row, 0, name)
                table.setItem(row, 1, _cell(fmt(ap), ap))
                for column, threshold_row in ((2, 0), (3, 5)):
                    value = average_precision(curve[threshold_row])
                    table.setItem(row, column, _cell(fmt(value), value))
        table.setSortingEnabled(True)
        table.sortItems(1, Qt.SortOrder.AscendingOrder)  # worst class first
        self.choose_class(chosen if chosen is not None else self._class_at(0))

    def show_image(self, image_id: int | None) -> None:
        """TP / FP / FN and AP of the image on the canvas."""
        result = self.result
        if result is None or image_id is None or image_id not in result.matches:
            self.image_label.setText("" if result is None else "This image has no ground truth")
            return
        matches = result.matches[image_id]
        ap, ap50 = (None, None)
        if result.evaluation is not None:
            ap, ap50 = result.evaluation.per_image.get(image_id, (None, None))
        self.image_label.setText(
            f"This image: <b style='color:#00a050'>TP {len(matches.true_positives)}</b> · "
            f"<b style='color:#d02020'>FP {len(matches.false_positives)}</b> · "
            f"<b style='color:#c08000'>FN {len(matches.false_negatives)}</b> (IoU ≥ 0.5) · "
            f"AP {fmt(ap)} · AP50 {fmt(ap50)}"
        )

    # -- classes and curves -----------------------------------------------------------------------
    def _class_at(self, row: int) -> int | None:
        item = self.class_table.item(row, 0)
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def chosen_class(self) -> int | None:
        return self._class_at(self.class_table.currentRow())

    def choose_class(self, category_id: int | None) -> None:
        for row in range(self.class_table.rowCount()):
            if self._class_at(row) == category_id:
                self.class_table.setCurrentCell(row, 0)
                return
        self.pr_curve.set_curve("", None)

    def _class_row_changed(self, row: int, *_args) -> None:
        category_id = self._class_at(row)
        evaluation = self.result.evaluation if self.result else None
        if category_id is None or evaluation is None:
            return
        name = self.class_table.item(row, 0).text()
        self.pr_curve.set_curve(f"{name}: precision-recall", evaluation.pr_curves[category_id])
        self.class_chosen.emit(category_id)
