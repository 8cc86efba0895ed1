"""The bulk check of stored mask run lengths agrees with the plain decoder on any string, so a tampered
project row never reaches pycocotools' decoder (which writes as many pixels as the runs say)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.core.geometry import _RLE_ALPHABET, GeometryError, Mask, Rle, _decoded_pixel_count
from annotator.io.store_rows import valid_masks


def _reference(rle: Rle) -> bool:
    if rle.counts.translate(None, _RLE_ALPHABET):
        return False
    try:
        return _decoded_pixel_count(rle) == rle.height * rle.width
    except GeometryError:
        return False


@st.composite
def rles(draw):
    height, width = draw(st.integers(0, 20)), draw(st.integers(0, 20))
    if draw(st.booleans()):
        mask = np.array(draw(st.lists(st.booleans(), min_size=height * width, max_size=height * width)))
        counts = bytearray(Mask.from_array(mask.reshape(height, width).astype(np.uint8)).rle.counts)
        for _ in range(draw(st.integers(0, 3))):  # damage a valid string a little
            if counts:
                counts[draw(st.integers(0, len(counts) - 1))] = draw(st.integers(40, 120))
        return Rle(height, width, bytes(counts))
    return Rle(height, width, draw(st.binary(max_size=12)))


@settings(max_examples=400, deadline=None)
@given(st.lists(rles(), min_size=1, max_size=12))
def test_the_bulk_check_agrees_with_the_plain_decoder(batch):
    assert valid_masks(batch).tolist() == [_reference(r) for r in batch]
