"""The pre-labelling dock: progress (n/N, images/s, ETA), pause/resume, cancel, and a list of problems.

Problems (a broken image, a model failure on one image, a stale result) are lines in the list, never a
dialog per image; only a model that cannot be loaded at all gets a dialog (shown by the window).
"""

from __future__ import annotations

import time

from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from annotator.gui.prelabel.controller import PrelabelController, Progress, RunState

MAX_PROBLEMS = 1000


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def describe(progress: Progress) -> str:
    """One line such as "3 / 10 images · 1.25 images/s · ETA 0:06 · 2 problems"."""
    if progress.state is RunState.IDLE:
        return "No pre-labelling run"
    if progress.state is RunState.FAILED:  # no speed to boast of: say what came of it
        done = progress.done - progress.failed - progress.stale
        problems = progress.failed + progress.stale
        return (
            f"Failed: {done} of {progress.total} images pre-labelled · "
            f"{problems} problem{'s' if problems != 1 else ''} (listed below)"
        )
    parts = [f"{progress.done} / {progress.total} images"]
    if progress.rate is not None:
        parts.append(f"{progress.rate:.2f} images/s")
    if progress.state in (RunState.RUNNING, RunState.LOADING):  # paused, no time is left to count down
        parts.append(f"ETA {format_duration(progress.eta)}")
    parts.append(f"{progress.detections} predictions")
    problems = progress.failed + progress.stale
    if problems:
        parts.append(f"{problems} problem{'s' if problems != 1 else ''}")
    return " · ".join(parts)


class PrelabelPanel(QDockWidget):
    """Follows a PrelabelController; its buttons pause, resume and cancel the run."""

    def __init__(self, controller: PrelabelController, parent: QWidget | None = None) -> None:
        super().__init__("Pre-labelling", parent)
        self.setObjectName("prelabel_dock")
        self.controller = controller
        self.state_label = QLabel("Idle")
        self.state_label.setStyleSheet("font-weight: bold")
        self.bar = QProgressBar(minimum=0, maximum=1, value=0, textVisible=True)
        self.figures = QLabel(describe(Progress()))
        self.figures.setWordWrap(True)
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        self.problems = QListWidget()
        self.problems.setWordWrap(True)
        self.problems.setAlternatingRowColors(True)
        self.problems_label = QLabel("Problems")
        self.clear_button = QPushButton("Clear")
        buttons = QHBoxLayout()
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        header = QHBoxLayout()
        header.addWidget(self.problems_label, 1)
        header.addWidget(self.clear_button)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.state_label)
        layout.addWidget(self.bar)
        layout.addWidget(self.figures)
        layout.addLayout(buttons)
        layout.addLayout(header)
        layout.addWidget(self.problems, 1)
        self.setWidget(body)
        self.pause_button.clicked.connect(self._toggle_pause)
        self.cancel_button.clicked.connect(controller.cancel)
        self.clear_button.clicked.connect(self.clear_problems)
        controller.progress_changed.connect(self.show_progress)
        controller.problem.connect(self.add_problem)
        self._shown_at = 0.0
        self._state = RunState.IDLE
        self.show_progress(controller.progress)

    def show_progress(self, progress: Progress) -> None:
        active = progress.state in (RunState.RUNNING, RunState.PAUSED, RunState.LOADING)
        now = time.monotonic()
        if active and progress.state is RunState.RUNNING and now - self._shown_at < 0.1 and progress.done:
            return  # at most ten label updates a second: text layout is GUI-thread time
        self._shown_at = now
        if active and self._state not in (RunState.RUNNING, RunState.PAUSED, RunState.LOADING):
            self.clear_problems()  # a new run: the last one's problems are not its own
        self._state = progress.state
        title = progress.state.value.capitalize()
        if progress.state is RunState.RUNNING and progress.current:
            title = f"Running: {progress.current}"
        self.state_label.setText(title)
        failed = progress.state is RunState.FAILED
        self.bar.setMaximum(max(progress.total, 1))
        self.bar.setValue(progress.done - progress.failed - progress.stale if failed else progress.done)
        self.bar.setFormat("Failed" if failed else "%p%")
        self.figures.setText(describe(progress))
        self.pause_button.setEnabled(active)
        self.cancel_button.setEnabled(active)
        self.pause_button.setText("Resume" if progress.state is RunState.PAUSED else "Pause")

    def add_problem(self, line: str) -> None:
        self.problems.addItem(line)
        while self.problems.count() > MAX_PROBLEMS:
            self.problems.takeItem(0)
        self.problems_label.setText(f"Problems ({self.problems.count()})")
        self.problems.scrollToBottom()

    def clear_problems(self) -> None:
        self.problems.clear()
        self.problems_label.setText("Problems")

    def problem_lines(self) -> list[str]:
        return [self.problems.item(row).text() for row in range(self.problems.count())]

    def _toggle_pause(self) -> None:
        if self.controller.progress.state is RunState.PAUSED:
            self.controller.resume()
        else:
            self.controller.pause()
