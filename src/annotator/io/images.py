"""Image files: find them, read their displayed size, decode them to 8-bit RGB for display and the model.

EXIF orientation is applied everywhere (width and height are as displayed). Grayscale, 16-bit, float,
RGBA, palette and CMYK images become RGB; broken, empty and oversized files raise DatasetError.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image as PilImage
from PIL import UnidentifiedImageError

from annotator.io.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
MAX_PIXELS = 250_000_000  # beyond this a file is treated as a decompression bomb
# PIL's own bomb check (a warning past 89 Mpx, which _open makes an error) would refuse real 100 Mpx
# photos that COCO and LabelMe import accepts: one limit for import, display and the model.
PilImage.MAX_IMAGE_PIXELS = MAX_PIXELS
_ORIENTATION_TAG = 0x0112
_SWAPS_AXES = frozenset({5, 6, 7, 8})
_TRANSPOSE = {
    2: PilImage.Transpose.FLIP_LEFT_RIGHT,
    3: PilImage.Transpose.ROTATE_180,
    4: PilImage.Transpose.FLIP_TOP_BOTTOM,
    5: PilImage.Transpose.TRANSPOSE,
    6: PilImage.Transpose.ROTATE_270,
    7: PilImage.Transpose.TRANSVERSE,
    8: PilImage.Transpose.ROTATE_90,
}  # the EXIF orientations, as PIL's exif_transpose applies them


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(folder: str | Path) -> list[Path]:
    """Image files below `folder`, in a stable natural order; hidden folders are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(folder, "not a folder")
    found = [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and is_image_file(p)
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found, key=lambda p: _natural_key(p.relative_to(folder).as_posix()))


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as displayed, read from the header without decoding the pixels."""
    with _open(path) as image:
        return oriented_size(image)


def oriented_size(image: PilImage.Image) -> tuple[int, int]:
    """The size `oriented(image)` will have, without decoding the pixels."""
    width, height = image.size
    return (height, width) if exif_orientation(image) in _SWAPS_AXES else (width, height)


def load_rgb(path: str | Path) -> np.ndarray:
    """Decode to an (H, W, 3) uint8 RGB array, EXIF orientation applied."""
    path = Path(path)
    with _open(path) as image:
        try:
            image.load()
            return to_rgb_array(oriented(image))
        except (OSError, ValueError, SyntaxError) as exc:
            raise DatasetError(path, f"image data is broken or truncated ({exc})") from None


def exif_orientation(image: PilImage.Image) -> int:
    """The EXIF orientation, 1-8. A value of another type (the text "6", a tuple) or out of range counts
    as 1, as PIL's `exif_transpose` and the training tools built on it treat it: the one reading of the
    tag that both the recorded size (`oriented_size`) and the pixels (`oriented`) follow."""
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except (OSError, ValueError, TypeError, SyntaxError):
        return 1
    return value if type(value) is int and 1 <= value <= 8 else 1


def oriented(image: PilImage.Image) -> PilImage.Image:
    """The pixels as displayed: `exif_orientation` applied."""
    method = _TRANSPOSE.get(exif_orientation(image))
    return image if method is None else image.transpose(method)


def load_thumbnail(path: str | Path, side: int) -> np.ndarray:
    """Decode to an RGB array no larger than about `side` on its longer edge, EXIF orientation applied.

    JPEG files decode at a reduced scale (`draft`), many times faster than a full decode: enough for
    image descriptors, which look at a 64x64 thumbnail.
    """
    path = Path(path)
    with _open(path) as image:
        try:
            image.draft("RGB", (side, side))
            image.thumbnail((side, side), PilImage.Resampling.BILINEAR)
            return to_rgb_array(oriented(image))
        except (OSError, ValueError, SyntaxError) as exc:
            raise DatasetError(path, f"image data is broken or truncated ({exc})") from None


def to_rgb_array(image: PilImage.Image) -> np.ndarray:
    """Any PIL mode to 8-bit RGB: high bit depths are scaled, alpha is composited over white."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        scale = 255.0 / (high - low) if high > low else 0.0
        gray = ((values - low) * scale).clip(0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = PilImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(PilImage.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def _open(path: str | Path) -> PilImage.Image:
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise DatasetError(path, "the file is empty")
        with warnings.catch_warnings():
            warnings.simplefilter("error", PilImage.DecompressionBombWarning)
            image = PilImage.open(path)
    except DatasetError:
        raise
    except FileNotFoundError:
        raise DatasetError(path, "no such file") from None
    except (PilImage.DecompressionBombError, PilImage.DecompressionBombWarning):
        raise DatasetError(path, "image is too large (possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise DatasetError(path, "not an image file, or a format that is not supported") from None
    except OSError as exc:
        if exc.errno is None:  # PIL reports damaged data as a bare OSError
            raise DatasetError(path, f"image data is broken or truncated ({exc})") from None
        raise DatasetError(path, f"cannot read: {exc.strerror}") from None
    if image.size[0] * image.size[1] > MAX_PIXELS:
        image.close()
        raise DatasetError(path, f"image is too large ({image.size[0]}x{image.size[1]} pixels)")
    return image


def _natural_key(text: str) -> list:
    import re

    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]
