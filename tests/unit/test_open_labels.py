"""Opening existing labels as a project (io.project): a LabelMe folder or file, a COCO file read once,
a results list with its dataset; a project made before its folder's LabelMe files were read says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image as PilImage

from annotator.io.errors import DatasetError
from annotator.io.project import open_project
from annotator.io.results_file import NeedsDatasetError
from conftest import testdata_dir as _testdata

LABELME = _testdata() / "labelme_examples"
ISAT = _testdata() / "isat_coco_tiny"


def _labelme_copy(tmp_path: Path) -> Path:
    shutil.copytree(LABELME / "instance_segmentation", tmp_path / "seg")
    return tmp_path / "seg/data_annotated"


def test_labelme_folder_opens_with_its_instances_saved(tmp_path: Path) -> None:
    folder = _labelme_copy(tmp_path)
    with open_project(folder) as project:
        assert (len(project.dataset.images), len(project.dataset.instances)) == (3, 12)
        assert project.summary == "12 instances on 3 images read from LabelMe files"
        person = next(c for c in project.dataset.categories.values() if c.name == "person")
        assert person.id == 15  # labels.txt's id, as labelme2coco gives it
        assert len(project.dataset.categories) == 20  # VOC's classes; not `_background_`
        assert not project.unread_labelme
    with open_project(folder) as again:  # in the project file, and not offered a second time
        assert len(again.dataset.instances) == 12 and not again.unread_labelme


def test_project_made_without_the_labelme_files_says_so(tmp_path: Path) -> None:
    folder = _labelme_copy(tmp_path)
    kept = tmp_path / "kept"
    kept.mkdir()
    for file in folder.glob("*.json"):
        file.rename(kept / file.name)
    open_project(folder).close()  # made when the folder had only images
    for file in kept.iterdir():
        file.rename(folder / file.name)
    with open_project(folder) as project:
        assert project.unread_labelme and not project.dataset.instances
        project.remember_labelme(imported=False)
    with open_project(folder) as project:
        assert not project.unread_labelme


def test_a_coco_file_beside_the_images_is_not_taken_for_labelme(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    shutil.copytree(ISAT / "images", folder)
    shutil.copy(ISAT / "coco_tiny.json", folder)
    with open_project(folder) as project:
        assert not project.dataset.instances and not project.problems and not project.summary


def test_one_labelme_file_opens_its_image_with_its_shapes(tmp_path: Path) -> None:
    shutil.copytree(LABELME / "tutorial", tmp_path / "tutorial")
    with open_project(tmp_path / "tutorial/apc2016_obj3.json") as project:
        (image,) = project.dataset.images.values()
        assert image.file_name == "apc2016_obj3.jpg" and (image.width, image.height) == (1210, 907)
        assert len(project.dataset.instances) == 4
        assert project.path == tmp_path / "tutorial/apc2016_obj3.annotator"
        assert project.image_path(image).is_file()


def test_a_coco_file_is_parsed_once(tmp_path: Path, monkeypatch) -> None:
    shutil.copytree(ISAT, tmp_path / "isat")
    path = tmp_path / "isat/coco_tiny.json"
    reads = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or original(self))
    with open_project(path) as project:
        assert len(project.dataset.instances) == 63 and project.root == tmp_path / "isat/images"
    assert reads.count(path) == 1


def test_results_list_opens_on_its_dataset_and_then_alone(tmp_path: Path) -> None:
    shutil.copytree(ISAT, tmp_path / "isat")
    gt = json.loads((ISAT / "coco_tiny.json").read_text())
    results = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": a["segmentation"],
         "score": 0.5}
        for a in gt["annotations"] if not a["iscrowd"]
    ]  # fmt: skip
    path = tmp_path / "isat/results.json"
    path.write_text(json.dumps(results))
    with pytest.raises(NeedsDatasetError) as error:
        open_project(path)
    assert str(path) in str(error.value)
    with open_project(path, dataset=tmp_path / "isat/coco_tiny.json") as project:
        assert len(project.dataset.instances) == 61 and len(project.dataset.images) == 5
        assert project.root == tmp_path / "isat/images"
        assert "61 predictions on 5 images of coco_tiny.json" in project.summary
    with open_project(path) as again:  # its project exists: no dataset needed any more
        assert len(again.dataset.instances) == 61


def test_bad_json_opened_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"images": 3}')
    with pytest.raises(DatasetError, match="no 'images' list") as error:
        open_project(path)
    assert str(path) in str(error.value)


def test_per_image_json_of_another_tool_is_looked_at_only_briefly(tmp_path: Path, monkeypatch) -> None:
    """SA-1B keeps one JSON beside each image: after a few that are not LabelMe's, the rest are not read."""
    folder = tmp_path / "sa"
    folder.mkdir()
    for index in range(8):
        PilImage.new("RGB", (8, 6)).save(folder / f"sa_{index}.jpg")
        (folder / f"sa_{index}.json").write_text(
            json.dumps({"image": {"image_id": index}, "annotations": []})
        )
    reads = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or original(self))
    with open_project(folder) as project:
        assert len(project.dataset.images) == 8 and not project.dataset.instances and not project.problems
    assert sum(p.suffix == ".json" for p in reads) == 5


def test_an_unreadable_labels_txt_does_not_stop_the_folder_opening(tmp_path: Path) -> None:
    folder = _labelme_copy(tmp_path)
    (folder.parent / "labels.txt").write_bytes(b"\xff\xfe\x00bad")
    with open_project(folder) as project:
        assert len(project.dataset.instances) == 12
        assert any("labels.txt" in line and "order of appearance" in line for line in project.problems)
