"""LabelMe `mask` shapes as RLE, without ever making a mask the size of the image.

A mask shape is a PNG the size of its box, placed at the shape's first point. Pasting each into a
full-size array (and OR-ing the parts of a group) cost a 15000x16000 image with 60 one-pixel masks more
than five minutes and 2.4 GB. Here a crop goes straight to run lengths (time and memory follow the crop,
not the image) and parts are united as RLE by pycocotools. The work is bounded: a mask PNG larger than
its image is refused before decoding, and so is a file whose masks hold more pixels in all than
`MASK_PIXELS_PER_IMAGE` images' worth.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

import numpy as np
from PIL import Image as PilImage
from PIL import UnidentifiedImageError
from pycocotools import mask as mask_utils

from annotator.core.geometry import GeometryError, Mask, Polygons, Rle
from annotator.core.model import Image

MASK_PIXELS_PER_IMAGE = 4  # all mask shapes of one file may hold this many images' worth of pixels


class MaskBudget:
    """Pixels of mask PNGs one LabelMe file may still decode."""

    def __init__(self, image: Image) -> None:
        self.left = MASK_PIXELS_PER_IMAGE * image.width * image.height

    def spend(self, pixels: int) -> None:
        self.left -= pixels
        if self.left < 0:
            raise MaskBudgetExceeded(
                f"its mask shapes hold more pixels than {MASK_PIXELS_PER_IMAGE} times the image; "
                "not read (a file this size would take minutes)"
            )


class MaskBudgetExceeded(ValueError):
    """The whole file is refused: reading on would take minutes and gigabytes."""


def placed_mask(encoded: Any, points: np.ndarray, image: Image, budget: MaskBudget) -> Rle:
    """labelme's mask shape as an RLE on the image: the PNG's top-left corner is `points[0]`."""
    if not isinstance(encoded, str) or len(points) < 1:
        raise GeometryError("a mask shape needs a base64 PNG in 'mask' and a top-left point")
    try:
        with PilImage.open(io.BytesIO(base64.b64decode(encoded, validate=False))) as png:
            width, height = png.size
            if width > image.width or height > image.height:
                raise GeometryError(f"the mask ({width}x{height}) is larger than the image")
            budget.spend(width * height)
            crop = np.asarray(png.convert("L")) > 0
    except (
        binascii.Error,
        UnidentifiedImageError,
        OSError,
        ValueError,
        PilImage.DecompressionBombError,
    ) as exc:
        if isinstance(exc, GeometryError | MaskBudgetExceeded):
            raise
        raise GeometryError("the mask is not a base64-encoded image") from None
    x0, y0 = (int(v) for v in points[0])
    rows = slice(max(-y0, 0), max(min(crop.shape[0], image.height - y0), 0))
    cols = slice(max(-x0, 0), max(min(crop.shape[1], image.width - x0), 0))
    inside = crop[rows, cols]
    if not inside.any():
        raise GeometryError("the mask is empty inside the image")
    return crop_rle(inside, x0 + cols.start, y0 + rows.start, image.height, image.width)


def crop_rle(crop: np.ndarray, x0: int, y0: int, height: int, width: int) -> Rle:
    """The RLE of an image-sized mask that is `crop` at (x0, y0) and empty elsewhere, in time and memory
    proportional to the crop. COCO runs go down the columns: a zero row above and below each crop
    column keeps every run inside its column."""
    h = crop.shape[0]
    padded = np.zeros((h + 2, crop.shape[1]), dtype=np.int8)
    padded[1:-1] = crop
    flat = padded.ravel(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1  # first pixel of each run, and first one after it
    column, row = np.divmod(changes, h + 2)
    edges = (x0 + column).astype(np.int64) * height + y0 + row - 1
    # a run ending at the foot of a column where the next starts at its head is one run (as `encode`)
    joined = np.flatnonzero(edges[1:] == edges[:-1])
    edges = np.delete(edges, np.concatenate((joined, joined + 1)))
    end = [] if edges.size and edges[-1] == height * width else [height * width]
    boundaries = np.concatenate(([0], edges, end))
    counts = np.diff(boundaries).tolist()
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return Rle(height, width, rle["counts"])


def union(parts: list[Rle | np.ndarray], image: Image) -> Mask:
    """Mask parts (RLE) and polygon rings of one instance, united as RLE."""
    rles = []
    for part in parts:
        if isinstance(part, np.ndarray):
            part = Polygons((part,)).to_rle(image.height, image.width)
        rles.append(part.as_coco())
    merged = mask_utils.merge(rles, intersect=False) if len(rles) > 1 else rles[0]
    return Mask(Rle(image.height, image.width, merged["counts"]))
