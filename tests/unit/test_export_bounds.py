"""Exporting is bounded by the masks, not the image: a 15000x16000 image with 60 one-pixel masks (the
issue's 12 KB LabelMe file, which `info` read at once) took minutes and 2.4 GB per export format, each
mask being decoded to an image-sized array and traced there. Masks are now cut to their box from the
runs, traced there and moved back; the output must be the same as tracing the whole image."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from annotator.core import region
from annotator.core.geometry import Mask, Rle, mask_to_polygons, to_mask_array
from annotator.core.model import Category, Dataset, Image, Instance
from annotator.core.region import mask_crop, traced_polygons
from annotator.io.coco_write import coco_dict
from annotator.io.labelme import load_labelme
from annotator.io.labelme_write import save_labelme
from annotator.io.panoptic import decode_png, save_panoptic
from annotator.io.yolo import save_yolo

HEIGHT, WIDTH = 15000, 16000


def _mask(array: np.ndarray) -> Mask:
    rle = mask_utils.encode(np.asfortranarray(array.astype(np.uint8)))
    return Mask(Rle(array.shape[0], array.shape[1], rle["counts"]))


def _box_mask(x: int, y: int, w: int, h: int, height: int = HEIGHT, width: int = WIDTH) -> Mask:
    """A w x h rectangle at (x, y) on a large image, built from its column-major runs (never an
    image-sized array)."""
    counts = [x * height + y] + [h, height - h] * (w - 1) + [h]
    counts.append(height * width - sum(counts))
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return Mask(Rle(height, width, rle["counts"]))


def _huge_dataset() -> Dataset:
    dataset = Dataset()
    dataset.put_categories([Category(1, "dot")])
    dataset.put_images([Image(1, "big.jpg", WIDTH, HEIGHT)])
    dataset.put_instances(
        [Instance(i, 1, 1, _box_mask(200 * i + 3, 100 * i + 5, 1, 1)) for i in range(1, 61)]
    )
    return dataset


def _export_measuring_peak(dataset, folder) -> tuple[dict, int]:
    """The COCO dict, with LabelMe and YOLO written into `folder`, and the peak traced memory meanwhile."""
    tracemalloc.start()
    try:
        coco = coco_dict(dataset)
        save_labelme(dataset, folder / "labelme")
        save_yolo(dataset, folder / "yolo")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return coco, peak


def test_every_format_exports_sixty_dots_on_a_huge_image_in_little_memory(tmp_path):
    dataset = _huge_dataset()
    coco, peak = _export_measuring_peak(dataset, tmp_path)
    assert peak < 50 * 2**20, f"{peak / 2**20:.0f} MiB"  # one image-sized uint8 mask alone is 229 MiB
    assert len(coco["annotations"]) == 60 and all(a["area"] == 1 for a in coco["annotations"])
    first = coco["annotations"][0]
    assert [round(v) for v in first["bbox"]] == [203, 105, 1, 1]
    assert (tmp_path / "labelme" / "big.json").is_file()
    assert len((tmp_path / "yolo" / "labels" / "big.txt").read_text().splitlines()) == 60


def test_panoptic_of_a_large_image_never_holds_a_full_mask_per_instance(tmp_path):
    """Panoptic's PNG is image-sized by nature: the canvas, and nothing image-sized per instance."""
    dataset = Dataset()
    dataset.put_categories([Category(1, "dot")])
    height, width = 3000, 4000
    dataset.put_images([Image(1, "big.jpg", width, height)])
    instances = [Instance(i, 1, 1, _box_mask(20 * i, 10 * i, 4, 3, height, width)) for i in range(1, 41)]
    dataset.put_instances(instances)
    tracemalloc.start()
    try:
        save_panoptic(dataset, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    canvas = height * width * 4  # the uint32 id canvas
    assert peak < 3 * canvas, f"{peak / 2**20:.0f} MiB for a {canvas / 2**20:.0f} MiB canvas"
    ids = decode_png(tmp_path / "panoptic" / "big.png")
    assert ids[10, 20] == 1 and ids[400, 800] == 40 and int((ids > 0).sum()) == 40 * 12


@st.composite
def masks(draw):
    height, width = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    bits = draw(st.lists(st.booleans(), min_size=height * width, max_size=height * width))
    return np.array(bits, np.uint8).reshape(height, width)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masks(), st.booleans())
