"""The fixes a review queue took, followed through the undo history: a fix undone brings its rows back
to the queue, redone takes them out again, and undone then replaced by another edit (the history
drops it) leaves them back for good."""

from __future__ import annotations

from collections.abc import Hashable

from PySide6.QtGui import QUndoStack

from annotator.core.edits import Edit


class TakenFixes:
    def __init__(self, stack: QUndoStack) -> None:
        self.stack = stack
        self._taken: dict[Hashable, tuple[int, Edit]] = {}  # key -> the fix's place in the history, edit

    def push(self, key: Hashable, edit: Edit, push) -> None:
        """Push `edit` (with `push`, the editor's) as the fix of `key`."""
        place = self.stack.index()
        push(edit)
        self._taken[key] = (place, edit)

    def clear(self) -> None:
        self._taken = {}

    def __bool__(self) -> bool:
        return bool(self._taken)

    def applied(self) -> set[Hashable]:
        """The keys whose fix is in effect now: still in the history and not undone."""
        applied = set()
        for key, (place, edit) in list(self._taken.items()):
            command = self.stack.command(place) if place < self.stack.count() else None
            if getattr(command, "edit", None) is not edit:
                del self._taken[key]  # undone, then replaced by another edit: back for good
            elif self.stack.index() > place:
                applied.add(key)
        return applied
