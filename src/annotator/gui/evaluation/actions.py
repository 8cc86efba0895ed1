"""Comparison with ground truth in the main window: Review menu entries, the Evaluation dock, canvas
colours, and the image list's AP column (sorted worst first when a comparison starts)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from annotator.core.comparison import Comparison
from annotator.core.session import SessionChange, SessionEvent
from annotator.gui.evaluation.controller import EvaluationController
from annotator.gui.evaluation.panel import EvaluationPanel
from annotator.gui.evaluation.view import ComparisonCanvas
from annotator.gui.menus import menu_titled


class Evaluation(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.controller = EvaluationController(self)
        self.panel = EvaluationPanel(window)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.panel)
        self.panel.hide()  # shown when a comparison starts
        self.view = ComparisonCanvas(window.session, window.canvas)
        self._fresh = False  # the next result starts a comparison: sort the image list by it
        self._build_menu()
        self.panel.load_requested.connect(self.choose_file)
        self.panel.accepted_requested.connect(self.compare_with_accepted)
        self.panel.stop_requested.connect(self.controller.stop)
        self.controller.result_changed.connect(self._on_result)
        self.controller.message.connect(self.panel.set_message)
        self.controller.busy_changed.connect(self._on_busy)
        self.session.subscribe(self._on_session)
        window.installEventFilter(self)
        self.controller.set_dataset(self.session.dataset)

    def _build_menu(self) -> None:
        window = self.window
        menu = menu_titled(window, "&Review")
        menu.addSeparator()
        for text, slot in (
            ("Compare with &ground truth file…", self.choose_file),
            ("Compare with the acce&pted instances", self.compare_with_accepted),
            ("&Stop comparing", self.controller.stop),
        ):
            action = QAction(text, window)
            action.triggered.connect(slot)
            menu.addAction(action)
        menu.addAction(self.panel.toggleViewAction())

    # -- commands ---------------------------------------------------------------------------------
    def choose_file(self) -> None:
        document = self.window.document
        start = "" if document is None else str(document.path.parent)  # where the project's files are
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Ground truth (COCO instances)", start, "COCO JSON (*.json);;All files (*)"
        )
        if path:
            self.load_file(path)

    def load_file(self, path) -> None:
        self._fresh = True
        self.panel.show()
        self.controller.load_file(path)

    def compare_with_accepted(self) -> None:
        self._fresh = True
        self.panel.show()
        self.panel.set_message(
            "Ground truth: the accepted, edited and hand-drawn instances; predictions: every model instance"
        )
        self.controller.compare_with_accepted()

    # -- reactions --------------------------------------------------------------------------------
    def _on_result(self, result: Comparison | None) -> None:
        window = self.window
        dataset = None if window.document is None else window.document.dataset
        self.panel.show_result(result, dataset)
        self.view.show(result)
        scores = None
        if result is not None:
            per_image = result.evaluation.per_image if result.evaluation is not None else {}
            scores = {image_id: per_image.get(image_id, (None, None))[0] for image_id in result.matches}
        window.images_dock.set_scores(scores)
        if result is not None and self._fresh:
            self._fresh = False
            window.images_dock.sort_worst_first()
        self.panel.show_image(self.session.image_id)

    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.DOCUMENT:
            self.controller.set_dataset(self.session.dataset)
        elif change.kind is SessionEvent.IMAGE:
            self.view.refresh()
            self.panel.show_image(self.session.image_id)

    def _on_busy(self, busy: bool) -> None:
        title = "Evaluation (computing…)" if busy else "Evaluation"
        self.panel.setWindowTitle(title)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close:
            self.controller.wait()
        return False


def install_evaluation(window) -> Evaluation:
    window.evaluation = Evaluation(window)
    return window.evaluation
