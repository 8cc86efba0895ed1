"""Model ▸ Train on this project…: the options, what the project will train on (or why it cannot), the
models it trained before, and the round in progress with its loss plot, pause and cancel; when a round
is done, the offer to use its model and to pre-label the images nobody has labelled yet.

The dialog is not modal and stays while a round runs (closing it hides it; the Model menu shows it
again). It asks for things by signal; `gui.training.actions` does them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from annotator.core.model_rounds import ModelRound
from annotator.gui.training.controller import RunEnd, TrainState
from annotator.gui.training.options import TrainOptions
from annotator.gui.training.options_form import OptionsForm
from annotator.gui.training.prepare import Preflight
from annotator.gui.training.run_panel import RunPanel

PROBLEM_STYLE = "color: #c0392b"
NOTE_STYLE = "color: #9a6700"
SHOWN_NOTICES = 4
FILE_THERE = Qt.ItemDataRole.UserRole + 1  # whether a listed round's model file is on disk


class TrainDialog(QDialog):
    train_requested = Signal(object)  # TrainOptions
    pause_requested = Signal()
    resume_requested = Signal()
    cancel_requested = Signal()
    use_model_requested = Signal(object)  # the ModelRound whose model pre-labelling should use
    prelabel_requested = Signal(object)  # the ModelRound to pre-label with
    audit_requested = Signal(object)  # the ModelRound whose detections on its validation images to audit with
    delete_requested = Signal(object)  # the ModelRound to forget, its files deleted (already confirmed)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train on this project")
        self.options = OptionsForm()
        self.summary = QLabel("Looking at the project…", wordWrap=True)
        self.problem = QLabel(wordWrap=True)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.notes = QLabel(wordWrap=True)
        self.notes.setStyleSheet(NOTE_STYLE)
        self.rounds = QListWidget(wordWrap=True)
        self.rounds.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.rounds.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.use_round_button = QPushButton("Use this model")
        self.use_round_button.setToolTip("Pre-label with this model (Model settings ▸ Weights file)")
        self.delete_round_button = QPushButton("Delete…")
        self.delete_round_button.setToolTip("Forget this round and delete its model file")
        self.run_panel = RunPanel()
        self.offer = QLabel(wordWrap=True)
        self.offer.setStyleSheet("font-weight: bold")
        self.use_button = QPushButton("Use this model")
        self.prelabel_button = QPushButton("Use it and pre-label")
        self.audit_button = QPushButton("Audit labels with it")
        self.audit_button.setToolTip(
            "Suspicious labels: the validation images' labels against this model's detections there "
            "(images it did not learn from)"
        )
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Stop round")
        self.cancel_button.setToolTip("Stop after this step and keep the best model so far")
        self.close_button = QPushButton("Close")
        self.state = TrainState.IDLE
        self._layout()
        self._connect()
        self.finished_round: ModelRound | None = None
        self._ready = False
        self._hide_offer()
        self.show_state(TrainState.IDLE)
        self.resize(920, 720)

    def _layout(self) -> None:
        options_box = QGroupBox("Options")
        options_layout = QVBoxLayout(options_box)
        options_layout.addWidget(self.options)
        options_layout.addWidget(self.summary)
        options_layout.addWidget(self.notes)
        options_layout.addWidget(self.problem)
        options_layout.addStretch(1)
        rounds_box = QGroupBox("Models of this project")
        rounds_layout = QVBoxLayout(rounds_box)
        rounds_layout.addWidget(self.rounds, 1)
        round_buttons = QHBoxLayout()
        round_buttons.addStretch(1)
        round_buttons.addWidget(self.delete_round_button)
        round_buttons.addWidget(self.use_round_button)
        rounds_layout.addLayout(round_buttons)
        top = QHBoxLayout()
        top.addWidget(options_box, 3)
        top.addWidget(rounds_box, 2)
        run_box = QGroupBox("Round")
        run_layout = QVBoxLayout(run_box)
        run_layout.addWidget(self.run_panel, 1)
        offer_row = QHBoxLayout()
        offer_row.addWidget(self.offer, 1)
        offer_row.addWidget(self.use_button)
        offer_row.addWidget(self.audit_button)
        offer_row.addWidget(self.prelabel_button)
        run_layout.addLayout(offer_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(run_box, 1)
        layout.addLayout(buttons)

    def _connect(self) -> None:
        self.train_button.clicked.connect(lambda: self.train_requested.emit(self.options.value()))
        self.pause_button.clicked.connect(self._toggle_pause)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.close_button.clicked.connect(self.hide)
        self.use_round_button.clicked.connect(self._use_selected_round)
        self.delete_round_button.clicked.connect(self._delete_selected_round)
        self.rounds.currentRowChanged.connect(lambda _row: self._enable_round_button())
        self.use_button.clicked.connect(lambda: self.use_model_requested.emit(self.finished_round))
        self.prelabel_button.clicked.connect(lambda: self.prelabel_requested.emit(self.finished_round))
        self.audit_button.clicked.connect(lambda: self.audit_requested.emit(self.finished_round))

    # -- what the dialog is told ------------------------------------------------------------------
    def set_options(self, options: TrainOptions, last: ModelRound | None) -> None:
        self.options.set_value(options, last)

    def set_rounds(self, rounds: list[tuple[ModelRound, Path]]) -> None:
        """The project's rounds, newest first; a round whose file is gone says so and cannot be used."""
        self.rounds.clear()
        for model_round, path in sorted(rounds, key=lambda pair: -pair[0].number):
            there = path.is_file()
            item = QListWidgetItem(model_round.label() + ("" if there else " · file missing"))
            item.setData(Qt.ItemDataRole.UserRole, model_round)
            item.setData(FILE_THERE, there)
            item.setToolTip(str(path))
            self.rounds.addItem(item)
        if not rounds:
            self.rounds.addItem(QListWidgetItem("No model trained yet"))
        self.rounds.setCurrentRow(0)
        self._enable_round_button()

    def show_check(self, result: object) -> None:
        """The preflight: a summary and notices, or the one line saying why the project cannot train."""
        self._ready = isinstance(result, Preflight)
        if isinstance(result, Preflight):
            self.summary.setText(f"Trains on {result.summary()}.")
            notices = list(result.notices)
            more = f" (and {len(notices) - SHOWN_NOTICES} more)" if len(notices) > SHOWN_NOTICES else ""
            self.notes.setText("\n".join(notices[:SHOWN_NOTICES]) + more)
            self.problem.setText("")
        else:
            self.summary.setText("")
            self.notes.setText("")
            self.problem.setText(f"Cannot train: {result}")
        self.notes.setVisible(bool(self.notes.text()))
        self.problem.setVisible(bool(self.problem.text()))
        self.show_state(self.state)

    def show_message(self, text: str) -> None:
        """A problem starting a round (one line)."""
        self.problem.setText(text)
        self.problem.setVisible(bool(text))

    def show_state(self, state: TrainState) -> None:
        self.state = state
        active = state.active
        self.run_panel.show_state(state)
        self.options.setEnabled(not active)
        self.train_button.setEnabled(not active and self._ready)
        self.pause_button.setEnabled(state in (TrainState.RUNNING, TrainState.PAUSING, TrainState.PAUSED))
        self.pause_button.setText("Resume" if state in (TrainState.PAUSING, TrainState.PAUSED) else "Pause")
        self.cancel_button.setEnabled(active and state is not TrainState.STOPPING)
        self._enable_round_button()
        if active:
            self._hide_offer()

    def round_started(self) -> None:
        self.run_panel.reset()
        self.problem.setText("")
        self.problem.hide()
        self._hide_offer()

    def show_end(self, end: RunEnd, *, unlabelled: int, replaced: int = 0, can_audit: bool = False) -> None:
        """The round's outcome; with a model, the offer to use it and pre-label `unlabelled` images (whose
        `replaced` unreviewed predictions it replaces), and with `can_audit` (its detections on the
        validation images were kept) to audit labels with it."""
        self.run_panel.state_label.setText(end.message)
        self.finished_round = end.model_round
        if end.state is TrainState.FAILED:
            self.show_message(end.message)
        if end.model_round is None:
            return
        self.offer.setText(f"Round {end.model_round.number} is ready.")
        replacing = f" (replacing their {replaced} prediction{'s' * (replaced != 1)})" if replaced else ""
        self.prelabel_button.setText(
            f"Use it and pre-label {unlabelled} image{'s' * (unlabelled != 1)} nobody has labelled{replacing}"
        )
        self.prelabel_button.setEnabled(unlabelled > 0)
        for widget in (self.offer, self.use_button, self.prelabel_button):
            widget.show()
        self.audit_button.setVisible(can_audit)
        QTimer.singleShot(0, self.run_panel.log.scrollToBottom)  # once the offer's row is laid out

    def _hide_offer(self) -> None:
        for widget in (self.offer, self.use_button, self.prelabel_button, self.audit_button):
            widget.hide()

    def _toggle_pause(self) -> None:
        paused = self.state in (TrainState.PAUSING, TrainState.PAUSED)
        (self.resume_requested if paused else self.pause_requested).emit()

    def _selected_round(self, *, usable: bool = True) -> ModelRound | None:
        """The round selected in the list; with `usable`, only one whose model file is there."""
        item = self.rounds.currentItem()
        if item is None or (usable and not item.data(FILE_THERE)):
            return None
        return item.data(Qt.ItemDataRole.UserRole)

    def _enable_round_button(self) -> None:
        self.use_round_button.setEnabled(self._selected_round() is not None)
        selected = self._selected_round(usable=False)
        # the round being trained is recorded as it runs, and its files are in use
        training = (
            self.state.active and selected is not None and selected.details.get("reason") == "unfinished"
        )
        self.delete_round_button.setEnabled(selected is not None and not training)

    def _use_selected_round(self) -> None:
        model_round = self._selected_round()
        if model_round is not None:
            self.use_model_requested.emit(model_round)

    def _delete_selected_round(self) -> None:
        model_round = self._selected_round(usable=False)
        if model_round is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete this model?",
            f"Delete round {model_round.number}'s model file and forget the round? This cannot be undone.\n"
            "The project's labels are not touched; pre-labelling that uses this model will need another.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_requested.emit(model_round)
