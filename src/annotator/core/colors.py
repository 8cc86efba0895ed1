"""Stable class colours: the same category id gets the same colour in every session and every tool run."""

from __future__ import annotations

# detectron2's palette order (distinct, saturated), as 0-255 RGB.
_PALETTE = (
    (0, 114, 189),
    (217, 83, 25),
    (237, 177, 32),
    (126, 47, 142),
    (119, 172, 48),
    (77, 190, 238),
    (162, 20, 47),
    (255, 128, 0),
    (0, 200, 120),
    (191, 0, 191),
    (85, 85, 255),
    (170, 170, 0),
    (0, 170, 170),
    (255, 85, 127),
    (128, 255, 0),
    (255, 60, 60),
    (60, 120, 255),
    (255, 190, 0),
    (140, 90, 40),
    (0, 140, 255),
    (200, 0, 100),
    (90, 200, 255),
    (160, 255, 120),
    (255, 150, 200),
)


def category_color(category_id: int) -> tuple[int, int, int]:
    """A colour for a category id; spreads neighbouring ids apart, stable across runs."""
    return _PALETTE[(category_id * 7) % len(_PALETTE)]


def category_rgb(category, category_id: int) -> tuple[int, int, int]:
    """The class's own colour if it has one, else its stable palette colour."""
    color = getattr(category, "color", None)
    return tuple(color) if color is not None else category_color(category_id)
