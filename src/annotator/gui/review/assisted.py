"""Model-assisted review in the main window: "Label next" in the image list, and the Suspicious labels,
Checks and Statistics docks, with their Review menu entries. Each computes in the background on a
snapshot of the dataset; nothing here imports torch (the audit reads predictions already made)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction

from annotator.gui.menus import menu_titled
from annotator.gui.review.checks_dock import ChecksDock
from annotator.gui.review.label_next import LabelNext
from annotator.gui.review.statistics_dock import StatisticsDock
from annotator.gui.review.suspicious import SuspiciousLabelsDock

QUEUE_HEIGHT = 260  # px: about ten rows of a queue under the canvas


class AssistedReview(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.label_next = LabelNext(window)
        self.suspicious = SuspiciousLabelsDock(window)
        self.checks = ChecksDock(window)
        self.statistics = StatisticsDock(window)
        # the queues are tables with long rows: under the canvas, as tabs once both are shown (tabified
        # from the start, the two hidden docks made the window 3 px taller than asked); the charts are
        # tall: beside the classes
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.suspicious)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.checks)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.statistics)
        window.tabifyDockWidget(window.classes_dock, self.statistics)
        for dock in (self.suspicious, self.checks, self.statistics):
            dock.hide()  # shown from the Review menu (or as the last session left them)
            dock.toggleViewAction().toggled.connect(lambda shown, d=dock: shown and self.bring_up(d))
        self._build_menu()
        window.installEventFilter(self)

    def _build_menu(self) -> None:
        window = self.window
        menu = menu_titled(window, "&Review")
        menu.addSeparator()
        for text, slot in (
            ("&Label next: sort the images by what to label next", self.label_next.start),
            ("Refresh the label-next order", self.label_next.refresh),
            ("Back to the dataset's image order", self.label_next.stop),
        ):
            action = QAction(text, window)
            action.triggered.connect(slot)
            menu.addAction(action)
        menu.addSeparator()
        audit_file = QAction("Audit the labels with a predictions &file…", window)
        audit_file.triggered.connect(self.suspicious.choose_file)
        for dock, text in (
            (self.suspicious, "S&uspicious labels"),
            (self.checks, "Consistency c&hecks"),
            (self.statistics, "S&tatistics"),
        ):
            toggle = dock.toggleViewAction()
            toggle.setText(text)
            menu.addAction(toggle)
            if dock is self.suspicious:
                menu.addAction(audit_file)
        view = menu_titled(window, "&View")
        view.addSeparator()  # every panel can be found where panels are
        for dock in (self.suspicious, self.checks, self.statistics):
            view.addAction(dock.toggleViewAction())

    def bring_up(self, dock) -> None:
        """A dock shown from the menu comes to the front of its tabs; a queue gets room to read."""
        window = self.window
        queues = (self.suspicious, self.checks)
        other = queues[1 - queues.index(dock)] if dock in queues else None
        if other is not None and other.isVisible() and other not in window.tabifiedDockWidgets(dock):
            window.tabifyDockWidget(other, dock)
        QTimer.singleShot(0, dock.raise_)  # once the tab bar knows the dock is shown again
        if self.window.dockWidgetArea(dock) == Qt.DockWidgetArea.BottomDockWidgetArea and dock.height() < 200:
            self.window.resizeDocks([dock], [QUEUE_HEIGHT], Qt.Orientation.Vertical)

    def wait(self) -> None:
        """Let every background computation end (the window is closing; tests)."""
        self.label_next.cancel()
        for job in (self.label_next.job, self.suspicious.job, self.checks.job, self.statistics.job):
            job.wait()

    def eventFilter(self, watched, event) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close:
            self.wait()
        return False


def install_assisted_review(window) -> AssistedReview:
    window.assisted = AssistedReview(window)
    return window.assisted
