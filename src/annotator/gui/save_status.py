"""The saved indicator in the status bar, and File ▸ Save (Ctrl+S).

The project store writes every change through as it is made (decision 1), so there is no "unsaved
document" to save: the indicator shows the store's state (saved, saving, not saved while the disk
refuses), and Ctrl+S writes whatever is pending and says what it did, in words a person expects.
"""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel

from annotator.core.model import Change
from annotator.core.session import SessionChange, SessionEvent
from annotator.gui.menus import menu_titled
from annotator.io.errors import ProjectFileChangedError

RECHECK_MS = 1000  # while not saved, how often the indicator looks again (the window retries writes)


class SaveState(StrEnum):
    NOTHING = ""  # no document open
    SAVED = "✓ Saved"
    SAVING = "Saving…"
    NOT_SAVED = "✗ Not saved"
    NOT_KEPT = "Not kept in a file"  # a dataset held in memory only


_COLORS = {SaveState.SAVED: "#2e7d32", SaveState.SAVING: "#9a6700", SaveState.NOT_SAVED: "#b00020"}


class SaveStatus(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.label = QLabel()
        self.label.setMinimumWidth(80)
        window.statusBar().addPermanentWidget(self.label)
        self.action = QAction("&Save", window)
        self.action.setShortcut(QKeySequence(QKeySequence.StandardKey.Save))
        self.action.triggered.connect(self.save)
        window.addAction(self.action)
        menu_titled(window, "&File").insertAction(_export_action(window), self.action)
        self._dataset = None
        self._timer = QTimer(self, interval=0, singleShot=True)  # many changes in a row: one look
        self._timer.timeout.connect(self.refresh)
        self._recheck = QTimer(self, interval=RECHECK_MS)
        self._recheck.timeout.connect(self.refresh)
        window.session.subscribe(self._on_session)
        self._on_session(SessionChange(SessionEvent.DOCUMENT))

    @property
    def _store(self):
        return getattr(self.window.session.document, "store", None)

    def state(self) -> SaveState:
        document, store = self.window.session.document, self._store
        if document is None:
            return SaveState.NOTHING
        if store is None:
            return SaveState.NOT_KEPT
        if store.save_error is not None:
            return SaveState.NOT_SAVED
        return SaveState.SAVING if store.pending else SaveState.SAVED

    def refresh(self) -> None:
        state = self.state()
        self.label.setText(state.value)
        self.label.setStyleSheet(f"color: {_COLORS[state]}" if state in _COLORS else "")
        store = self._store
        where = store.path.name if store is not None else ""
        tips = {
            SaveState.SAVED: f"Every change is saved in {where} as it is made",
            SaveState.SAVING: f"Writing to {where}…",
            SaveState.NOT_SAVED: f"{store.save_error if store is not None else ''}: {self._remedy()}",
        }
        self.label.setToolTip(tips.get(state, ""))
        if state in (SaveState.SAVING, SaveState.NOT_SAVED):
            self._recheck.start()
        else:
            self._recheck.stop()

    def save(self) -> SaveState:
        """Ctrl+S: write what is pending (normally nothing: changes are written as they are made) and
        say where everything is, or why it is not."""
        store, bar = self._store, self.window.statusBar()
        if self.window.session.document is None:
            bar.showMessage("Nothing is open", 5000)
        elif store is None:
            bar.showMessage("This dataset is held in memory only: use File ▸ Export to keep it", 8000)
        elif store.flush():
            bar.showMessage(f"All changes are saved in {store.path.name}", 5000)
        else:
            bar.showMessage(
                f"Not saved: {store.save_error.reason}. Your edits are kept: {self._remedy()}", 10000
            )
        self.refresh()
        return self.state()

    def _remedy(self) -> str:
        """What happens to edits not saved: a full disk is retried; a file another program replaced or
        deleted is never written again, so they can only be saved as a new project (decision 18)."""
        if isinstance(getattr(self._store, "save_error", None), ProjectFileChangedError):
            return "save them with File ▸ Save as new project…"
        return "retrying"

    def _on_session(self, change: SessionChange) -> None:
        if change.kind is not SessionEvent.DOCUMENT:
            return
        if self._dataset is not None:
            self._dataset.unsubscribe(self._on_change)
        self._dataset = self.window.session.dataset
        if self._dataset is not None:
            self._dataset.subscribe(self._on_change)
        self.action.setEnabled(self._dataset is not None)
        self.refresh()

    def _on_change(self, _change: Change) -> None:
        self._timer.start()


def _export_action(window) -> QAction | None:
    menu = menu_titled(window, "&File")
    return next((a for a in menu.actions() if a.text().startswith("&Export")), None)


def install_save_status(window) -> SaveStatus:
    return SaveStatus(window)
