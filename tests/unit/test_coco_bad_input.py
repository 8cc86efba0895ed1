"""Bad COCO input (SPEC section 8): a whole-file problem raises DatasetError naming the file; a bad item
is skipped and reported by name ("annotation 17: ...") while every valid item is kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.io.coco import load_coco
from annotator.io.errors import DatasetError

GOOD_POLYGON = [[1.0, 1.0, 8.0, 1.0, 8.0, 6.0, 1.0, 6.0]]


def _dataset(annotations: list[dict], images: list[dict] | None = None) -> dict:
    return {
        "info": {"description": "test"},
        "images": images or [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 8}],
        "categories": [{"id": 3, "name": "cat"}],
        "annotations": annotations,
    }


def _ann(ann_id: int, **changes: object) -> dict:
    ann = {"id": ann_id, "image_id": 1, "category_id": 3, "segmentation": GOOD_POLYGON, "iscrowd": 0}
    ann.update(changes)
    return ann


def _write(tmp_path: Path, content: object, *, raw: str | None = None) -> Path:
    path = tmp_path / "in.json"
    path.write_text(raw if raw is not None else json.dumps(content))
    return path


def _load_with_one_bad(tmp_path: Path, bad: dict) -> tuple[set[int], list[str]]:
    imported = load_coco(_write(tmp_path, _dataset([_ann(1), bad, _ann(2)])))
    return set(imported.dataset.instances), imported.problems


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("this is not json", "not valid JSON"),
        ('{"images": [{"id": 1, "file_name": "a.jpg", "wid', "truncated"),
        ("", "empty"),
        ("[1, 2, 3]", "not an instances file"),
        ('[{"image_id": 1, "category_id": 1, "score": 0.5}]', "results list"),
        ('"a string"', "not an instances file"),
        ('{"annotations": []}', "no 'images' list"),
        ('{"images": {}, "annotations": []}', "no 'images' list"),
        ('{"images": [], "annotations": {}}', "'annotations' must be a list"),
        ('{"images": [], "annotations": [{"image_id": 1, "segments_info": []}]}', "panoptic"),
        ('{"images": [], "annotations": [{"id": 1, "image_id": 1, "caption": "hi"}]}', "captions"),
        ('{"version": "5", "shapes": [], "imagePath": "a.jpg"}', "LabelMe"),
    ],
)
def test_unusable_files_raise_one_clear_error(tmp_path: Path, raw: str, reason: str) -> None:
    path = _write(tmp_path, None, raw=raw)
    with pytest.raises(DatasetError) as caught:
        load_coco(path)
    assert caught.value.path == path and reason in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("head", "said"),
    [
        (b"SQLite format 3\x00", "an annotator project (SQLite)"),  # eval PROJECT said "surrogates"
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xff\xd8\xff\xe0", "a JPEG image"),
        (b"\x00\x01\x02garbage", "binary data"),
    ],
)
def test_a_file_that_is_not_text_says_what_it_is(tmp_path: Path, head: bytes, said: str) -> None:
    path = tmp_path / "data.json"
    path.write_bytes(head + bytes(range(256)) * 4)
    with pytest.raises(DatasetError) as caught:
        load_coco(path)
    assert f"not a JSON file: this is {said}" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_coco(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (_ann(17, image_id=99), "points at missing image 99"),
        (_ann(17, category_id=7), "points at missing category 7"),
        (_ann(17, category_id="3"), "points at missing category '3'"),
        (_ann(17, segmentation="polygon"), "segmentation must be polygons or an RLE"),
        (_ann(17, segmentation=[[1, 1, 5, 5]]), "needs an even count >= 6"),
        (_ann(17, segmentation=[[1, 1, 5, 5, 6]]), "needs an even count >= 6"),
        (_ann(17, segmentation=[["a", 1, 5, 5, 6, 6]]), "not a list of numbers"),
        (_ann(17, segmentation={"size": [5, 5], "counts": [25]}), "does not match the image (8x10)"),
        (_ann(17, segmentation={"size": [8, 10], "counts": [10, 5]}), "RLE counts sum to 15"),
        (_ann(17, segmentation={"size": [8, 10], "counts": "#@!"}), "RLE"),
        (_ann(17, segmentation={"size": [8, 10], "counts": 5}), "counts must be a string or a list"),
        (_ann(17, segmentation=[], bbox=None), "no segmentation and no usable bbox"),
        (_ann(17, segmentation=[], bbox=[1, 1, 0, 3]), "empty or not finite"),
        (_ann(17, iscrowd="yes"), "iscrowd must be 0 or 1"),
    ],
)
def test_a_bad_annotation_is_skipped_and_named(tmp_path: Path, bad: dict, reason: str) -> None:
    kept, problems = _load_with_one_bad(tmp_path, bad)
    assert kept == {1, 2}
    assert any(line.startswith("annotation 17: ") and reason in line for line in problems), problems


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_coordinates_skip_the_annotation(tmp_path: Path, value: str) -> None:
    text = json.dumps(_dataset([_ann(1), _ann(17, segmentation=[[1, 1, 5, 5, 0.5, 0]])]))
    path = _write(tmp_path, None, raw=text.replace("0.5", value))
    imported = load_coco(path)
    assert set(imported.dataset.instances) == {1}
    assert any("annotation 17: " in line and "NaN or infinite" in line for line in imported.problems)


def test_a_bad_part_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    ann = _ann(17, segmentation=[GOOD_POLYGON[0], [1, 1, 2, 2]])
    imported = load_coco(_write(tmp_path, _dataset([ann])))
    assert len(imported.dataset.instances[17].geometry.rings) == 1
    assert any("annotation 17: polygon part 1 has 4 values" in line for line in imported.problems)


def test_wrong_types_on_images_and_categories(tmp_path: Path) -> None:
    data = _dataset([_ann(1)])
    data["images"] += [
        {"id": "two", "file_name": "b.jpg", "width": 10, "height": 8},
        {"id": 3, "file_name": "c.jpg", "width": "10", "height": 8},
        "not an image",
    ]
    data["categories"] += [{"id": 3, "name": "again"}, {"name": "no id"}, {"id": 5, "name": 5}]
    imported = load_coco(_write(tmp_path, data))
    assert set(imported.dataset.images) == {1}
    assert set(imported.dataset.categories) == {3, 5}
    text = "\n".join(imported.problems)
    for expected in (
        "image at index 1: id must be an integer",
        "image 3: width and height must be positive integers",
        "image at index 3: not an object",
        "category 3: duplicate category id",
        "category at index 2: needs an integer id",
        "category 5: name must be a string",
    ):
        assert expected in text


@pytest.mark.parametrize("file_name", ["../outside.jpg", "a/../../outside.jpg", "/etc/passwd", "C:\\x.jpg"])
def test_file_names_outside_the_root_are_refused(tmp_path: Path, file_name: str) -> None:
    images = [
        {"id": 1, "file_name": "ok/a.jpg", "width": 10, "height": 8},
        {"id": 2, "file_name": file_name, "width": 10, "height": 8},
    ]
    imported = load_coco(_write(tmp_path, _dataset([_ann(1), _ann(5, image_id=2)], images)))
    assert set(imported.dataset.images) == {1}
    assert imported.dataset.images[1].file_name == "ok/a.jpg"
    assert set(imported.dataset.instances) == {1}
    text = "\n".join(imported.problems)
    assert "image 2: " in text and ("absolute" in text or "outside" in text)
    assert "image 2: 1 annotation dropped with the image" in text


def test_duplicate_image_ids_are_fatal(tmp_path: Path) -> None:
    images = [{"id": 1, "file_name": n, "width": 10, "height": 8} for n in ("a.jpg", "b.jpg")]
    with pytest.raises(DatasetError, match="image 1: duplicate image id"):
        load_coco(_write(tmp_path, _dataset([_ann(1)], images)))


def test_duplicate_and_missing_annotation_ids_keep_every_annotation(tmp_path: Path) -> None:
    missing_id = _ann(0)
    del missing_id["id"]
    imported = load_coco(_write(tmp_path, _dataset([_ann(4), _ann(4), missing_id])))
    assert sorted(imported.dataset.instances) == [4, 5, 6]
    text = "\n".join(imported.problems)
    assert "annotation 4: duplicate id; the later one is kept as 5" in text
    assert "annotation at index 2: has no id; given id 6" in text


def test_many_identical_notes_become_one_line(tmp_path: Path) -> None:
    boxes = [_ann(i, segmentation=[], bbox=[1, 1, 3, 3]) for i in range(1, 51)]
    imported = load_coco(_write(tmp_path, _dataset(boxes)))
    assert len(imported.dataset.instances) == 50
    assert imported.problems == [
        "50 items: has no segmentation: kept as a polygon of its bbox (annotation 1, annotation 2, annotation 3, ...)"
    ]
