"""Class colours: stable, and two classes of one dataset never share one."""

from __future__ import annotations

from annotator.core.colors import _PALETTE, category_color


def test_no_two_class_ids_under_120_share_a_colour_and_the_first_keep_the_palettes():
    """COCO's chair (62) and vase (86) were both rgb(237, 177, 32): ids 24 apart took the same colour."""
    colours = [category_color(i) for i in range(1, 121)]
    assert len(set(colours)) == len(colours)
    assert category_color(62) != category_color(86)
    assert [category_color(i) for i in range(24)] == [_PALETTE[(i * 7) % 24] for i in range(24)]
    assert category_color(62) == category_color(62)  # the same in every session
    assert all(0 <= c <= 255 for colour in colours for c in colour)
