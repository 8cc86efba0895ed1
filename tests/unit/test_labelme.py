"""LabelMe import and export, against labelme's and X-AnyLabeling's own example files."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PilImage
from pycocotools.coco import COCO

from annotator.core.geometry import Mask, Polygons, mask_iou, to_mask_array
from annotator.core.model import Category, Dataset, Image, Instance
from annotator.io.coco import save_coco
from annotator.io.errors import DatasetError
from annotator.io.labelme import load_labelme, save_labelme
from conftest import testdata_dir as _testdata

LABELME = _testdata() / "labelme_examples"


def _coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def _masks(dataset: Dataset, image: Image) -> list[np.ndarray]:
    return [to_mask_array(i.geometry, image.height, image.width) for i in dataset.instances_of(image.id)]


def test_instance_segmentation_example_matches_labelmes_own_coco(tmp_path: Path) -> None:
    imported = load_labelme(LABELME / "instance_segmentation/data_annotated")
    save_coco(imported.dataset, tmp_path / "ours.json")
    ours = _coco(tmp_path / "ours.json")
    theirs = _coco(LABELME / "instance_segmentation/data_dataset_coco/annotations.json")
    assert {c["id"]: c["name"] for c in ours.dataset["categories"]} == {
        c["id"]: c["name"] for c in theirs.dataset["categories"]
    }
    their_images = {Path(i["file_name"]).name: i["id"] for i in theirs.dataset["images"]}
    assert sorted(their_images) == sorted(Path(i["file_name"]).name for i in ours.dataset["images"])
    for image in ours.dataset["images"]:
        mine = ours.loadAnns(ours.getAnnIds(imgIds=image["id"]))
        other = theirs.loadAnns(theirs.getAnnIds(imgIds=their_images[Path(image["file_name"]).name]))
        assert sorted(a["category_id"] for a in mine) == sorted(a["category_id"] for a in other)
        for ann in other:  # each of labelme's instances has one of ours of the same class
            best = max(
                mask_iou(ours.annToMask(m), theirs.annToMask(ann))
                for m in mine
                if m["category_id"] == ann["category_id"]
            )
            assert best >= 0.99, (image["file_name"], ann["id"], best)


def test_group_id_joins_parts_and_ignore_is_skipped() -> None:
    imported = load_labelme(LABELME / "instance_segmentation/data_annotated")
    dataset = imported.dataset
    parts = sorted(
        (dataset.images[i.image_id].file_name, dataset.categories[i.category_id].name, len(i.geometry.rings))
        for i in dataset.instances.values()
        if len(i.geometry.rings) > 1
    )
    assert parts == [("2011_000003.jpg", "person", 2), ("2011_000006.jpg", "sofa", 4)]
    assert dataset.categories[0].name == "_background_"  # labels.txt: __ignore__ first, _background_ is 0
    assert sum("__ignore__" in line for line in imported.problems) == 2


def test_group_ids_are_per_label() -> None:
    dataset = load_labelme(_testdata() / "isat_coco_tiny/labelme/000000013923.json").dataset
    shapes = json.loads((_testdata() / "isat_coco_tiny/labelme/000000013923.json").read_text())["shapes"]
    assert len(shapes) == 9 and len(dataset.instances) == 8  # two chair shapes with group_id 1: one instance


def test_every_shape_type(tmp_path: Path) -> None:
    path = LABELME / "primitives/primitives.json"
    imported = load_labelme(path)
    dataset, image = imported.dataset, imported.dataset.images[1]
    by_name = {dataset.categories[i.category_id].name: i for i in dataset.instances.values()}
    assert sorted(by_name) == ["circle", "octagon", "polygon", "rectangle"]
    rectangles = [
        i for i in dataset.instances.values() if dataset.categories[i.category_id].name == "rectangle"
    ]
    assert len(rectangles) == 2
    assert rectangles[0].geometry.rings[0].tolist() == [[32, 35], [132, 35], [132, 135], [32, 135]]
    circle = to_mask_array(by_name["circle"].geometry, image.height, image.width)
    radius = np.hypot(225 - 195, 125 - 84)
    assert abs(circle.sum() - np.pi * radius**2) / (np.pi * radius**2) < 0.03
    # the mask shape: its PNG placed with its top-left corner at points[0]
    shape = next(s for s in json.loads(path.read_text())["shapes"] if s["shape_type"] == "mask")
    crop = np.asarray(PilImage.open(io.BytesIO(base64.b64decode(shape["mask"]))).convert("L")) > 0
    expected = np.zeros((image.height, image.width), bool)
    x0, y0 = (int(v) for v in shape["points"][0])
    expected[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    assert isinstance(by_name["octagon"].geometry, Mask)
    assert np.array_equal(by_name["octagon"].geometry.to_array().astype(bool), expected)
    unsupported = [line for line in imported.problems if "unsupported shape type" in line]
    assert len(unsupported) == 3 and all(
        w in " ".join(unsupported) for w in ("'line'", "'point'", "'linestrip'")
    )


def test_embedded_image_data_with_a_bad_image_path() -> None:
    imported = load_labelme(LABELME / "tutorial/apc2016_obj3.json")
    image = imported.dataset.images[1]
    assert (image.file_name, image.width, image.height) == ("apc2016_obj3.jpg", 1210, 907)
    assert len(imported.dataset.instances) == 4
    assert any("imagePath 'apc2016_obj3.json' is not an image" in line for line in imported.problems)


def test_x_anylabeling_variant() -> None:
    folder = _testdata() / "xanylabeling_examples/examples/segmentation/instance_segmentation/sources"
    dataset = load_labelme(folder).dataset
    assert dataset.images[1].file_name == "cat_dog.webp"
    assert sorted(c.name for c in dataset.categories.values()) == ["cat", "dog"]
    assert len(dataset.instances) == 2  # `visible: false` does not drop a shape
    assert all(
        i.extra["visible"] is False and i.extra["difficult"] is False for i in dataset.instances.values()
    )


def test_images_in_one_folder_beside_the_labelme_folder_are_read_from_there(tmp_path) -> None:
    """labelme's annotations/ beside images/ (imagePath ../images/a.jpg, one file naming its image
    alone): the images' folder is the root, so `train` and `convert` find them (they could not)."""
    imported = load_labelme(_testdata() / "isat_coco_tiny/labelme")
    names = sorted(i.file_name for i in imported.dataset.images.values())
    assert imported.root == _testdata() / "isat_coco_tiny/images"
    assert names[0] == "000000013923.jpg" and all((imported.root / n).is_file() for n in names)
    assert not any("reaches outside" in line for line in imported.problems)
    assert str(imported.root) in imported.root_note and imported.root_note not in imported.problems
    # images in more than one place, or some beside their JSON: each outside path is noted, as before
    mixed = tmp_path / "mixed"
    shutil.copytree(_testdata() / "isat_coco_tiny/labelme", mixed / "labelme")
    shutil.copytree(_testdata() / "isat_coco_tiny/images", mixed / "images")
    shutil.copy(mixed / "images/000000549930.jpg", mixed / "labelme")  # one beside its JSON
    noted = load_labelme(mixed / "labelme")
    assert noted.root == mixed / "labelme"
    assert sum("reaches outside" in line for line in noted.problems) == 4
    # seen from the parent folder the same paths are inside, and the COCO file beside them is reported
    parent = load_labelme(_testdata() / "isat_coco_tiny")
    assert sorted(i.file_name for i in parent.dataset.images.values())[0] == "images/000000013923.jpg"
    assert "coco_tiny.json: not a LabelMe file; skipped" in parent.problems


