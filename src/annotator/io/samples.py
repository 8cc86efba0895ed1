"""The bundled public-domain sample images (see resources/samples/SOURCE.md), opened as a real project.

Their project file lives in the user's data folder, never beside the samples: an installed package may be
read-only, and a checkout should not get a project written into its resources.
"""

from __future__ import annotations

import os
from pathlib import Path


def samples_dir() -> Path | None:
    """`resources/samples` in the installed package or in the checkout; None if neither has images."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "resources" / "samples", here.parents[3] / "resources" / "samples"):
        if candidate.is_dir() and any(p.suffix == ".jpg" for p in candidate.iterdir()):
            return candidate
    return None


def samples_project_path() -> Path:
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "annotator" / "projects" / "samples.annotator"
