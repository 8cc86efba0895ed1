"""The undo stack over `core` edits: one QUndoCommand per edit, the edit itself holds the delta.

`QUndoStack.push` calls `redo` at once, so the first redo is the apply: a tool hands its finished edit
to `UndoHistory.push` and never applies it itself. The project store saves every change the edit makes,
so an undo or redo is saved like any other edit.
"""

from __future__ import annotations

from collections.abc import Iterator

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from annotator.core.edits import Edit
from annotator.core.model import Dataset, Instance


def _image_of(edit: Edit) -> int | None:
    """The image an edit touches, so the window can show it when the edit is undone or redone; None
    when it touches none or several (a class merged or deleted across the dataset shows no one image)."""
    images = set(_images_of(edit))
    return images.pop() if len(images) == 1 else None


def _images_of(edit: Edit) -> Iterator[int]:
    for name in ("instances", "new", "old"):
        for value in getattr(edit, name, ()) or ():
            if isinstance(value, Instance):
                yield value.image_id
    for inner in getattr(edit, "edits", ()):
        yield from _images_of(inner)


class EditCommand(QUndoCommand):
    """redo = apply, undo = revert, on the dataset the edit was made for."""

    def __init__(self, dataset: Dataset, edit: Edit, history: UndoHistory | None = None) -> None:
        super().__init__(edit.text)
        self.dataset, self.edit, self._history = dataset, edit, history
        self.image_id = _image_of(edit)
        if self.image_id is None and hasattr(edit, "instance_id"):
            instance = dataset.instances.get(edit.instance_id)
            self.image_id = None if instance is None else instance.image_id

    def redo(self) -> None:
        self.edit.apply(self.dataset)
        self._replayed()

    def undo(self) -> None:
        self.edit.revert(self.dataset)
        self._replayed()

    def _replayed(self) -> None:
        if self._history is not None and self.image_id is not None:
            self._history.replayed.emit(self.image_id)


class UndoHistory(QObject):
    """One unlimited QUndoStack for the open document's whole session."""

    replayed = Signal(object)  # image id an applied, undone or redone edit touched

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.stack = QUndoStack(self)
        self.dataset: Dataset | None = None

    def set_dataset(self, dataset: Dataset | None) -> None:
        """A new document starts a new history: the old edits belong to another dataset."""
        self.stack.clear()
        self.dataset = dataset

    def push(self, edit: Edit | None) -> None:
        if edit is None or self.dataset is None:
            return
        self.stack.push(EditCommand(self.dataset, edit, self))
