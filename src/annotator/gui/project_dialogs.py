"""Dialogs about the project file itself, kept out of the main window so they travel as one piece.

- The file was replaced, changed or deleted by another program: writing has stopped (the store refuses),
  the edits are in memory; offer File ▸ Save as new project… at once.
- The document cannot be closed because edits could not be saved: save them as a new project, discard
  them, or stay.
- The COCO file a project was made from has changed since: offer to re-import it.
Each takes the window (anything with `document`, `set_document`, `open_path`, `statusBar`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from annotator.io.errors import DatasetError, ProjectFileChangedError

SAVE_AS_TEXT = "Save as new project…"


def save_as_new_project(window, path: str | Path | None = None) -> bool:
    """Write the open dataset (with every unsaved edit) to a new project file and switch to it.

    Asks where unless `path` is given; the new file never replaces an existing one.
    """
    document = window.document
    new = None if document is None else write_new_project(window, document, path)
    if new is None:
        return False
    document.close(discard=True)  # its edits are all in the new file now
    window.set_document(new)
    window.statusBar().showMessage(f"Saved as {new.path}; later edits are saved there", 10000)
    return True


def write_new_project(window: QWidget, document, path: str | Path | None = None):
    """`document`'s dataset in a new project file (asking where unless `path`); the open Project, or
    None when the person cancelled or it could not be written (they were told)."""
    if path is None:
        suggestion = document.path.with_name(document.path.stem + "-saved.annotator")
        path, _ = QFileDialog.getSaveFileName(
            window, "Save as a new project", str(suggestion), "Projects (*.annotator)"
        )
        if not path:
            return None
    path = Path(path)
    if path.suffix != ".annotator":
        path = path.with_name(path.name + ".annotator")
    from annotator.io.project import create_project

    try:
        return create_project(path, document.dataset, document.root, list(getattr(document, "problems", [])))
    except DatasetError as exc:
        QMessageBox.warning(window, "Cannot save the project", str(exc))
        return None


def project_lost(window, error: ProjectFileChangedError) -> QMessageBox:
    """Say at once that nothing more is saved to the file, and offer to save as a new project."""
    box = QMessageBox(QMessageBox.Icon.Warning, "The project file was changed by another program", str(error),
                      parent=window)  # fmt: skip
    box.setInformativeText(
        "Nothing more is written to it, so it stays as the other program left it. Your edits are kept "
        "in this window: save them as a new project to keep working."
    )
    save = box.addButton(SAVE_AS_TEXT, QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    box.buttonClicked.connect(lambda button: button is save and save_as_new_project(window))
    box.open()
    return box


def resolve_unsaved(window, error: DatasetError) -> bool:
    """The document cannot close: its edits could not be saved. True when it was closed (saved as a
    new project, or the person chose to discard the edits), False to stay.

    A full disk may clear: the window stays on the document, and says how to keep the edits. A file
    replaced by another program will not come back: save as a new project, discard, or stay.
    """
    document = window.document
    store = getattr(document, "store", None)
    if not isinstance(getattr(store, "save_error", None), ProjectFileChangedError):
        QMessageBox.warning(
            window, "Changes not saved",
            f"{error}\n\nYour edits are still here. Free some disk space (or make the folder writable) and "
            f"try again, or keep them with File ▸ {SAVE_AS_TEXT}",
        )  # fmt: skip
        return False
    box = QMessageBox(QMessageBox.Icon.Warning, "Changes not saved", str(error), parent=window)
    box.setInformativeText("Your edits are only in this window. Save them as a new project, or discard them.")
    save = box.addButton(SAVE_AS_TEXT, QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard edits", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    clicked = box.clickedButton()
    if clicked is save:
        saved = write_new_project(window, document)
        if saved is None:
            return False
        saved.close()
        window.statusBar().showMessage(f"Your edits were saved as {saved.path}", 10000)
    elif clicked is not discard:
        return False
    document.close(discard=True)
    return True


def offer_reimport(window: QWidget, document) -> QMessageBox | None:
    """A project made from a COCO file that has changed since: say so, offer to import it again."""
    message, source = getattr(document, "source_changed", None), getattr(document, "source", None)
    if not message or source is None:
        return None
    box = QMessageBox(QMessageBox.Icon.Information, "The COCO file has changed", message, parent=window)
    box.setInformativeText(
        "Re-import starts a new project from the file as it is now: the edits made in this window are not in "
        "it. The project as it is now is set aside beside it (its name is said after) and can be opened."
    )
    reimport = box.addButton("Re-import", QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton("Keep the project", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)  # Enter keeps the work; leaving it takes a click
    box.setEscapeButton(keep)
    box.buttonClicked.connect(lambda button: button is reimport and _reimport(window, source))
    box.open()
    return box


def _reimport(window, source: Path) -> None:
    """Close the project (this window holds its lock), import the file afresh; if that fails, the
    project opens again as it was."""
    if window.set_document(None) and not window.open_path(source, reimport=True):
        window.open_path(source)


def describe(path: str | Path, exc: Exception) -> str:
    """The dialog text for a path that could not be opened or shown."""
    if isinstance(exc, DatasetError):
        return str(exc)
    return f"{path}: cannot be opened ({type(exc).__name__}: {exc})"


def is_shown_here(window, project_path: Path | None) -> bool:
    """Whether `project_path` is the project this window shows (opening it again finds our own lock)."""
    document = window.document
    if document is None or project_path is None:
        return False
    with contextlib.suppress(OSError):
        return Path(project_path).resolve() == Path(document.path).resolve()
    return False


def abandon(window, document) -> None:
    """`document` could not be shown: close it and leave the window empty rather than half-set."""
    with contextlib.suppress(Exception):
        document.close()
    with contextlib.suppress(Exception):
        window.set_document(None)
