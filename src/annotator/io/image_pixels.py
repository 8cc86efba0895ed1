"""An image's pixels by its record, for checks that look at the picture (the label audit's edge fit).

An image that cannot be read, lies outside its folder, or no longer has the size its labels were drawn
on gives None and a problem line naming it: the check then skips that image instead of failing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from annotator.core.model import Image
from annotator.io.errors import DatasetError
from annotator.io.images import load_rgb
from annotator.io.paths import resolve_inside


class ImagePixels:
    """Callable: `pixels(image)` is its (H, W, 3) RGB array, EXIF orientation applied, or None."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.problems: list[str] = []

    def __call__(self, image: Image) -> np.ndarray | None:
        try:
            pixels = load_rgb(resolve_inside(self.root, image.file_name))
        except DatasetError as exc:
            self.problems.append(f"{image.file_name}: {exc.reason}")
            return None
        except OSError as exc:
            self.problems.append(f"{image.file_name}: cannot be read ({exc.strerror or exc})")
            return None
        height, width = pixels.shape[:2]
        if (height, width) != (image.height, image.width):
            self.problems.append(
                f"{image.file_name}: is {width}x{height} on disk, but its labels were drawn on "
                f"{image.width}x{image.height}"
            )
            return None
        return pixels
