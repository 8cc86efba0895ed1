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


# Ids a whole palette apart (COCO's chair 62 and vase 86) took the very same colour: each further turn
# of the palette is darker or lighter (a share of the way to black, negative, or to white).
_SHADES = (0.0, -0.4, 0.35, -0.65, 0.6)


def category_color(category_id: int) -> tuple[int, int, int]:
    """A colour for a category id; spreads neighbouring ids apart, stable across runs, and no two ids
    under 120 alike (ids under 24 keep the palette's own colours)."""
    base = _PALETTE[(category_id * 7) % len(_PALETTE)]
    shade = _SHADES[(category_id // len(_PALETTE)) % len(_SHADES)]
    target = 255 if shade > 0 else 0
    return tuple(round(c + (target - c) * abs(shade)) for c in base)


def category_rgb(category, category_id: int) -> tuple[int, int, int]:
    """The class's own colour if it has one, else its stable palette colour."""
    color = getattr(category, "color", None)
    return tuple(color) if color is not None else category_color(category_id)
