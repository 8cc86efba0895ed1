"""The note a command prints when it reads a dataset file whose edits the window keeps elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path


def note_window_edits(command: str, data: str | Path) -> None:
    """Opening a COCO or LabelMe file in the window makes a project beside it, and the edits go there,
    not into the file: a command given the file reads it as it is, without them. Say so, and where
    they are, on stderr."""
    path = Path(data)
    if path.suffix.lower() != ".json":
        return
    from annotator.io.project import project_made_from

    project = project_made_from(path)
    if project is not None:
        print(
            f"annotator {command}: note: reading {path} as it is; the edits made in the window since it "
            f"was opened there are kept in {project} (give that file to include them)",
            file=sys.stderr,
        )
