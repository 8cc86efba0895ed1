"""file_name values can never reach outside the images folder, by name or through a symlink."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.io.errors import DatasetError
from annotator.io.paths import normalise_file_name, resolve_inside


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "../x.jpg", "a/../../x.jpg", "C:\\x.jpg", "\\\\server\\x.jpg", "", "a\x00b.jpg"]
)
def test_names_that_leave_the_root_are_refused(name):
    with pytest.raises(DatasetError):
        normalise_file_name(name, source=Path("f.json"), item="image 1")


@pytest.mark.parametrize(
    ("name", "expected"), [("a\\b.jpg", "a/b.jpg"), ("./a//b.jpg", "a/b.jpg"), ("a/./b.jpg", "a/b.jpg")]
)
def test_harmless_names_are_normalised(name, expected):
    assert normalise_file_name(name, source=Path("f.json"), item="image 1") == expected


def test_a_symlink_cannot_lead_outside(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"x")
    (root / "link.jpg").symlink_to(outside)
    (root / "ok.jpg").write_bytes(b"x")
    assert resolve_inside(root, "ok.jpg") == (root / "ok.jpg").resolve()
    with pytest.raises(DatasetError, match="outside"):
        resolve_inside(root, "link.jpg")
