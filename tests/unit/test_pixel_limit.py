"""One pixel limit for import, display and the model: a real 100 Mpx photo opens wherever a COCO or
LabelMe file describing it imports (PIL's own bomb check used to refuse it past 89 Mpx), and an image
past the limit is refused by all of them alike."""

from __future__ import annotations

import pytest
from PIL import Image as PilImage

from annotator.io.errors import DatasetError
from annotator.io.images import MAX_PIXELS, image_size
from annotator.io.project import dataset_from_folder


@pytest.mark.slow
def test_a_100_megapixel_photo_opens_and_one_past_the_limit_is_refused(tmp_path):
    PilImage.new("1", (12000, 8400)).save(tmp_path / "photo.png")  # 100.8 Mpx, 1 bit: a small file
    assert image_size(tmp_path / "photo.png") == (12000, 8400)
    dataset, problems = dataset_from_folder(tmp_path)
    assert problems == [] and len(dataset.images) == 1
    side = int(MAX_PIXELS**0.5) + 1
    PilImage.new("1", (side, side)).save(tmp_path / "huge.png")
    with pytest.raises(DatasetError, match="too large"):
        image_size(tmp_path / "huge.png")
    dataset, problems = dataset_from_folder(tmp_path)
    assert len(dataset.images) == 1 and "huge.png" in problems[0]
