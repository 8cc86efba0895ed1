"""Image loading: every format and mode of SPEC section 3 becomes displayed-size RGB; broken files fail clearly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PilImage

from annotator.io.errors import DatasetError
from annotator.io.images import image_size, list_images, load_rgb


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp", ".tif", ".webp"])
def test_formats_load_as_rgb(tmp_path, suffix):
    path = tmp_path / f"x{suffix}"
    PilImage.new("RGB", (30, 20), (200, 100, 50)).save(path)
    array = load_rgb(path)
    assert array.shape == (20, 30, 3) and array.dtype == np.uint8
    assert abs(int(array[10, 15, 0]) - 200) <= 3
    assert image_size(path) == (30, 20)


def test_exif_orientation_is_applied_to_size_and_pixels(tmp_path):
    image = PilImage.new("RGB", (40, 10), (0, 0, 0))
    image.putpixel((0, 0), (255, 255, 255))
    exif = PilImage.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes(), quality=100)
    assert image_size(path) == (10, 40)
    array = load_rgb(path)
    assert array.shape == (40, 10, 3)
    assert array[0, -1].mean() > 200  # the top-left pixel went to the top-right


@pytest.mark.parametrize(
    ("mode", "value"),
    [
        ("L", 128),
        ("I;16", 40000),
        ("RGBA", (10, 20, 30, 255)),
        ("P", 3),
        ("CMYK", (0, 0, 0, 0)),
        ("1", 1),
        ("LA", (50, 255)),
    ],
)
def test_modes_become_rgb(tmp_path, mode, value):
    image = PilImage.new(mode, (8, 6), value)
    suffix = ".tif" if mode in ("CMYK", "I;16") else ".png"
    path = tmp_path / f"m{suffix}"
    image.save(path)
    array = load_rgb(path)
    assert array.shape == (6, 8, 3) and array.dtype == np.uint8


def test_sixteen_bit_keeps_contrast(tmp_path):
    values = np.array([[0, 65535], [1000, 30000]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    PilImage.fromarray(values).save(path)
    array = load_rgb(path)
    assert array[0, 0, 0] == 0 and array[0, 1, 0] == 255


def test_transparent_pixels_show_over_white(tmp_path):
    path = tmp_path / "alpha.png"
    PilImage.new("RGBA", (4, 4), (0, 0, 0, 0)).save(path)
    assert load_rgb(path)[0, 0].tolist() == [255, 255, 255]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty"), (b"hello, not an image", "not an image"), (None, "broken or truncated")],
)
def test_broken_files_raise_a_clear_error(tmp_path, content, reason):
    path = tmp_path / "bad ünï.jpg"
    if content is None:  # a real JPEG cut in half
        PilImage.new("RGB", (200, 200), (1, 2, 3)).save(path, quality=95)
        content = path.read_bytes()[:300]
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=reason) as info:
        load_rgb(path)
    assert "bad ünï.jpg" in str(info.value)


def test_decompression_bomb_is_refused_without_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    PilImage.new("1", (20000, 20000)).save(path)  # 400 megapixels, a few kB on disk
    with pytest.raises(DatasetError, match="too large"):
        image_size(path)


def test_list_images_is_natural_order_and_skips_hidden(tmp_path):
    for name in ["img10.png", "img2.png", "notes.txt", ".hidden.png"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.JPG").write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert found == ["img2.png", "img10.png", "sub/a.JPG"]