def _write(path: Path, shapes: list[dict], **fields: object) -> Path:
    data = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": "a.jpg", "imageData": None}
    data.update({"imageHeight": 20, "imageWidth": 30}, **fields)
    path.write_text(json.dumps(data))
    return path


def _polygon(label: str, points: list, group_id: object = None, shape_type: str = "polygon") -> dict:
    return {"label": label, "points": points, "group_id": group_id, "shape_type": shape_type, "flags": {}}


def _mask_shape(label: str, mask: np.ndarray, x: int, y: int, group_id: object = None) -> dict:
    buffer = io.BytesIO()
    PilImage.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG")
    shape = _polygon(label, [[x, y], [x + mask.shape[1] - 1, y + mask.shape[0] - 1]], group_id, "mask")
    shape["mask"] = base64.b64encode(buffer.getvalue()).decode()
    return shape


def test_polygon_and_mask_parts_make_one_mask(tmp_path: Path) -> None:
    square = np.ones((4, 4), bool)
    shapes = [_polygon("a", [[1, 1], [8, 1], [8, 8], [1, 8]], 3), _mask_shape("a", square, 20, 10, 3)]
    dataset = load_labelme(_write(tmp_path / "x.json", shapes)).dataset
    (inst,) = dataset.instances.values()
    assert isinstance(inst.geometry, Mask)
    mask = inst.geometry.to_array()
    assert mask[10:14, 20:24].all() and mask[2:8, 2:8].all() and mask.sum() == 16 + 49


