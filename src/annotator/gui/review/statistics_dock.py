"""The "Statistics" dock: instances per class (a bar chart in class colours), COCO small / medium / large,
who made each instance, images by instance count, review progress; and the same numbers as CSV.

Every number is `core.statistics.dataset_stats`, computed in the background on a snapshot; while the dock
is shown it follows edits (computed again after a short pause), and a result of a dataset that changed
meanwhile is dropped. "Export CSV…" writes the table of `annotator info --stats --csv` (per class), or
one row per image, atomically.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from annotator.core.model import Dataset
from annotator.core.session import SessionChange, SessionEvent
from annotator.core.statistics import DatasetStats, Origin, dataset_stats, image_csv_rows, to_csv_rows
from annotator.core.wording import counted
from annotator.gui.canvas.items import instance_color
from annotator.gui.review.bar_chart import Bar, BarChart
from annotator.gui.review.snapshot_job import Outcome, SnapshotJob
from annotator.io.csv_file import write_csv
from annotator.io.errors import DatasetError

SIZE_COLOR = QColor(96, 125, 139)
ORIGIN_LABELS = {  # short enough for a narrow dock
    Origin.ACCEPTED: "model, accepted as is",
    Origin.EDITED: "model, edited",
    Origin.HAND_DRAWN: "drawn or imported",
    Origin.UNREVIEWED: "model, not reviewed",
    Origin.REJECTED: "model, rejected",
}
ORIGIN_COLORS = {
    Origin.ACCEPTED: QColor(46, 160, 67),
    Origin.EDITED: QColor(33, 150, 243),
    Origin.HAND_DRAWN: QColor(156, 39, 176),
    Origin.UNREVIEWED: QColor(255, 160, 0),
    Origin.REJECTED: QColor(160, 160, 160),
}
PER_IMAGE_COLOR = QColor(0, 150, 136)
MAX_HISTOGRAM_BARS = 12  # more distinct counts than this are put in bins doubling in width
PER_CLASS_FILTER, PER_IMAGE_FILTER = "Per class (*.csv)", "Per image (*.csv)"
RERUN_MS = 500


def class_bars(stats: DatasetStats, dataset: Dataset) -> list[Bar]:
    """Classes that have instances, most first, in their canvas colours."""
    return [
        Bar(c.name, c.instances, instance_color(dataset.categories.get(c.category_id), c.category_id))
        for c in stats.classes
        if c.instances
    ]


def histogram_bars(histogram: dict[int, int]) -> list[Bar]:
    """Images by how many instances they hold: one bar per count, or bins 0, 1, 2-3, 4-7, ... when
    there are many different counts."""
    if len(histogram) <= MAX_HISTOGRAM_BARS:  # each bar says what it counts: "7" and a 1 read as nothing
        return [Bar(counted(n, "instance"), images, PER_IMAGE_COLOR) for n, images in histogram.items()]
    bins: dict[tuple[int, int], int] = {}
    for n, images in histogram.items():
        low = 0 if n == 0 else 1 << (n.bit_length() - 1)
        high = 0 if n == 0 else 2 * low - 1
        bins[(low, high)] = bins.get((low, high), 0) + images
    return [
        Bar(counted(low, "instance") if low == high else f"{low}–{high} instances", images, PER_IMAGE_COLOR)
        for (low, high), images in sorted(bins.items())
    ]


class StatisticsDock(QDockWidget):
    def __init__(self, window) -> None:
        super().__init__("Statistics", window)
        self.setObjectName("statistics_dock")
        self.window, self.session = window, window.session
        self.stats: DatasetStats | None = None
        self.snapshot: Dataset | None = None
        self.job = SnapshotJob(self.session, lambda: dataset_stats, self)
        self.job.rerun_timer.setInterval(RERUN_MS)
        self._build()
        self.job.finished.connect(self._on_result)
        self.job.failed.connect(lambda message: self.summary.setText(f"Cannot count: {message}"))
        self.job.busy_changed.connect(self._on_busy)
        self.visibilityChanged.connect(self._on_visible)
        self.session.subscribe(self._on_session)

    def _build(self) -> None:
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.review_bar = QProgressBar()
        self.review_bar.setToolTip("Predictions accepted, edited or rejected, of all the model's predictions")
        self.image_status = QLabel()
        self.image_status.setWordWrap(True)
        self.class_chart = BarChart("Instances per class")
        self.size_chart = BarChart("Sizes (COCO areas: small < 32², large ≥ 96²)")
        self.origin_chart = BarChart("Made by")
        self.per_image_chart = BarChart("Images by number of instances")
        charts = QWidget()
        column = QVBoxLayout(charts)
        column.setContentsMargins(0, 0, 0, 0)
        for chart in (self.class_chart, self.size_chart, self.origin_chart, self.per_image_chart):
            column.addWidget(chart)
        column.addStretch(1)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(charts)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.choose_csv)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        for widget in (self.summary, self.review_bar, self.image_status):
            layout.addWidget(widget)
        layout.addWidget(scroll, 1)
        layout.addLayout(buttons)
        self.setWidget(body)
        self._show(None)

    # -- following the dataset --------------------------------------------------------------------
    def _on_visible(self, visible: bool) -> None:
        self.job.auto_rerun = visible  # counted again after edits only while someone looks
        if visible and (self.job.outcome is None or self.job.stale) and not self.job.busy:
            self.job.run()

    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.DOCUMENT:
            self._show(None)
            if self.isVisible() and self.session.dataset is not None:
                self.job.run()

    def _on_busy(self, busy: bool) -> None:
        self.setWindowTitle("Statistics (counting…)" if busy else "Statistics")

    def _on_result(self, outcome: Outcome) -> None:
        self.snapshot = outcome.snapshot
        self._show(outcome.value)

    # -- showing ----------------------------------------------------------------------------------
    def _show(self, stats: DatasetStats | None) -> None:
        self.stats = stats
        self.export_button.setEnabled(stats is not None)
        if stats is None:
            self.summary.setText("")
            self.image_status.setText("")
            self.review_bar.setRange(0, 1)
            self.review_bar.setValue(0)
            for chart in (self.class_chart, self.size_chart, self.origin_chart, self.per_image_chart):
                chart.set_bars([])
            return
        per_image = list(stats.per_image.values()) or [0]
        self.summary.setText(
            f"<b>{stats.images}</b> images, <b>{stats.instances}</b> instances (rejected ones not counted), "
            f"{sum(1 for c in stats.classes if c.instances)} classes used; "
            f"{sum(per_image) / len(per_image):.1f} instances per image, at most {max(per_image)}"
        )
        review = stats.review
        self.review_bar.setRange(0, max(review.total, 1))
        self.review_bar.setValue(review.reviewed if review.total else 0)
        self.review_bar.setFormat(f"{review.reviewed} of {review.total} predictions reviewed (%p%)")
        self.image_status.setText(
            "Images: " + " · ".join(f"{s.value.replace('_', ' ')} {n}" for s, n in stats.image_status.items())
        )
        self.class_chart.set_bars(class_bars(stats, self.snapshot))
        self.size_chart.set_bars([Bar(size.value, n, SIZE_COLOR) for size, n in stats.sizes.items()])
        self.origin_chart.set_bars(
            [Bar(ORIGIN_LABELS[o], n, ORIGIN_COLORS[o]) for o, n in stats.origins.items()]
        )
        self.per_image_chart.set_bars(histogram_bars(stats.instances_per_image))

    # -- CSV --------------------------------------------------------------------------------------
    def choose_csv(self) -> None:
        dialog = self.csv_dialog()
        if dialog.exec() and dialog.selectedFiles():
            per_image = dialog.selectedNameFilter() == PER_IMAGE_FILTER
            self.export_csv(Path(dialog.selectedFiles()[0]), per_image=per_image)

    def csv_dialog(self) -> QFileDialog:
        """Save dialog whose file name follows the kind chosen (per class or per image): with one name
        for both, choosing "Per image" offered to replace the per-class file."""
        document = self.session.document
        stem = "" if document is None else str(document.path.with_name(document.path.stem))
        names = {PER_CLASS_FILTER: f"{stem}_statistics.csv", PER_IMAGE_FILTER: f"{stem}_per_image.csv"}
        dialog = QFileDialog(self, "Export statistics")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilters(list(names))
        dialog.setDefaultSuffix("csv")
        if stem:
            dialog.selectFile(names[PER_CLASS_FILTER])

        def follow(chosen: str) -> None:
            current = Path(dialog.selectedFiles()[0]).name if dialog.selectedFiles() else ""
            if stem and current in {Path(n).name for n in names.values()}:  # not a name the person typed
                dialog.selectFile(names[chosen])

        dialog.filterSelected.connect(follow)
        return dialog

    def export_csv(self, path: Path, *, per_image: bool = False) -> bool:
        """Write the statistics shown (per class, or one row per image); False, and a message, on failure."""
        if self.stats is None:
            return False
        rows = image_csv_rows(self.snapshot, self.stats) if per_image else to_csv_rows(self.stats)
        try:
            write_csv(path, rows)
        except DatasetError as error:
            self.window.statusBar().showMessage(f"Statistics not exported: {error}", 10000)
            return False
        self.window.statusBar().showMessage(f"Statistics written to {path}", 8000)
        return True
