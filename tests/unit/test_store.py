"""The SQLite project store: exact round trips, write-through of every edit, locking, refusal of bad files."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image as PilImage

from annotator.core import edits
from annotator.core.geometry import Mask, Polygons, to_mask_array
from annotator.core.model import Category, Dataset, Image, ImageStatus, Instance, Review, Source
from annotator.io.errors import DatasetError, ProjectLockedError
from annotator.io.project import FOLDER_PROJECT_NAME, open_project
from annotator.io.store import ProjectStore


def _dataset() -> Dataset:
    ds = Dataset(extra={"info": {"description": "ünïcode"}, "licenses": []})
    ds.put_categories([Category(0, "_background_"), Category(7, "cat", "animal", (1, 2, 3), {"keep": [1]})])
    ds.put_images([Image(1, "sub/a.jpg", 40, 30, ImageStatus.PRELABELED, {"license": 3})])
    ring = np.array([[1.25, 1.5], [30.125, 2.0], [20.0, 25.333333333333332]])
    mask = np.zeros((30, 40), np.uint8)
    mask[5:20, 5:20] = 1
    mask[10:12, 10:12] = 0  # a hole
    ds.put_instances(
        [
            Instance(1, 1, 7, Polygons((ring, ring + 5)), z=2, extra={"attributes": {"occluded": True}}),
            Instance(5, 1, 0, Mask.from_array(mask), z=1, source=Source.from_model("maskrcnn", 0.875),
                     review=Review.EDITED, iscrowd=True),
        ]
    )  # fmt: skip
    return ds


def _assert_same(a: Dataset, b: Dataset) -> None:
    assert a.categories == b.categories
    assert a.images == b.images
    assert a.extra == b.extra
    assert a.instances.keys() == b.instances.keys()
    for key, inst in a.instances.items():
        assert b.instances[key] == inst, key


def test_round_trip_is_exact(tmp_path):
    ds = _dataset()
    store = ProjectStore(tmp_path / "p.annotator")
    store.write_all(ds)
    store.close()
    _assert_same(ds, ProjectStore(tmp_path / "p.annotator").read_all())


def test_every_edit_is_written_through_and_survives_reopening(tmp_path):
    _write_images(tmp_path, ["b.png", "a.png"])
    with open_project(tmp_path) as project:
        ds = project.dataset
        assert sorted(i.file_name for i in ds.images.values()) == ["a.png", "b.png"]
        ds.put_categories([Category(3, "thing")])
        image = next(iter(ds.images.values()))
        square = Instance(
            ds.new_instance_id(), image.id, 3, Polygons((np.array([[1, 1], [9, 1], [9, 9], [1, 9]]),))
        )
        edits.AddInstances((square,)).apply(ds)
        moved = square.with_changes(z=7, review=Review.ACCEPTED)
        edits.ReplaceInstances((square,), (moved,)).apply(ds)
        doomed = square.with_changes(id=ds.new_instance_id())
        edits.AddInstances((doomed,)).apply(ds)
        edits.RemoveInstances((doomed,)).apply(ds)
        expected = ds.instances.copy()
        # Read the file with a second connection while the project is still open: nothing is pending.
        rows = (
            sqlite3.connect(tmp_path / FOLDER_PROJECT_NAME)
            .execute("SELECT id, z, review FROM instances")
            .fetchall()
        )
        assert rows == [(square.id, 7, "accepted")]
    with open_project(tmp_path) as project:
        assert project.dataset.instances == expected
        assert project.dataset.categories[3].name == "thing"


def test_reverting_edits_is_saved_too(tmp_path):
    _write_images(tmp_path, ["a.png"])
    with open_project(tmp_path) as project:
        ds = project.dataset
        inst = Instance(1, 1, 1, Polygons((np.array([[1, 1], [9, 1], [9, 9]]),)))
        add = edits.AddInstances((inst,))
        add.apply(ds)
        add.revert(ds)
    with open_project(tmp_path) as project:
        assert project.dataset.instances == {}


def test_new_images_in_the_folder_are_added_on_reopen(tmp_path):
    _write_images(tmp_path, ["a.png"])
    open_project(tmp_path).close()
    _write_images(tmp_path, ["c.png"])
    with open_project(tmp_path) as project:
        assert sorted(i.file_name for i in project.dataset.images.values()) == ["a.png", "c.png"]


def test_a_folder_of_labelme_files_beside_its_images_opens_on_those_images(tmp_path, testdata):
    """labelme's annotations/ beside images/ chosen as the folder to open: it holds no image, so it
    opened empty; its files name the images (../images/a.jpg), which it now opens on, labelled."""
    shutil.copytree(testdata / "isat_coco_tiny/labelme", tmp_path / "labelme")
    shutil.copytree(testdata / "isat_coco_tiny/images", tmp_path / "images")
    with open_project(tmp_path / "labelme") as project:
        assert project.root == tmp_path / "images"
        assert len(project.dataset.images) == 5 and len(project.dataset.instances) > 0
        assert all((project.root / i.file_name).is_file() for i in project.dataset.images.values())
        assert "read from LabelMe files" in project.summary and str(project.root) in project.summary
        assert project.problems == []  # where the images were found is news, not a problem
        made = {i: len(project.dataset.instances_of(i)) for i in project.dataset.images}
    with open_project(tmp_path / "labelme") as again:  # reopened: the project, not a second import
        assert {i: len(again.dataset.instances_of(i)) for i in again.dataset.images} == made
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/notes.json").write_text('{"not": "labelme"}')
    with open_project(tmp_path / "empty") as empty:  # no image and no LabelMe file: empty, as before
        assert empty.dataset.images == {}


def test_a_second_process_is_refused_clearly(tmp_path):
    _write_images(tmp_path, ["a.png"])
    with open_project(tmp_path):
        code = "import sys; from annotator.io.project import open_project; open_project(sys.argv[1])"
        result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
        assert result.returncode != 0
        assert "already open in another annotator window" in result.stderr
        with pytest.raises(ProjectLockedError):
            open_project(tmp_path)  # a second window in the same process is refused too
    open_project(tmp_path).close()  # closing releases the lock


def test_a_file_that_is_not_a_project_is_refused(tmp_path):
    bogus = tmp_path / "x.annotator"
    bogus.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(DatasetError, match="not an annotator project"):
        open_project(bogus)


def test_a_read_only_image_folder_gets_its_project_in_the_user_data_folder(tmp_path, monkeypatch):
    images = tmp_path / "ro"
    images.mkdir()
    _write_images(images, ["a.png"])
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    images.chmod(0o555)
    try:
        if _writable(images):
            pytest.skip("running as a user that can write to read-only folders")
        with open_project(images) as project:
            assert project.path.is_relative_to(tmp_path / "data")
            assert project.image_path(project.dataset.images[1]) == (images / "a.png").resolve()
    finally:
        images.chmod(0o755)


def test_a_project_in_a_folder_made_read_only_says_how_to_get_the_work_out(tmp_path):
    """`chmod -R a-w` on a labelled folder: opening said "cannot lock the project: project.annotator.lock
    cannot open: not allowed here (Permission denied)". Root ignores permissions, so the open runs
    without the capabilities that let it (capsh), as any other user would."""
    import shutil as _shutil

    if _shutil.which("capsh") is None:
        pytest.skip("capsh (libcap) is needed to open as a user bound by permissions")
    _write_images(tmp_path, ["a.png"])
    open_project(tmp_path).close()
    for path in [*tmp_path.iterdir(), tmp_path]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    code = "import sys; from annotator.io.project import open_project; open_project(sys.argv[1])"
    try:
        result = subprocess.run(
            ["capsh", "--drop=cap_dac_override,cap_dac_read_search,cap_fowner", "--",
             "-c", 'exec "$0" -c "$1" "$2"', sys.executable, code, str(tmp_path)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        for path in [tmp_path, *tmp_path.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert result.returncode != 0
    assert "cannot be written here" in result.stderr and "annotator convert" in result.stderr, result.stderr


def test_mask_with_hole_round_trips_pixel_exactly(tmp_path):
    ds = _dataset()
    store = ProjectStore(tmp_path / "p.annotator")
    store.write_all(ds)
    back = store.read_all()
    for inst in ds.instances.values():
        expect = to_mask_array(inst.geometry, 30, 40)
        assert np.array_equal(to_mask_array(back.instances[inst.id].geometry, 30, 40), expect)


def _write_images(folder, names):
    for name in names:
        PilImage.new("RGB", (16, 12), (10, 20, 30)).save(folder / name)


def _writable(folder) -> bool:
    try:
        (folder / ".probe").write_text("x")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


def test_the_samples_open_as_a_project_that_saves():
    from annotator.io.project import open_samples_project
    from annotator.io.samples import samples_dir

    with open_samples_project() as project:
        assert project.root == samples_dir()
        assert sorted(i.file_name for i in project.dataset.images.values()) == [
            "astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg",
        ]  # fmt: skip
        assert project.path.is_relative_to(os.environ["XDG_DATA_HOME"])  # the user's data folder
        image = project.dataset.images[1]
        edits.AddInstances(
            (Instance(1, image.id, 1, Polygons((np.array([[1, 1], [9, 1], [9, 9]]),))),)
        ).apply(project.dataset)
    with open_samples_project() as project:
        assert 1 in project.dataset.instances
    assert not any(p.suffix == ".annotator" for p in samples_dir().iterdir())


def test_a_full_disk_keeps_edits_in_memory_and_saves_them_when_space_returns(tmp_path):
    import resource
    import signal

    _write_images(tmp_path, ["a.png"])
    project = open_project(tmp_path)
    ds = project.dataset
    heard = []
    project.store.on_save_error = heard.append
    first = Instance(1, 1, 1, Polygons((np.array([[1, 1], [9, 1], [9, 9]]),)))
    edits.AddInstances((first,)).apply(ds)
    files = [project.path, project.path.with_name(project.path.name + "-wal")]
    limit = max(f.stat().st_size for f in files if f.exists())
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        big = np.random.default_rng(0).uniform(0, 15, (20000, 2))  # too big to fit under the limit
        for n in range(2, 6):
            edits.AddInstances((Instance(n, 1, 1, Polygons((big + n,))),)).apply(ds)  # no exception
        assert project.store.pending == 4 and project.store.save_error is not None
        assert len(heard) == 1 and "could not save" in str(heard[0])
        with pytest.raises(DatasetError, match="4 change"):
            project.close()  # refuses to close and lose them
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    edits.RemoveInstances((ds.instances[3],)).apply(ds)  # space is back: this edit flushes everything
    assert project.store.pending == 0 and heard[-1] is None
    project.close()
    with open_project(tmp_path) as reopened:
        assert sorted(reopened.dataset.instances) == [1, 2, 4, 5]
        assert reopened.dataset.instances[5] == ds.instances[5]
