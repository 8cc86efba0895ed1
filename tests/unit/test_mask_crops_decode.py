"""A mask's crops are its pixels, whichever way they are decoded: pycocotools' C (`rleFrString`,
`rleDecode` through ctypes, the default) or numpy's running sum where those functions are missing."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotator.core import coco_native
from annotator.core.geometry import Mask
from annotator.core.region import Region, mask_crop, mask_crops
from annotator.core.rle_runs import decode_runs, mask_pieces

HEIGHT, WIDTH = 173, 241


def random_mask(rng: np.random.Generator) -> np.ndarray:
    """Blobs with holes, stripes one row apart, whole columns (runs through a column's end), specks."""
    pixels = np.zeros((HEIGHT, WIDTH), np.uint8)
    for _ in range(rng.integers(1, 5)):
        x0, y0 = rng.integers(-20, WIDTH), rng.integers(-20, HEIGHT)
        pixels[max(y0, 0) : y0 + rng.integers(1, 90), max(x0, 0) : x0 + rng.integers(1, 90)] = 1
    for _ in range(rng.integers(0, 4)):
        x0, y0 = rng.integers(0, WIDTH), rng.integers(0, HEIGHT)
        pixels[y0 : y0 + rng.integers(1, 12), x0 : x0 + rng.integers(1, 12)] = 0
    if rng.random() < 0.3:
        pixels[::2, rng.integers(0, WIDTH) :] ^= 1
    if rng.random() < 0.3:
        pixels[:, rng.integers(0, WIDTH - 5) :][:, :5] = 1
    pixels[rng.integers(0, HEIGHT, 4), rng.integers(0, WIDTH, 4)] = 1
    return pixels


def pasted(crops, shape=(HEIGHT, WIDTH)) -> np.ndarray:
    whole = np.zeros(shape, np.uint8)
    for crop in crops:
        h, w = crop.mask.shape
        assert not (whole[crop.y0 : crop.y0 + h, crop.x0 : crop.x0 + w] & crop.mask).any()  # each pixel once
        whole[crop.y0 : crop.y0 + h, crop.x0 : crop.x0 + w] |= crop.mask
    return whole


@pytest.mark.parametrize("native", [True, False])
def test_a_masks_crops_are_its_pixels_in_their_boxes(native, monkeypatch):
    assert coco_native.available()  # the default: the C functions are found
    if not native:
        monkeypatch.setattr(coco_native, "_lib", None)
    rng = np.random.default_rng(11)
    for _ in range(60):
        pixels = random_mask(rng)
        mask = Mask.from_array(pixels)
        crop = mask_crop(mask)
        assert crop.mask.dtype == np.uint8 and crop.mask.flags.c_contiguous
        assert np.array_equal(pasted([crop]), pixels)
        ys, xs = np.nonzero(pixels)
        assert (crop.x0, crop.y0, *crop.mask.shape) == (xs.min(), ys.min(), np.ptp(ys) + 1, np.ptp(xs) + 1)
        assert np.array_equal(pasted(mask_crops(mask)), pixels)
    empty = Mask.from_array(np.zeros((HEIGHT, WIDTH), np.uint8))
    assert mask_crop(empty).empty and mask_crops(empty) == []


@pytest.mark.parametrize("native", [True, False])
def test_a_sparse_masks_parts_are_decoded_into_crops_of_their_own(native, monkeypatch):
    if not native:
        monkeypatch.setattr(coco_native, "_lib", None)
    pixels = np.zeros((3000, 4000), np.uint8)
    pixels[5:9, 7:12] = pixels[2990:, 3990:] = pixels[1500, :3] = 1
    crops = mask_crops(Mask.from_array(pixels))
    assert len(crops) == 3 and max(crop.mask.size for crop in crops) <= 100
    assert np.array_equal(pasted(crops, pixels.shape), pixels)
    assert Region(Mask.from_array(pixels), 3000, 4000).covers(3995, 2995)


def test_one_masks_runs_read_in_c_are_numpys():
    rng = np.random.default_rng(5)
    for _ in range(30):
        rle = mask_utils.encode(np.asfortranarray(random_mask(rng)))
        in_c = coco_native.run_lengths(rle["counts"], HEIGHT, WIDTH)
        assert np.array_equal(in_c, decode_runs([rle["counts"]]).of(0)) and in_c.sum() == HEIGHT * WIDTH
        column, row_start, row_end = mask_pieces(rle["counts"], HEIGHT, WIDTH)
        linear = column * HEIGHT + row_start
        assert np.all(np.diff(linear) > 0) and np.all(row_end > row_start) and np.all(row_end <= HEIGHT)


@pytest.mark.parametrize("native", [True, False])
def test_runs_that_do_not_cover_the_image_are_an_error_not_a_huge_crop(native, monkeypatch):
    """`Mask.from_coco_rle` refuses them when a file is read; a mask that got past it all the same (made
    in code) is a GeometryError, not gigabytes asked of memory for a crop."""
    if not native:
        monkeypatch.setattr(coco_native, "_lib", None)
    from annotator.core.geometry import GeometryError, Rle

    for counts in (b"?~~~~~~~~~~~~0", b"O~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~0"):
        with pytest.raises(GeometryError, match="RLE counts cover"):
            mask_crop(Mask(Rle(10, 12, counts)))
