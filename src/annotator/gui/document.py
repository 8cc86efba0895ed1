"""What the window shows: a dataset and where its images are. A `Project` (SQLite, saved on every
change) is the usual one; `MemoryDocument` serves the bundled samples and tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from annotator.core.model import Dataset, Image
from annotator.io.paths import resolve_inside


class Document(Protocol):
    dataset: Dataset
    root: Path
    path: Path

    def image_path(self, image: Image) -> Path: ...

    def close(self) -> None: ...


@dataclass
class MemoryDocument:
    """A dataset held only in memory (nothing is saved): the sample images, and tests."""

    dataset: Dataset
    root: Path
    path: Path

    def image_path(self, image: Image) -> Path:
        return resolve_inside(self.root, image.file_name)

    def close(self) -> None:
        pass


def open_document(path: str | Path) -> Document:
    """A folder of images, a project file or a COCO JSON, opened as a project that saves every change."""
    from annotator.io.project import open_project

    return open_project(path)


def samples_folder() -> Path | None:
    """The bundled sample images: in the installed package, or in the checkout's `resources/`."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "resources" / "samples", here.parents[3] / "resources" / "samples"):
        if candidate.is_dir() and any(candidate.iterdir()):
            return candidate
    return None


def open_samples() -> Document | None:
    """The samples, in memory: a read-only install must not get a project file written into it."""
    folder = samples_folder()
    if folder is None:
        return None
    from annotator.io.project import dataset_from_folder

    dataset, _problems = dataset_from_folder(folder)
    return MemoryDocument(dataset, folder, folder)
