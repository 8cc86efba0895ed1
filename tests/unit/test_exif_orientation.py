"""One reading of the EXIF orientation for the recorded size and for the pixels, whatever the tag holds.

An orientation stored as text ("6") used to swap the recorded width and height while the pixels were
not rotated, so masks and exports got the wrong size. The generator writes the tag raw, with every
type the TIFF format allows, and checks that the size read from the header is the decoded size.
"""

from __future__ import annotations

import base64
import io
import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage

from annotator.io.images import image_size, load_rgb
from annotator.io.labelme import load_labelme

# (TIFF type, count, value bytes padded to 4)
TAG_VALUES = st.one_of(
    st.integers(0, 12).map(lambda v: (3, 1, struct.pack(">HH", v, 0))),  # SHORT, the right type
    st.sampled_from([b"6\x00", b"8\x00", b"3\x00", b"x\x00"]).map(lambda t: (2, 2, t + b"\x00\x00")),  # ASCII
    st.integers(0, 9).map(lambda v: (4, 1, struct.pack(">I", v))),  # LONG
    st.integers(0, 9).map(lambda v: (7, 1, bytes([v, 0, 0, 0]))),  # UNDEFINED
    st.just((3, 2, struct.pack(">HH", 6, 6))),  # two SHORTs
)


def _jpeg(width: int, height: int, tag: tuple[int, int, bytes]) -> bytes:
    kind, count, value = tag
    ifd = struct.pack(">H", 1) + struct.pack(">HHI", 0x0112, kind, count) + value + struct.pack(">I", 0)
    exif = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    buffer = io.BytesIO()
    PilImage.new("RGB", (width, height), "white").save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tag=TAG_VALUES, width=st.integers(1, 40), height=st.integers(1, 40))
@pytest.mark.filterwarnings("ignore:Metadata Warning")
def test_the_recorded_size_is_the_size_of_the_pixels(tmp_path, tag, width, height):
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg(width, height, tag))
    pixels = load_rgb(path)
    assert image_size(path) == (pixels.shape[1], pixels.shape[0])


def test_a_real_orientation_still_rotates_and_text_does_not(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg(30, 10, (3, 1, struct.pack(">HH", 6, 0))))
    assert image_size(path) == (10, 30) and load_rgb(path).shape[:2] == (30, 10)
    path.write_bytes(_jpeg(30, 10, (2, 2, b"6\x00\x00\x00")))
    assert image_size(path) == (30, 10) and load_rgb(path).shape[:2] == (10, 30)


def test_labelme_embedded_images_follow_the_same_reading(tmp_path):
    for tag, size in [((2, 2, b"6\x00\x00\x00"), (30, 10)), ((3, 1, struct.pack(">HH", 6, 0)), (10, 30))]:
        data = {
            "shapes": [],
            "imagePath": "x.jpg",
            "imageData": base64.b64encode(_jpeg(30, 10, tag)).decode(),
        }
        (tmp_path / "x.json").write_text(json.dumps(data))
        image = next(iter(load_labelme(tmp_path / "x.json").dataset.images.values()))
        assert (image.width, image.height) == size
