"""The note a command prints when it reads a dataset file whose edits the window keeps elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path


def note_window_edits(command: str, data: str | Path) -> None:
    """Opening a COCO or LabelMe file (or a folder of them) in the window makes a project beside it (or
    in it), and the edits go there, not into the files: a command given them reads them as they are,
    without the edits. Say so, and where they are, on stderr."""
    path = Path(data)
    from annotator.io.project import FOLDER_PROJECT_NAME, project_made_from

    if path.is_dir():  # a folder of LabelMe files (or images with them) the window opened
        project = path / FOLDER_PROJECT_NAME if (path / FOLDER_PROJECT_NAME).is_file() else None
    elif path.suffix.lower() == ".json":
        project = project_made_from(path)
    else:
        return
    if project is not None:
        print(
            f"annotator {command}: note: reading {path} as it is; the edits made in the window since it "
            f"was opened there are kept in {project} (give that file to include them)",
            file=sys.stderr,
        )
