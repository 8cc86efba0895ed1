"""Documents the window opens (see `core.session.Document`): a `Project` (SQLite, saved on every change)
is the usual one, the bundled samples included; `MemoryDocument` serves tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from annotator.core.model import Dataset, Image
from annotator.core.session import Document
from annotator.io.paths import resolve_inside


@dataclass
class MemoryDocument:
    """A dataset held only in memory (nothing is saved), for tests."""

    dataset: Dataset
    root: Path
    path: Path

    def image_path(self, image: Image) -> Path:
        return resolve_inside(self.root, image.file_name)

    def close(self, *, discard: bool = False) -> None:
        pass


def open_document(path: str | Path, *, reimport: bool = False) -> Document:
    """A folder of images, a project file or a COCO JSON, opened as a project that saves every change.
    `reimport`: a COCO file whose project exists is imported afresh (the old project is kept beside)."""
    from annotator.io.project import open_project

    return open_project(path, reimport=reimport)


def open_samples() -> Document | None:
    """The bundled sample images, as a project kept in the user's data folder."""
    from annotator.io.project import open_samples_project

    return open_samples_project()
