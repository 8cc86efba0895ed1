"""The audit reads pictures through `ImagePixels`: a missing, broken, resized or escaping image is one
problem line naming it, never an exception."""

from __future__ import annotations

import cv2
import numpy as np

from annotator.core.model import Image
from annotator.io.image_pixels import ImagePixels


def test_readable_images_come_back_and_the_rest_are_named(tmp_path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    cv2.imwrite(str(root / "good.png"), np.full((20, 30, 3), 7, np.uint8))
    cv2.imwrite(str(root / "small.png"), np.zeros((10, 10, 3), np.uint8))
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    outside = tmp_path / "secret.png"
    cv2.imwrite(str(outside), np.zeros((20, 30, 3), np.uint8))
    (root / "link.png").symlink_to(outside)
    pixels = ImagePixels(root)
    good = pixels(Image(1, "good.png", 30, 20))
    assert good.shape == (20, 30, 3) and int(good[0, 0, 0]) == 7
    for name in ("small.png", "broken.png", "link.png", "gone.png"):
        assert pixels(Image(2, name, 30, 20)) is None
    assert [line.split(":")[0] for line in pixels.problems] == [
        "small.png",
        "broken.png",
        "link.png",
        "gone.png",
    ]
    assert "10x10 on disk" in pixels.problems[0] and "30x20" in pixels.problems[0]
