"""Images as users drop them: every format and mode opens and pre-labels, EXIF orientation is honoured in
the exported sizes, odd names work, and broken files are reported by name and skipped, never fatal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
from PIL import Image as PilImage

from annotator.io.project import open_project

W, H = 96, 64


def _folder(root: Path) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Good images (name -> displayed width, height) and bad files, written into `root`."""
    rng = np.random.default_rng(0)
    rgb = PilImage.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
    good: dict[str, tuple[int, int]] = {}
    for name, image in {
        "plain.jpg": rgb, "lossless.png": rgb, "old.bmp": rgb, "scan.tif": rgb, "phone.webp": rgb,
        "gray.png": rgb.convert("L"), "deep.png": PilImage.fromarray((rng.random((H, W)) * 65535).astype(np.uint16)),
        "alpha.png": rgb.convert("RGBA"), "palette.png": rgb.convert("P"), "print.tif": rgb.convert("CMYK"),
        "ünïcödé name with spaces.jpg": rgb,
    }.items():  # fmt: skip
        image.save(root / name)
        good[name] = (W, H)
    exif = PilImage.Exif()
    exif[0x0112] = 6  # stored landscape, displayed portrait
    rgb.save(root / "rotated.jpg", exif=exif.tobytes())
    good["rotated.jpg"] = (H, W)
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.png").write_text("not an image")
    full = root / "cut.jpg"
    rgb.save(full, quality=95)
    full.write_bytes(full.read_bytes()[:200])
    PilImage.new("1", (20000, 20000)).save(root / "bomb.png")
    return good, ["empty.jpg", "notes.png", "cut.jpg", "bomb.png"]


def test_every_format_and_mode_prelabels_and_bad_files_are_named_and_skipped(tmp_path, checkpoint):
    images = tmp_path / "images"
    images.mkdir()
    good, bad = _folder(images)
    out = tmp_path / "out.json"
    command = [sys.executable, "-m", "annotator.cli.main", "prelabel", str(images), "--out", str(out),
               "--weights", str(checkpoint), "--max-size", "96", "--device", "cpu"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, ANNOTATOR_OFFLINE="1"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for name in bad:
        assert name in result.stderr, f"{name} not reported: {result.stderr}"
    written = orjson.loads(out.read_bytes())
    sizes = {i["file_name"]: (i["width"], i["height"]) for i in written["images"]}
    assert sizes == good  # every good image, with its displayed (EXIF-applied) size


def test_opening_such_a_folder_lists_the_bad_files_and_keeps_the_good_ones(tmp_path):
    good, bad = _folder(tmp_path)
    with open_project(tmp_path) as project:
        sizes = {i.file_name: (i.width, i.height) for i in project.dataset.images.values()}
        assert sizes == good
        for name in bad:
            assert any(name in problem for problem in project.problems), name


@pytest.mark.parametrize("command", ["info", "convert"])
def test_cli_on_a_bad_annotation_file_is_one_line_exit_2(tmp_path, command):
    bad = tmp_path / "ann.json"
    bad.write_bytes(
        b'{"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}], "annotations": ['
    )
    args = [str(bad)] + (["--to", "coco", "--out", str(tmp_path / "o.json")] if command == "convert" else [])
    result = subprocess.run([sys.executable, "-m", "annotator.cli.main", command, *args],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ann.json" in lines[0] and "truncated" in lines[0]
    assert not (tmp_path / "o.json").exists()
