"""Existing labels read for opening and importing: COCO files with scores as predictions, COCO results
lists against their dataset, YOLO segmentation labels, and `read_annotations` choosing among them."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from annotator.core.annotation_merge import merge_edit
from annotator.core.geometry import mask_iou, to_mask_array
from annotator.core.model import Dataset, ImageStatus, Review, Source, SourceKind
from annotator.core.rules import is_accepted, is_unreviewed_prediction
from annotator.io.annotation_files import LabelFormat, read_annotations
from annotator.io.coco import load_coco, save_coco
from annotator.io.errors import DatasetError
from annotator.io.project import dataset_from_folder
from annotator.io.results_file import NeedsDatasetError, load_results
from annotator.io.yolo_read import load_yolo
from conftest import testdata_dir as _testdata
from perturbed import perturbed_predictions

ISAT = _testdata() / "isat_coco_tiny"
COCO_TINY = ISAT / "coco_tiny.json"


def _coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


@pytest.fixture(scope="module")
def results() -> list[dict]:
    return perturbed_predictions(_coco(COCO_TINY), seed=3)


# -- COCO files whose annotations carry a score --------------------------------------------------
def test_annotations_with_a_score_are_unreviewed_predictions(tmp_path: Path) -> None:
    data = json.loads(COCO_TINY.read_text())
    for k, ann in enumerate(data["annotations"]):
        if k % 2:
            ann["score"] = k / 100
    path = tmp_path / "detector_out.json"
    path.write_text(json.dumps(data))
    dataset = load_coco(path).dataset
    by_id = {a["id"]: a for a in data["annotations"]}
    for inst in dataset.instances.values():
        score = by_id[inst.id].get("score")
        if score is None:
            assert inst.source.kind is SourceKind.MANUAL and is_accepted(inst)
        else:
            assert inst.source == Source.from_model("detector_out", score)
            assert inst.review is Review.UNREVIEWED and is_unreviewed_prediction(inst)
    with_predictions = {i.image_id for i in dataset.instances.values() if i.source.is_model}
    assert {i.id for i in dataset.images.values() if i.status is ImageStatus.PRELABELED} == with_predictions


def test_mmdetection_sample_with_scores_opens_as_predictions() -> None:
    dataset = load_coco(_testdata() / "mmdetection_testdata/coco_sample.json").dataset
    assert dataset.instances and all(is_unreviewed_prediction(i) for i in dataset.instances.values())
    assert all(i.score is not None for i in dataset.instances.values())


def test_our_own_fields_win_over_a_plain_score(tmp_path: Path) -> None:
    """An exported project (scores included) keeps who made each instance and how it was judged."""
    dataset = load_coco(COCO_TINY).dataset
    first = min(dataset.instances)
    accepted = dataset.instances[first].with_changes(
        source=Source.from_model("m", 0.9), review=Review.ACCEPTED
    )
    dataset.put_instances([accepted])
    save_coco(dataset, tmp_path / "out.json", include_scores=True)
    again = load_coco(tmp_path / "out.json").dataset
    assert again.instances[first].review is Review.ACCEPTED
    assert sum(i.source.is_model for i in again.instances.values()) == 1


# -- results lists -------------------------------------------------------------------------------
def test_results_list_on_the_images_of_its_coco_file(tmp_path: Path, results) -> None:
    stray = {**results[0], "image_id": 999}
    path = tmp_path / "res.json"
    loaded = load_results(path, [*results, stray], reference=COCO_TINY)
    dataset = loaded.dataset
    gt = _coco(COCO_TINY)
    assert sorted(i.file_name for i in dataset.images.values()) == sorted(
        i["file_name"] for i in gt.dataset["images"]
    )
    assert len(dataset.instances) == len(results)
    assert all(is_unreviewed_prediction(i) for i in dataset.instances.values())
    assert sorted(i.score for i in dataset.instances.values()) == sorted(r["score"] for r in results)
    names = {c["id"]: c["name"] for c in gt.dataset["categories"]}
    assert all(names[c.id] == c.name for c in dataset.categories.values())  # the file's names
    assert loaded.root == ISAT / "images" and loaded.reference == COCO_TINY
    assert any("not in coco_tiny.json" in line for line in loaded.problems)
    # the masks are the results' own
    first = results[0]
    image = next(i for i in dataset.images.values() if i.id == first["image_id"])
    mask = to_mask_array(dataset.instances_of(image.id)[0].geometry, image.height, image.width)
    assert mask.sum() > 0


def test_results_list_on_a_folder_of_images_named_by_id(tmp_path: Path, results) -> None:
    loaded = load_results(tmp_path / "res.json", results, reference=ISAT / "images")
    dataset = loaded.dataset
    assert {i.id: i.file_name for i in dataset.images.values()} == {
        13923: "000000013923.jpg", 76261: "000000076261.jpg", 83540: "000000083540.jpg",
        100723: "000000100723.jpg", 549930: "000000549930.jpg",
    }  # fmt: skip
    assert dataset.images[13923].width == 640 and len(dataset.instances) == len(results)
    assert all(c.name == f"class {c.id}" for c in dataset.categories.values())  # no names without a file


def test_results_list_naming_no_image_of_the_dataset_is_refused(tmp_path: Path, results) -> None:
    stray = [{**r, "image_id": 5} for r in results[:3]]
    with pytest.raises(DatasetError, match="none of its image ids"):
        load_results(tmp_path / "res.json", stray, reference=COCO_TINY)


@pytest.mark.parametrize("image_id", [[1], "13923", None, True])
def test_results_list_with_a_bad_image_id_names_the_detection(tmp_path: Path, results, image_id) -> None:
    bad = [*results[:2], {**results[2], "image_id": image_id}]
    for reference in (COCO_TINY, ISAT / "images"):
        with pytest.raises(DatasetError, match="prediction 2: image_id must be an integer"):
            load_results(tmp_path / "res.json", bad, reference=reference)


def test_results_list_needs_its_dataset(tmp_path: Path, results) -> None:
    path = tmp_path / "res.json"
    path.write_text(json.dumps(results))
    with pytest.raises(NeedsDatasetError, match="names its images only by id"):
        read_annotations(path, Dataset())


# -- YOLO segmentation ---------------------------------------------------------------------------
def _yolo_copy(tmp_path: Path, *, names: bool) -> Path:
    labels = tmp_path / "labels"
    shutil.copytree(ISAT / "yolo", labels)
    if names:  # JSON2YOLO's class index: the position in COCO's sorted category ids
        categories = sorted(json.loads(COCO_TINY.read_text())["categories"], key=lambda c: c["id"])
        (tmp_path / "classes.txt").write_text("".join(c["name"] + "\n" for c in categories))
    return labels


def test_yolo_labels_read_against_the_project_images(tmp_path: Path) -> None:
    images, _ = dataset_from_folder(ISAT / "images")
    loaded = load_yolo(_yolo_copy(tmp_path, names=True), images.images.values())
    dataset = loaded.dataset
    assert len(dataset.instances) == 61 and not loaded.unmatched and not loaded.problems
    gt = _coco(COCO_TINY)
    gt_by_name = {i["file_name"]: i["id"] for i in gt.dataset["images"]}
    for image in dataset.images.values():
        wanted = [
            a for a in gt.loadAnns(gt.getAnnIds(imgIds=gt_by_name[image.file_name])) if not a["iscrowd"]
        ]
        found = dataset.instances_of(image.id)
        names = sorted(dataset.categories[i.category_id].name for i in found)
        assert names == sorted(gt.cats[a["category_id"]]["name"] for a in wanted)
        for ann in wanted:  # JSON2YOLO keeps single-part polygons as they are (to 6 decimals)
            if len(ann["segmentation"]) == 1 and ann["area"] > 500:
                target = gt.annToMask(ann)
                best = max(
                    mask_iou(to_mask_array(i.geometry, image.height, image.width), target) for i in found
                )
                assert best > 0.97, (image.file_name, ann["id"], best)


def test_yolo_without_names_odd_lines_and_scores(tmp_path: Path) -> None:
    images, _ = dataset_from_folder(ISAT / "images")
    labels = _yolo_copy(tmp_path, names=False)
    (labels / "000000076261.txt").write_text(
        "14 0.1 0.1 0.2 0.1 0.2 0.2 0.9\n"  # a polygon and a confidence: a prediction
        "3 0.5 0.5 0.2 0.2\n"  # a box
        "7 0.1 0.1 0.2\n"  # unusable
        "x 0.1\n"
    )
    (labels / "nothing_like_it.txt").write_text("0 0.1 0.1 0.2 0.1 0.2 0.2\n")
    loaded = load_yolo(labels, images.images.values())
    image = next(i for i in loaded.dataset.images.values() if i.file_name == "000000076261.jpg")
    found = {i.category_id: i for i in loaded.dataset.instances_of(image.id)}
    assert set(found) == {15, 4}  # class index + 1
    assert found[15].source.score == pytest.approx(0.9) and found[15].review is Review.UNREVIEWED
    assert found[4].geometry.bbox(image.height, image.width) == pytest.approx(
        (0.4 * image.width, 0.4 * image.height, 0.2 * image.width, 0.2 * image.height), abs=1
    )
    assert loaded.dataset.categories[15].name == "14"
    assert loaded.unmatched == ["nothing_like_it.txt"]
    text = "\n".join(loaded.problems)
    assert "line 3" in text and "line 4" in text and "named by their index" in text
    # into a project that has classes: index i is its i-th class in id order, as its YOLO export
    # numbers them (an import into a COCO project made classes "3" and "14" beside "cat" and "bus")
    known = [f"class-{i}" for i in range(10)]
    named = load_yolo(labels, images.images.values(), known_classes=known)
    names = {named.dataset.categories[i.category_id].name for i in named.dataset.instances.values()}
    assert {"class-3", "14"} <= names and "3" not in names  # 14 is past the project's classes
    text = "\n".join(named.problems)
    assert "the project's i-th class" in text and "14, " in text and "have no name" in text


def test_yolo_data_yaml_names_and_ultralytics_layout(tmp_path: Path) -> None:
    (tmp_path / "images" / "val").mkdir(parents=True)
    shutil.copy(ISAT / "images/000000076261.jpg", tmp_path / "images/val")
    (tmp_path / "labels" / "val").mkdir(parents=True)
    shutil.copy(ISAT / "yolo/000000076261.txt", tmp_path / "labels/val")
    (tmp_path / "data.yaml").write_text("path: .\nnames:\n  14: bird\n")
    images, _ = dataset_from_folder(tmp_path)
    found = read_annotations(tmp_path / "data.yaml", images)
    assert found.format is LabelFormat.YOLO
    assert [c.name for c in found.dataset.categories.values()] == ["bird"]
    assert [i.file_name for i in found.dataset.images.values()] == ["images/val/000000076261.jpg"]


# -- choosing the reader -------------------------------------------------------------------------
def test_read_annotations_knows_each_format(tmp_path: Path) -> None:
    project, _ = dataset_from_folder(ISAT / "images")
    assert read_annotations(COCO_TINY, project).format is LabelFormat.COCO
    assert read_annotations(ISAT / "labelme", project).format is LabelFormat.LABELME
    assert read_annotations(ISAT / "labelme/000000076261.json", project).format is LabelFormat.LABELME
    assert read_annotations(_yolo_copy(tmp_path, names=True), project).format is LabelFormat.YOLO


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("cut.json", '{"images": [{"id": 1', "truncated"),
        ("notes.csv", "a,b\n", "not an annotation file"),
        ("list.json", "[1, 2]", "not an instances file"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, name, content, words) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetError) as error:
        read_annotations(path, Dataset())
    assert str(path) in str(error.value) and words in str(error.value)


def test_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no LabelMe JSON or YOLO label"):
        read_annotations(tmp_path, Dataset())


def test_isat_labelme_files_find_their_images_by_base_name() -> None:
    """ISAT's LabelMe files point at `../images/`: outside their folder, so each names its image by its
    base name, which the project's `images/` folder has once."""
    project, _ = dataset_from_folder(ISAT / "images")
    found = read_annotations(ISAT / "labelme", project)
    merge = merge_edit(project, found.dataset)
    assert merge.report.images == 5 and not merge.report.unmatched
    assert merge.report.instances == len(found.dataset.instances) > 0
    # labelme's usual layout, so no note on it (a reviewer read "reaches outside the images folder"
    # as a problem)
    assert not any("outside" in line for line in found.problems)


@pytest.mark.parametrize("name", ["x.json", "data.yaml", "labels.txt"])
def test_importing_a_named_pipe_says_it_is_one(tmp_path, name):
    import os

    fifo = tmp_path / name
    os.mkfifo(fifo)
    with pytest.raises(DatasetError, match="named pipe") as caught:
        read_annotations(fifo, Dataset())
    assert caught.value.path == fifo
    with pytest.raises(DatasetError, match="no such file or folder"):
        read_annotations(tmp_path / "missing.json", Dataset())
