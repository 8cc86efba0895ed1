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


def open_document(path: str | Path, *, dataset: str | Path | None = None, reimport: bool = False) -> Document:
    """A folder of images, a project file, a COCO or LabelMe JSON, or a COCO results list on the images
    of `dataset`, opened as a project that saves every change. `reimport`: a COCO file whose project
    exists is imported afresh (the old project is kept beside)."""
    from annotator.io.project import open_project

    return open_project(path, dataset=dataset, reimport=reimport)


def open_samples() -> Document | None:
    """The bundled sample images, as a project kept in the user's data folder."""
    from annotator.io.project import open_samples_project

    return open_samples_project()


def is_open_folder(document: Document | None, path: str | Path) -> bool:
    """Whether `path` is the folder of images whose project `document` is (opening it again refreshes).
    A folder's project is `project.annotator` in it, or `project-<hash>.annotator` in the user's data
    folder when it is read-only (`io.project`); a COCO file's project is named after the file."""
    from annotator.io.project import FOLDER_PROJECT_NAME

    if document is None:
        return False
    target = Path(path).expanduser()
    stem = Path(FOLDER_PROJECT_NAME).stem
    folder_project = document.path.name == FOLDER_PROJECT_NAME or document.path.name.startswith(stem + "-")
    return folder_project and target.is_dir() and target.resolve() == Path(document.root).resolve()


def refresh_document(document: Document) -> int:
    """Add the images that appeared in the document's folder since it was opened; how many."""
    from annotator.io.project import Project, refresh_images

    return refresh_images(document) if isinstance(document, Project) else 0