def test_bad_shapes_are_reported_and_the_rest_kept(tmp_path: Path) -> None:
    shapes = [
        _polygon("ok", [[1, 1], [8, 1], [8, 8]]),
        _polygon("two points", [[1, 1], [8, 1]]),
        _polygon("nan", [[1, 1], [8, float("nan")], [8, 8]]),
        _polygon("bad points", "abc"),
        {"label": 5, "points": []},
        _mask_shape("empty", np.zeros((3, 3), bool), 2, 2),
        {**_polygon("not png", [[1, 1], [2, 2]], shape_type="mask"), "mask": "aGVsbG8="},
    ]
    imported = load_labelme(_write(tmp_path / "x.json", shapes))
    assert [c.name for c in imported.dataset.categories.values()] == ["ok"]
    text = "\n".join(imported.problems)
    for expected in (
        "shape 1 ('two points'): a polygon needs at least 3 points",
        "shape 2 ('nan'): points have a NaN or infinite coordinate",
        "shape 3 ('bad points'): points must be a list",
        "shape 4: not a shape with a string label",
        "shape 5 ('empty'): the mask is empty",
        "shape 6 ('not png'): the mask is not a base64-encoded image",
    ):
        assert "x.json: " + expected in text, text


def test_unusable_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DatasetError, match="bad.json: not valid JSON"):
        load_labelme(tmp_path / "bad.json")
    no_size = _write(tmp_path / "nosize.json", [], imageHeight=None, imageWidth=None)
    with pytest.raises(DatasetError, match="no image size"):
        load_labelme(no_size)
    with pytest.raises(DatasetError, match="not a LabelMe file"):
        load_labelme(_testdata() / "torchvision_gallery_coco/instances.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no JSON files"):
        load_labelme(empty)


def test_a_folder_keeps_the_good_files(tmp_path: Path) -> None:
    _write(tmp_path / "a.json", [_polygon("ok", [[1, 1], [8, 1], [8, 8]])])
    _write(tmp_path / "b.json", [], imagePath="a.jpg")  # the same image again
    (tmp_path / "c.json").write_text("[1, 2")
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub" / "d.json", [], imagePath="../../outside.jpg")
    imported = load_labelme(tmp_path)
    assert sorted(i.file_name for i in imported.dataset.images.values()) == ["a.jpg", "sub/outside.jpg"]
    text = "\n".join(imported.problems)
    assert "b.json: image 'a.jpg' is already described by another file; skipped" in text
    assert "c.json: not valid JSON" in text
    assert "sub/d.json: file_name '../outside.jpg' reaches outside" in text


def test_export_round_trips_polygons_masks_and_parts(tmp_path: Path) -> None:
    ring = np.zeros((20, 30), np.uint8)
    ring[2:15, 2:15] = 1
    ring[5:9, 5:9] = 0
    dataset = Dataset()
    dataset.put_images([Image(1, "sub/a.jpg", 30, 20)])
    dataset.put_categories([Category(4, "thing")])
    two_parts = Polygons.from_flat([[16, 1, 20, 1, 20, 5], [22, 10, 28, 10, 28, 18, 22, 18]])
    dataset.put_instances([Instance(1, 1, 4, Mask.from_array(ring), z=0), Instance(2, 1, 4, two_parts, z=1)])
    assert save_labelme(dataset, tmp_path / "out", images_root=tmp_path / "images").notes == []
    written = json.loads((tmp_path / "out/sub/a.json").read_text())
    assert written["imagePath"] == "../../images/sub/a.jpg"
    assert [s["shape_type"] for s in written["shapes"]] == ["mask", "polygon", "polygon"]
    assert written["shapes"][0]["points"] == [[2.0, 2.0], [14.0, 14.0]]  # cropped to the bbox
    assert written["shapes"][1]["group_id"] == written["shapes"][2]["group_id"] is not None

    back = load_labelme(tmp_path / "out").dataset
    (image,) = back.images.values()
    assert image.file_name == "sub/a.jpg"  # imagePath leaves the folder: the image beside the JSON
    assert [m.tolist() for m in _masks(back, image)] == [
        m.tolist() for m in _masks(dataset, dataset.images[1])
    ]


def test_four_point_rectangles_and_circles_are_polygons(tmp_path: Path) -> None:
    shapes = [
        _polygon(
            "box", [[1, 1], [9, 2], [8, 9], [0, 8]], shape_type="rectangle"
        ),  # some tools store 4 corners
        _polygon("ball", [[15, 10], [15, 15]], shape_type="circle"),
    ]
    dataset = load_labelme(_write(tmp_path / "x.json", shapes)).dataset
    box, ball = sorted(dataset.instances.values(), key=lambda i: i.category_id)
    assert box.geometry.rings[0].tolist() == [[1, 1], [9, 2], [8, 9], [0, 8]]
    assert len(ball.geometry.rings[0]) >= 12
    assert np.allclose(np.hypot(*(ball.geometry.rings[0] - [15, 10]).T), 5)
