"""Training in the main window: Model ▸ Train on this project…, the dialog, and the loop's next step
(use the new model; pre-label the images nobody has labelled with it; audit the validation images'
labels with its detections there).

A round in progress is stopped, its model kept and recorded, before its document closes (another
project opened, or the window closed).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMessageBox

from annotator.core.model import Instance
from annotator.core.model_rounds import ModelRound, best_round
from annotator.core.rules import is_unreviewed_prediction, labelled_image_ids, unreadable_reason
from annotator.core.session import SessionChange, SessionEvent
from annotator.gui.prelabel.actions import Prelabelling
from annotator.gui.prelabel.dialog import PrelabelSettings
from annotator.gui.prelabel.project_model import remember_weights, remembered_weights
from annotator.gui.training.controller import RunEnd, TrainingController
from annotator.gui.training.dialog import TrainDialog
from annotator.gui.training.history import ModelHistory
from annotator.gui.training.options import TrainOptions
from annotator.inference.train_events import CheckpointSaved
from annotator.io.errors import DatasetError
from annotator.io.model_folder import validation_predictions_path


class Training(QObject):
    def __init__(self, window: QMainWindow, prelabelling: Prelabelling) -> None:
        super().__init__(window)
        self.window, self.prelabelling = window, prelabelling
        self.history = ModelHistory()
        self.controller = TrainingController(self.history, self)
        self.dialog: TrainDialog | None = None
        self.overrides: dict[str, Any] = {}  # TrainOptions fields the dialog does not show (tests)
        self.action = QAction("&Train on this project…", window)
        self.action.triggered.connect(self.open_dialog)
        prelabelling.menu.addSeparator()
        prelabelling.menu.addAction(self.action)
        window.session.subscribe(self._on_session)
        self.controller.ended.connect(self._on_end)
        self._enable()

    @property
    def document(self):
        return self.window.session.document

    def open_dialog(self) -> TrainDialog:
        """Show the dialog (made once, kept while the window lives), checking the project afresh."""
        if self.dialog is None:
            self.dialog = self._make_dialog()
        if not self.controller.busy:
            self._refresh_dialog()
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog

    def _make_dialog(self) -> TrainDialog:
        dialog = TrainDialog(self.window)
        controller = self.controller
        controller.checked.connect(dialog.show_check)
        controller.state_changed.connect(dialog.show_state)
        controller.event.connect(dialog.run_panel.show_event)
        controller.event.connect(self._on_event)
        dialog.train_requested.connect(self.train)
        dialog.pause_requested.connect(controller.pause)
        dialog.resume_requested.connect(controller.resume)
        dialog.cancel_requested.connect(controller.cancel)
        dialog.use_model_requested.connect(self.use_model)
        dialog.prelabel_requested.connect(self.prelabel_unlabelled)
        dialog.audit_requested.connect(self.audit_with)
        dialog.delete_requested.connect(self.delete_round)
        return dialog

    def _refresh_dialog(self) -> None:
        dialog, document = self.dialog, self.document
        last = self.history.last_model(document)
        dialog.set_options(TrainOptions.load(self.window.settings), None if last is None else last[0])
        dialog.set_rounds([(r, self.history.model_path(document, r)) for r in self.history.rounds(document)])
        self.controller.check(document, self._with_overrides(dialog.options.value()))

    def _with_overrides(self, options: TrainOptions) -> TrainOptions:
        return replace(options, **self.overrides) if self.overrides else options

    # -- a round ----------------------------------------------------------------------------------
    def train(self, options: TrainOptions) -> None:
        options.save(self.window.settings)
        problem = self.controller.start(self.document, self._with_overrides(options))
        if self.dialog is not None:
            if problem:
                self.dialog.show_message(problem)
            else:
                self.dialog.round_started()

    def _on_end(self, end: RunEnd) -> None:
        self.window.statusBar().showMessage(end.message, 15000)
        dialog = self.dialog
        if dialog is None:
            return
        document = self.document
        last = self.history.last_model(document)
        dialog.set_options(
            dialog.options.value(), None if last is None else last[0]
        )  # the next round's start
        dialog.set_rounds([(r, self.history.model_path(document, r)) for r in self.history.rounds(document)])
        can_audit = end.model_round is not None and self.validation_predictions(end.model_round) is not None
        ids = self.unlabelled_images()
        dialog.show_end(
            end, unlabelled=len(ids), replaced=len(self._predictions_on(ids)), can_audit=can_audit
        )
        if end.model_round is not None and document is not None:
            dialog.show()  # the offer is the loop's next step: bring it back if it was closed
            dialog.raise_()

    def delete_round(self, model_round: ModelRound) -> None:
        """Forget a round and delete its files (the dialog has asked the person)."""
        document = self.document
        if document is None:
            return
        try:
            kept = self.history.remove(document, model_round)
        except DatasetError as exc:
            problem = f"Round {model_round.number} was not deleted: {exc}"
        else:
            problem = f"Could not delete {', '.join(kept)}" if kept else ""
        self.window.statusBar().showMessage(problem or f"Round {model_round.number} deleted", 15000)
        if self.dialog is not None:
            self.dialog.show_message(problem)
            last = self.history.last_model(document)
            self.dialog.set_options(self.dialog.options.value(), None if last is None else last[0])
            self.dialog.set_rounds(
                [(r, self.history.model_path(document, r)) for r in self.history.rounds(document)]
            )

    # -- the next step of the loop ----------------------------------------------------------------
    def unlabelled_images(self) -> list[int]:
        """Images nobody has labelled (`rules.labelled_image_ids`, as Label next leaves them) that can
        be read: what a new model pre-labels."""
        document = self.document
        if document is None:
            return []
        dataset = document.dataset
        labelled = labelled_image_ids(dataset)  # one pass over the instances, not one sort per image
        return [i for i in sorted(dataset.images)
                if i not in labelled and unreadable_reason(dataset.images[i]) is None]  # fmt: skip

    def _on_event(self, event: object) -> None:
        """A round's first better model is recorded as it is saved: the dialog lists it from then on."""
        document = self.document
        if isinstance(event, CheckpointSaved) and event.role == "best" and self.dialog and document:
            rounds = self.history.rounds(document)
            self.dialog.set_rounds([(r, self.history.model_path(document, r)) for r in rounds])

    def _predictions_on(self, image_ids: list[int]) -> list[Instance]:
        """The unreviewed predictions on these images: what pre-labelling them replaces."""
        dataset = self.document.dataset
        return [
            i for image_id in image_ids for i in dataset.instances_of(image_id) if is_unreviewed_prediction(i)
        ]

    def _replace_better(self, model_round: ModelRound, predictions: list[Instance]) -> bool:
        """Whether to go on when the predictions to replace came from a round that scored better (a round
        stopped seconds in replaced a good round's 75 predictions by 5, with no undo): the person says."""
        document = self.document
        by_model = {Path(r.path).stem: r for r in self.history.rounds(document)}
        sources = {by_model[p.source.model].number: by_model[p.source.model] for p in predictions
                   if p.source.model in by_model}  # fmt: skip
        better = [r for r in sources.values() if (r.val_ap50 or 0.0) > (model_round.val_ap50 or 0.0)]
        if not better:
            return True
        best = max(better, key=lambda r: r.val_ap50 or 0.0)
        answer = QMessageBox.question(
            self.dialog if self.dialog is not None and self.dialog.isVisible() else self.window,
            "Replace better predictions?",
            f"Round {model_round.number} scored AP50 {model_round.val_ap50 or 0.0:.2f}. The "
            f"{len(predictions)} predictions it would replace came from round {best.number} (AP50 "
            f"{best.val_ap50:.2f}), and cannot be brought back but by pre-labelling with that round "
            "again.\n\nReplace them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def use_model(self, model_round: ModelRound, *, chosen: bool = True) -> Path | None:
        """Pre-labelling uses this round's model from now on (Model settings ▸ Weights file), at the
        input size it was trained at; `chosen` (by the person, not as the best round on opening): kept as
        the project's choice. The model file (None: no document)."""
        document = self.document
        if document is None:
            return None
        path = self.history.model_path(document, model_round)
        # input size 0: the size the checkpoint was trained at, which the model process reads from it
        settings = replace(PrelabelSettings.load(self.window.settings), weights=str(path), input_size=0)
        settings.save(self.window.settings)
        if chosen:
            remember_weights(document, str(path))
        size = model_round.details.get("input_size")
        shown = f", input {size} px" if isinstance(size, int) else ""
        self.window.statusBar().showMessage(
            f"Pre-labelling now uses round {model_round.number} ({path.name}{shown})", 10000
        )
        return path

    def _follow_project_model(self) -> None:
        """An opened project pre-labels with the weights chosen for it last; never chosen, with its best
        round (the settings may hold another project's model, or COCO's, which offline cannot load)."""
        document = self.document
        if document is None:
            return
        settings = PrelabelSettings.load(self.window.settings)
        remembered = remembered_weights(document)
        if remembered is not None:
            if remembered != settings.weights:
                replace(settings, weights=remembered, input_size=0).save(self.window.settings)
                name = Path(remembered).name or "COCO weights"
                self.window.statusBar().showMessage(
                    f"Pre-labelling uses {name}, as chosen for this project", 10000
                )
            return
        rounds = [r for r in self.history.rounds(document) if self.history.model_path(document, r).is_file()]
        best = best_round(rounds)
        current = Path(settings.weights).expanduser() if settings.weights.strip() else None
        if best is not None and (
            current is None or current.resolve() != self.history.model_path(document, best).resolve()
        ):
            self.use_model(best, chosen=False)  # not a choice: a better round later is taken then

    def validation_predictions(self, model_round: ModelRound) -> Path | None:
        """The round's model's detections on its validation images, if training kept them."""
        document = self.document
        if document is None:
            return None
        path = validation_predictions_path(self.history.model_path(document, model_round))
        return path if path.is_file() else None

    def audit_with(self, model_round: ModelRound) -> Path | None:
        """Suspicious labels: the validation images' labels against the round's detections there, from
        a model that did not learn from them (the file audited; None: there is none)."""
        path = self.validation_predictions(model_round)
        if path is None:
            self.window.statusBar().showMessage(
                f"Round {model_round.number} kept no validation detections", 8000
            )
            return None
        self.window.assisted.suspicious.use_file(path)
        if self.dialog is not None:
            self.dialog.hide()  # the queue is in the window
        return path

    def prelabel_unlabelled(self, model_round: ModelRound) -> int | None:
        """Use the round's model and pre-label the images nobody has labelled; the run's id (None:
        nothing to run)."""
        if self.use_model(model_round) is None:
            return None
        ids = self.unlabelled_images()
        if not ids:
            self.window.statusBar().showMessage("Every image has a person's labels already", 8000)
            return None
        if not self._replace_better(model_round, self._predictions_on(ids)):
            return None
        run = self.prelabelling.start(ids)
        if run is not None and self.dialog is not None:
            self.dialog.hide()  # the loop goes on in the window: the new predictions, then review
        return run

    # -- following the window ---------------------------------------------------------------------
    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.CLOSING:
            self.controller.stop()  # before the document closes: its round is recorded in it
        elif change.kind is SessionEvent.DOCUMENT:
            self._enable()
            self._follow_project_model()
            if self.dialog is not None and self.dialog.isVisible() and not self.controller.busy:
                self._refresh_dialog()

    def _enable(self) -> None:
        self.action.setEnabled(self.document is not None)


def install_training(window: QMainWindow, prelabelling: Prelabelling) -> Training:
    window.training = Training(window, prelabelling)
    return window.training
