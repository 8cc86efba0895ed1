"""Where the person left off: the last project and the image last viewed, remembered in QSettings, so
that the app started with no path opens them again. The bundled samples open only on the very first
start (when nothing was ever opened); after that, a last project that is gone leaves the window empty
with a message, never the samples instead."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject

from annotator.core.session import SessionChange, SessionEvent
from annotator.gui.document import is_open_folder, open_document, open_samples
from annotator.gui.project_dialogs import abandon, describe

PROJECT_KEY = "resume/project"
IMAGE_KEY = "resume/image"
SAMPLES = "samples"  # PROJECT_KEY's value when the samples were open


class ResumePoint(QObject):
    """Follows the window's session and writes what to reopen into its settings."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        window.session.subscribe(self._on_session)

    def _on_session(self, change: SessionChange) -> None:
        session, settings = self.window.session, self.window.settings
        if change.kind is SessionEvent.DOCUMENT and session.document is not None:
            settings.setValue(PROJECT_KEY, _reopen_path(session.document))
            settings.remove(IMAGE_KEY)
        elif change.kind is SessionEvent.IMAGE and session.image is not None:
            settings.setValue(IMAGE_KEY, session.image.file_name)


def _reopen_path(document) -> str:
    """What to open next time: the samples; a folder's project as the folder (new images come in);
    anything else as its project file."""
    from annotator.io.samples import samples_project_path

    path = Path(document.path)
    if path == samples_project_path():
        return SAMPLES
    if is_open_folder(document, document.root):
        return str(Path(document.root))
    return str(path)


def resume(window) -> None:
    """Open what the window's settings say was open last, at the image last viewed; the samples on the
    very first start. A last project that cannot be opened or shown is said in the status bar, and the
    window starts empty: a bad last project never stops the app from starting."""
    last, image_name = window.settings.value(PROJECT_KEY), window.settings.value(IMAGE_KEY)
    first_start = not last or last == SAMPLES
    try:
        document = open_samples() if first_start else open_document(last)
    except Exception as error:  # noqa: BLE001 - said in the status bar; the window starts empty
        _say_not_reopened(window, last, error)
        return
    try:
        shown = window.set_document(document)
    except Exception as error:  # noqa: BLE001 - cannot be shown: closed, never left half-set
        abandon(window, document)
        _say_not_reopened(window, last, error)
        return
    if not shown:
        document.close()
        return
    if not first_start:
        window._remember_recent(Path(last))
    show_image_named(window, image_name)


def _say_not_reopened(window, last, error: Exception) -> None:
    what = "The samples" if not last or last == SAMPLES else "The last project"
    window.statusBar().showMessage(f"{what} cannot be opened: {describe(last or 'samples', error)}", 20000)


def show_image_named(window, file_name: str | None) -> None:
    dataset = window.session.dataset
    if dataset is None or not file_name:
        return
    image_id = next((i for i, image in dataset.images.items() if image.file_name == file_name), None)
    if image_id is not None:
        window.show_image(image_id)
