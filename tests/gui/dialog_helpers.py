"""Answering modal dialogs as a person would: a modal `exec()` blocks the test, so the answer is queued
first and given as soon as the dialog is on the screen."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

POLL_MS, MAX_POLLS = 5, 2000


def answer_next_dialog(handle: Callable[[QWidget], None]) -> list[QWidget]:
    """Call `handle(dialog)` on the next modal dialog shown; the list gets the dialog (for asserts)."""
    seen: list[QWidget] = []
    polls = [0]

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or not dialog.isVisible():
            polls[0] += 1
            if polls[0] < MAX_POLLS:
                QTimer.singleShot(POLL_MS, poll)
            return
        seen.append(dialog)
        handle(dialog)

    QTimer.singleShot(0, poll)
    return seen


def type_and_enter(text: str) -> Callable[[QWidget], None]:
    """Type into the class picker's search field (or an input dialog's line edit) and press Enter."""

    def handle(dialog: QWidget) -> None:
        field = getattr(dialog, "search", None) or dialog.focusWidget()
        QTest.keyClicks(field, text)
        QTest.keyClick(field, Qt.Key.Key_Return)

    return handle


def press_escape(dialog: QWidget) -> None:
    QTest.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_Escape)


def click_button(starting: str, then: Callable[[QWidget], None] | None = None) -> Callable[[QWidget], None]:
    """Click the message box button whose text starts with `starting`; `then` answers the next dialog."""

    def handle(box: QWidget) -> None:
        assert isinstance(box, QMessageBox), box
        button = next(b for b in box.buttons() if b.text().startswith(starting))
        if then is not None:
            answer_next_dialog(then)
        button.click()

    return handle


def choose_item(text: str) -> Callable[[QWidget], None]:
    """Pick `text` in a QInputDialog.getItem and press OK."""

    def handle(dialog: QWidget) -> None:
        dialog.setTextValue(text)
        dialog.accept()

    return handle
