"""A round in progress: its state, a progress bar, step figures, the loss plot, and a log of epochs
(with validation AP), notices and saved checkpoints."""

from __future__ import annotations

import time

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QProgressBar, QVBoxLayout, QWidget

from annotator.gui.prelabel.panel import format_duration
from annotator.gui.training.controller import TrainState
from annotator.gui.training.loss_plot import LossPlot
from annotator.inference.train_events import (
    CheckpointSaved,
    EpochEnd,
    Event,
    Failed,
    Finished,
    Notice,
    Started,
    Step,
)

FIGURES_EVERY_S = 0.25  # text layout is GUI-thread time: at most four updates a second
NOTICE = QColor(154, 103, 0)
ERROR = QColor(192, 57, 43)


class RunPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state_label = QLabel("Not started")
        self.state_label.setStyleSheet("font-weight: bold")
        self.bar = QProgressBar(minimum=0, maximum=1000, value=0, textVisible=True)
        self.figures = QLabel("")
        self.figures.setWordWrap(True)
        self.plot = LossPlot()
        self.log = QListWidget()
        self.log.setWordWrap(True)
        self.log.setMinimumHeight(80)
        self.log.setMaximumHeight(110)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.state_label)
        layout.addWidget(self.bar)
        layout.addWidget(self.figures)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.log)
        self._total: int | None = None
        self._shown_at = 0.0

    def reset(self) -> None:
        self.plot.clear()
        self.log.clear()
        self.bar.setValue(0)
        self.figures.setText("")
        self._total = None

    def show_state(self, state: TrainState) -> None:
        self.state_label.setText(state.value.capitalize())

    def show_event(self, event: Event) -> None:
        if isinstance(event, Step):
            self._step(event)
        elif isinstance(event, Started):
            self._total = event.total_steps
            self.plot.clear(total_steps=event.total_steps)
            resumed = f", from step {event.start_step}" if event.start_step else ""
            self.add_line(
                f"{event.architecture} on {event.train_images} images ({event.val_images} for validation), "
                f"{len(event.classes)} classes, input {event.input_size} px, {event.device} "
                f"{event.precision}{resumed}"
            )
        elif isinstance(event, EpochEnd):
            self.plot.add_epoch(event.step, event.val_ap, event.val_ap50)
            self.add_line(_epoch_line(event))
        elif isinstance(event, Notice):
            self.add_line(event.message, NOTICE)
        elif isinstance(event, CheckpointSaved) and event.role == "best":
            self.add_line(f"saved the best model so far (step {event.step})")
        elif isinstance(event, Failed):
            self.add_line(event.message, ERROR)
        elif isinstance(event, Finished):
            self.bar.setValue(self.bar.maximum() if event.reason != "cancelled" else self.bar.value())
            self.figures.setText(self.figures.text().split(" · ETA ")[0])  # nothing is left to wait for

    def _step(self, event: Step) -> None:
        self.plot.add_step(event.step, event.loss)
        now = time.monotonic()
        if now - self._shown_at < FIGURES_EVERY_S:
            return
        self._shown_at = now
        self.bar.setValue(round(event.progress * self.bar.maximum()))
        total = f" / {self._total}" if self._total else ""
        self.figures.setText(
            f"Step {event.step}{total} · epoch {event.epoch} · loss {event.loss:.3f} · "
            f"{event.images_per_s:.2f} images/s · {format_duration(event.elapsed_s)} elapsed · "
            f"ETA {format_duration(event.eta_s)}"
        )

    def add_line(self, text: str, color: QColor | None = None) -> None:
        item = QListWidgetItem(text)
        if color is not None:
            item.setForeground(color)
        self.log.addItem(item)
        self.log.scrollToBottom()

    def lines(self) -> list[str]:
        return [self.log.item(row).text() for row in range(self.log.count())]


def _epoch_line(event: EpochEnd) -> str:
    loss = "–" if event.mean_loss is None else f"{event.mean_loss:.3f}"
    score = "" if event.val_ap is None else f" · validation AP {event.val_ap:.3f} · AP50 {event.val_ap50:.3f}"
    return f"Epoch {event.epoch} · loss {loss}{score}" + (" · best so far" if event.best else "")
