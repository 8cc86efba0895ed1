"""Where a project keeps the models it trains: `<project stem>-models/` beside the project file.

`project.annotator` gets `project-models/round-1.pt`, `round-2.pt`, ...; the training set each round
learned from sits beside its model (`round-1.data.json`, COCO), and so do its detections on its
validation images (`round-1.val-predictions.json`, for the label audit). The folder is made here and must be a
real folder: a symbolic link at its name is refused, never written through. Files in it are written
atomically (`io.atomic`), and a round's name is one nothing occupies yet, so no existing file (or link)
is ever replaced.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from annotator.io.errors import DatasetError

_ROUND_FILE = re.compile(r"^round-(\d+)(?:\.last)?\.(?:pt|data\.json|val-predictions\.json)$")


@dataclass(frozen=True)
class RoundFiles:
    """The files of one training round."""

    number: int
    model: Path  # the best model (what pre-labelling uses)
    data: Path  # the training set, as a COCO file the training process reads

    @property
    def last(self) -> Path:
        """The resumable state the training process writes beside the model (`TrainConfig.last_path`)."""
        return self.model.with_name(f"{self.model.stem}.last{self.model.suffix}")

    @property
    def val_predictions(self) -> Path:
        return validation_predictions_path(self.model)


def validation_predictions_path(model: Path) -> Path:
    """A model's detections on its validation images, beside it (`TrainConfig.val_predictions_path`)."""
    return model.with_name(f"{model.stem}.val-predictions.json")


def models_folder(project_path: Path) -> Path:
    return project_path.parent / f"{project_path.stem}-models"


def make_models_folder(project_path: Path) -> Path:
    """The models folder, made if missing; DatasetError if its name is taken by a link or a file."""
    folder = models_folder(project_path)
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        try:
            folder.mkdir()
        except OSError as exc:
            raise DatasetError(folder, f"cannot make the models folder: {exc.strerror or exc}") from None
        return folder
    except OSError as exc:
        raise DatasetError(folder, f"cannot use the models folder: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        raise DatasetError(folder, "is a symbolic link; models are only written into a real folder")
    if not stat.S_ISDIR(info.st_mode):
        raise DatasetError(folder, "is a file, not the models folder; move it away to train")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DatasetError(folder, "cannot write in the models folder")
    return folder


def taken_round_numbers(folder: Path) -> list[int]:
    """Round numbers that files in `folder` already use (a run that was never recorded included)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [int(found.group(1)) for name in names if (found := _ROUND_FILE.match(name))]


def round_files(folder: Path, number: int) -> RoundFiles:
    return RoundFiles(number, folder / f"round-{number}.pt", folder / f"round-{number}.data.json")


def relative_to_project(project_path: Path, path: Path) -> str:
    """`path` as the project records it: relative to the project file's folder, POSIX separators."""
    return PurePosixPath(Path(os.path.relpath(path, project_path.parent))).as_posix()


def resolve_recorded(project_path: Path, recorded: str) -> Path:
    """A recorded model path back to a file path (an absolute one is kept as it is)."""
    path = Path(recorded)
    return path if path.is_absolute() else project_path.parent / path


def delete_round_files(project_path: Path, number: int) -> list[str]:
    """Delete round `number`'s files (model, resumable state, training set, validation detections) from the project's models
    folder; the names of those that could not be deleted. Only those names in that folder are touched,
    and a link there is removed, never followed."""
    folder = models_folder(project_path)
    files = round_files(folder, number)
    kept = []
    for path in (files.model, files.last, files.data, files.val_predictions):
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            kept.append(f"{path.name} ({exc.strerror or exc})")
    return kept
