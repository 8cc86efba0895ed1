"""The one error type for bad input files: it names the file, the item and the reason."""

from __future__ import annotations

from pathlib import Path


class DatasetError(Exception):
    """Input that cannot be used as it is. The CLI prints `str(error)` as its one line; the GUI shows it."""

    def __init__(self, path: str | Path | None, reason: str, *, item: str | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.reason = reason
        self.item = item
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = [str(self.path)] if self.path is not None else []
        if self.item:
            parts.append(self.item)
        parts.append(self.reason)
        return ": ".join(parts)


class ProjectLockedError(DatasetError):
    """The project is open in another annotator process."""


class ProjectFileChangedError(DatasetError):
    """The project file was replaced, changed or deleted by another program while open: nothing more is
    written to it, and retrying cannot help (the edits stay in memory, to be saved as a new project)."""
