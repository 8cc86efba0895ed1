"""Pre-labelling in the main window: the Model menu, the progress dock, the one dialog for a model that
cannot be loaded, and stopping cleanly when the document or the window closes.

`install_prelabelling(window, factory)` is called by the composition root (`annotator.app`), which owns
the factory (and so the only path to torch).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QMainWindow, QMessageBox

from annotator.core.session import SessionChange, SessionEvent
from annotator.core.wording import counted
from annotator.gui.prelabel.box_model import BoxModel
from annotator.gui.prelabel.controller import PrelabelController, Progress, RunState
from annotator.gui.prelabel.dialog import PrelabelDialog, PrelabelSettings
from annotator.gui.prelabel.panel import PrelabelPanel
from annotator.gui.prelabel.project_model import remember_weights
from annotator.gui.prelabel.worker import PredictorFactory

WEIGHTS_HINT = (
    "To use weights you already have, choose the file in Model ▸ Model settings… (a checkpoint from "
    "`annotator train` or a torchvision Mask R-CNN state dict)."
)


class Prelabelling(QObject):
    """Everything pre-labelling adds to a MainWindow."""

    def __init__(self, window: QMainWindow, factory: PredictorFactory) -> None:
        super().__init__(window)
        self.window = window
        self.controller = PrelabelController(factory, self)
        self.panel = PrelabelPanel(self.controller, window)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.panel)
        window.resizeDocks([self.panel], [200], Qt.Orientation.Vertical)  # the canvas keeps the room
        self.panel.hide()  # shown when a run starts; the Model menu toggles it
        self.fatal_box: QMessageBox | None = None
        self.dialog: PrelabelDialog | None = None
        self.box_model = BoxModel(self.controller.worker, window.session, lambda: self.settings, self)
        window.editor.box_model = self.box_model
        self._build_menu()
        self._name_box_tool(True)
        self.box_model.usable_changed.connect(self._name_box_tool)
        # several images can be chosen for "Pre-label selected images"
        window.images_dock.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.controller.fatal.connect(self._show_fatal)
        self.controller.progress_changed.connect(self._on_progress)
        self.controller.run_finished.connect(self._on_finished)
        assisted = getattr(window, "assisted", None)
        if assisted is not None:  # new model features can change the "label next" order
            self.controller.features_kept.connect(assisted.label_next.features_changed)
        window.session.subscribe(self._on_session)
        window.installEventFilter(self)
        self.controller.set_document(window.session.document)
        self._on_progress(self.controller.progress)

    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.CLOSING:
            self.controller.stop()  # finish the image in progress and keep it, before the document closes
        elif change.kind is SessionEvent.DOCUMENT:
            self.controller.set_document(self.window.session.document)

    @property
    def settings(self) -> PrelabelSettings:
        return PrelabelSettings.load(self.window.settings)

    def _build_menu(self) -> None:
        menu = self.menu = self.window.menuBar().addMenu("&Model")  # training adds to it too
        self.current_action = self._action(menu, "Pre-label &current image", self.prelabel_current, "Ctrl+P")
        self.selected_action = self._action(menu, "Pre-label &selected images", self.prelabel_selected)
        self.all_action = self._action(menu, "Pre-label &all images…", self.prelabel_all, "Ctrl+Shift+P")
        menu.addSeparator()
        self.pause_action = self._action(menu, "&Pause / resume pre-labelling", self.toggle_pause)
        self.cancel_action = self._action(menu, "Ca&ncel pre-labelling", self.controller.cancel)
        menu.addSeparator()
        self._action(menu, "Model &settings…", self.edit_settings)
        menu.addAction(self.panel.toggleViewAction())
        menu.addSeparator()
        self.box_model_action = self._action(
            menu, "Box to mask with the &model (else GrabCut)", self._use_box_model
        )
        self.box_model_action.setCheckable(True)
        self.agnostic_action = self._action(
            menu, "Box to mask: any &class (the most decided mask)", self._agnostic
        )
        self.agnostic_action.setCheckable(True)

    def _use_box_model(self, checked: bool) -> None:
        self.box_model.set_usable(checked)

    def _agnostic(self, checked: bool) -> None:
        self.box_model.agnostic = checked

    def _name_box_tool(self, model: bool) -> None:
        """The box-to-mask tool says which it uses: the model, or GrabCut (no model could be loaded: a
        dialog says why and how to fix it; in the status bar it was gone before it could be read)."""
        self.box_model_action.setChecked(model)
        if not model and self.box_model.error:
            self._show_fatal(f"Box to mask uses GrabCut: {self.box_model.error}")
        action = getattr(self.window, "editing", None) and self.window.editing.actions.get("tool_box_segment")
        if action:
            action.setText("Box to &mask (model)" if model else "Box to &mask (GrabCut)")

    def _action(self, menu, text: str, slot, shortcut: str | None = None) -> QAction:
        action = QAction(text, self.window)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        self.window.addAction(action)
        return action

    # -- commands ---------------------------------------------------------------------------------
    def prelabel_current(self) -> int | None:
        image_id = self.window.session.image_id
        return None if image_id is None else self.start([image_id])

    def selected_images(self) -> list[int]:
        dock = self.window.images_dock
        rows = dock.view.selectionModel().selectedRows()
        return [dock.model.image_id(dock.proxy.mapToSource(index).row()) for index in rows]

    def prelabel_selected(self) -> int | None:
        return self.start(
            self.selected_images() or [i for i in [self.window.session.image_id] if i is not None]
        )

    def prelabel_all(self) -> None:
        """Ask (model, options, whether to redo pre-labelled images), then run over the images that need it."""
        dialog = self._dialog(accept_text="Pre-label")

        def count_label() -> None:
            count = len(self.controller.images_for_all(redo=dialog.redo.isChecked()))
            dialog.buttons.button(dialog.buttons.StandardButton.Ok).setText(
                f"Pre-label {counted(count, 'image')}"
            )

        dialog.redo.toggled.connect(count_label)
        count_label()
        dialog.accepted.connect(lambda: self._start_all(dialog.value()))
        dialog.open()

    def _start_all(self, value: PrelabelSettings) -> None:
        self._save(value)
        ids = self.controller.images_for_all(redo=value.redo_prelabelled)
        if not ids:
            self.window.statusBar().showMessage(
                "Every image is pre-labelled already (tick “also run on…”)", 8000
            )
            return
        self._run(ids, value)

    def edit_settings(self) -> None:
        dialog = self._dialog(accept_text="Save")
        dialog.accepted.connect(lambda: self._save(dialog.value()))
        dialog.open()

    def _save(self, value: PrelabelSettings) -> None:
        value.save(self.window.settings)
        remember_weights(self.window.document, value.weights)

    def start(self, image_ids: list[int]) -> int | None:
        return self._run(image_ids, self.settings)

    def _run(self, image_ids: list[int], settings: PrelabelSettings) -> int | None:
        """Start a run with its progress (pause, cancel) in sight, even if the person closed the panel."""
        if self.controller.busy:
            self.window.statusBar().showMessage("Pre-labelling is already running", 5000)
            return None
        self.panel.show()
        self.panel.raise_()
        return self.controller.start(image_ids, settings)

    def toggle_pause(self) -> None:
        if self.controller.progress.state is RunState.PAUSED:
            self.controller.resume()
        else:
            self.controller.pause()

    def _dialog(self, *, accept_text: str) -> PrelabelDialog:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = PrelabelDialog(
            self.settings, self.window, accept_text=accept_text, known_models=self._project_models()
        )
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.destroyed.connect(lambda: setattr(self, "dialog", None))
        return self.dialog

    # -- reactions --------------------------------------------------------------------------------
    def _show_fatal(self, message: str) -> None:
        """One dialog for a model that cannot be loaded (not one per image), saying how to fix it."""
        if self.fatal_box is not None:
            self.fatal_box.close()
        what, _, steps = message.partition("\n\n")  # missing COCO weights: what happened, what to do
        box = QMessageBox(QMessageBox.Icon.Warning, "Cannot load the model", what, parent=self.window)
        box.setInformativeText(steps or ("" if "Model settings" in message else WEIGHTS_HINT))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.destroyed.connect(lambda: setattr(self, "fatal_box", None))
        self.fatal_box = box
        box.open()

    def _on_progress(self, progress: Progress) -> None:
        busy = self.controller.busy
        has_document = self.controller.document is not None
        for action in (self.current_action, self.selected_action, self.all_action):
            action.setEnabled(has_document and not busy)
        self.pause_action.setEnabled(busy)
        self.cancel_action.setEnabled(busy)

    def _on_finished(self, progress: Progress) -> None:
        if progress.state is RunState.FAILED:
            text = f"Pre-labelling failed: {progress.done - progress.failed} of {progress.total} images done"
        else:
            text = (
                f"Pre-labelling {progress.state.value}: {progress.done} of {progress.total} images, "
                f"{progress.detections} predictions"
            )
        self.window.statusBar().showMessage(text, 10000)

    def _project_models(self) -> dict[str, str]:
        """The models the open project trained, by file path: what the dialog says a weights file is."""
        history = getattr(getattr(self.window, "training", None), "history", None)
        document = self.window.session.document
        if history is None or document is None:
            return {}
        described = {}
        for model_round in history.rounds(document):
            architecture = model_round.details.get("architecture")
            kind = f" ({architecture})" if architecture else ""
            described[str(history.model_path(document, model_round))] = f"{model_round.label()}{kind}"
        return described

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close:
            # before the window closes the document: finish the image in progress, keep its result
            self.controller.shutdown()
        return False


def install_prelabelling(window: QMainWindow, factory: PredictorFactory) -> Prelabelling:
    window.prelabelling = Prelabelling(window, factory)
    return window.prelabelling