def test_cropped_work_equals_whole_image_work(array, fill_holes):
    """Property: the crop pasted back is the mask, and tracing the crop gives what tracing the whole image
    gives (same IoU, holes and dropped parts, and the same pixels once rasterised)."""
    mask = _mask(array)
    crop = mask_crop(mask)
    pasted = np.zeros_like(array)
    if not crop.empty:
        h, w = crop.mask.shape
        pasted[crop.y0 : crop.y0 + h, crop.x0 : crop.x0 + w] = crop.mask
    assert np.array_equal(pasted, array)
    whole = mask_to_polygons(array, fill_holes=fill_holes)
    cropped = traced_polygons(mask, fill_holes=fill_holes)
    assert (cropped.iou, cropped.hole_count, cropped.dropped_parts) == (
        whole.iou, whole.hole_count, whole.dropped_parts
    )  # fmt: skip
    assert (cropped.polygons is None) == (whole.polygons is None)
    if whole.polygons is not None:
        assert np.array_equal(
            to_mask_array(cropped.polygons, *array.shape), to_mask_array(whole.polygons, *array.shape)
        )


def _dots(points: list[tuple[int, int]], height: int = HEIGHT, width: int = WIDTH) -> Mask:
    """One mask of single pixels at `points` (x, y), built from its runs."""
    starts = sorted(x * height + y for x, y in points)
    counts, at = [], 0
    for start in starts:
        counts += [start - at, 1]
        at = start + 1
    if at < height * width:
        counts.append(height * width - at)
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return Mask(Rle(height, width, rle["counts"]))


def test_one_mask_of_dots_at_opposite_corners_exports_in_little_memory(tmp_path):
    """Its box is the whole image: cut along its parts, it is traced and written part by part (it took
    371 s and 2.6 GB as COCO, 146 s and 1 GB as LabelMe)."""
    corners = [(0, 0), (WIDTH - 1, HEIGHT - 1), (WIDTH - 1, 0), (0, HEIGHT - 1), (7000, 8000)]
    dataset = Dataset()
    dataset.put_categories([Category(1, "dot")])
    dataset.put_images([Image(1, "big.jpg", WIDTH, HEIGHT)])
    dataset.put_instances([Instance(1, 1, 1, _dots(corners))])
    coco, peak = _export_measuring_peak(dataset, tmp_path)
    assert peak < 50 * 2**20, f"{peak / 2**20:.0f} MiB"
    (annotation,) = coco["annotations"]
    assert annotation["area"] == 5 and len(annotation["segmentation"]) == 5
    again = load_labelme(tmp_path / "labelme" / "big.json").dataset
    (back,) = again.instances.values()
    assert back.geometry.to_rle(HEIGHT, WIDTH).counts == dataset.instances[1].geometry.rle.counts


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masks(), st.booleans(), st.integers(1, 8))
def test_a_mask_cut_along_its_parts_is_traced_as_the_whole_image_is(array, fill_holes, cell):
    """Property, with every mask counted as sparse and small cells (many crops): the crops hold each pixel
    once, and tracing them gives the whole image's IoU, holes, dropped parts and pixels."""
    saved = region.SPARSE_BOX, region.SPARSE_RATIO, region.PART_CELL
    region.SPARSE_BOX, region.SPARSE_RATIO, region.PART_CELL = 0, 0, cell
    try:
        mask = _mask(array)
        counted = np.zeros(array.shape, np.int64)
        for crop in region.mask_crops(mask):
            h, w = crop.mask.shape
            counted[crop.y0 : crop.y0 + h, crop.x0 : crop.x0 + w] += crop.mask
        assert np.array_equal(counted, array)
        whole = mask_to_polygons(array, fill_holes=fill_holes)
        cut = traced_polygons(mask, fill_holes=fill_holes)
    finally:
        region.SPARSE_BOX, region.SPARSE_RATIO, region.PART_CELL = saved
    assert (cut.hole_count, cut.polygons is None) == (whole.hole_count, whole.polygons is None)
    if whole.polygons is not None:
        assert cut.dropped_parts == whole.dropped_parts
        assert cut.iou == pytest.approx(whole.iou, abs=1e-9)
        assert np.array_equal(
            to_mask_array(cut.polygons, *array.shape), to_mask_array(whole.polygons, *array.shape)
        )


@settings(max_examples=60, deadline=None)
@given(masks())
def test_a_dense_mask_is_one_crop_of_its_box_as_its_runs_give_it(array):
    """Property, the usual case (a box mostly filled): one crop, the mask's box as `mask_crop` reads it
    from the runs, built from the pieces `mask_crops` decoded already (no second decode)."""
    mask = _mask(array)
    crops = region.mask_crops(mask)
    if not array.any():
        assert crops == []
        return
    (crop,) = crops
    alone = mask_crop(mask)
    assert (crop.x0, crop.y0) == (alone.x0, alone.y0) and crop.mask.dtype == alone.mask.dtype == np.uint8
    assert np.array_equal(crop.mask, alone.mask) and crop.mask.flags.c_contiguous
