"""The project's memory of its models (rounds in the SQLite file), the models folder beside it (never a
link), and which images a new model pre-labels."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from annotator.core.geometry import Polygons
from annotator.core.model import Dataset, Image, ImageStatus, Instance, Review, Source
from annotator.core.model_rounds import ModelRound, next_round_number
from annotator.core.rules import is_unlabelled
from annotator.io.errors import DatasetError
from annotator.io.model_folder import (
    make_models_folder,
    relative_to_project,
    resolve_recorded,
    round_files,
    taken_round_numbers,
)
from annotator.io.project import create_project, open_project

ROUND = ModelRound(
    number=2, path="p-models/round-2.pt", date="2026-12-04T10:31:00", images=40, val_ap=0.41, val_ap50=0.6149,
    details={"architecture": "maskrcnn_resnet18_fpn", "reason": "done", "minutes": 12.5},
)  # fmt: skip


def test_a_round_reads_as_one_line():
    assert ROUND.label() == "Round 2 · 2026-12-04 · 40 images · AP50 0.61"
    unvalidated = ModelRound(number=1, path="m.pt", date="2026-12-01T09:00:00", images=3,
                             details={"reason": "cancelled"})  # fmt: skip
    assert unvalidated.label() == "Round 1 · 2026-12-01 · 3 images · not validated · stopped early"
    assert next_round_number([ROUND, unvalidated]) == 3
    assert next_round_number([unvalidated], taken=[4]) == 5


def test_the_project_file_keeps_its_rounds_across_reopening(tmp_path):
    path = tmp_path / "p.annotator"
    project = create_project(path, Dataset(), tmp_path)
    assert project.store.model_rounds() == []
    first = ModelRound(number=1, path="p-models/round-1.pt", date="2026-12-01T09:00:00", images=20)
    project.store.add_model_round(first)
    project.store.add_model_round(ROUND)
    project.close()
    with open_project(path) as reopened:
        assert reopened.store.model_rounds() == [first, ROUND]


def test_a_project_made_before_rounds_existed_gains_the_table_and_a_damaged_row_is_skipped(tmp_path):
    path = tmp_path / "old.annotator"
    create_project(path, Dataset(), tmp_path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE models")  # as a file written before this version
    with open_project(path) as project:
        assert project.store.model_rounds() == []
        project.store.add_model_round(ROUND)
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO models VALUES (3, 'x.pt', 'd', 1, NULL, NULL, '[1, 2]')")
        connection.execute("INSERT INTO models VALUES (4, 'y.pt', 'd', 1, 'high', NULL, '{}')")
    with open_project(path) as project:
        assert project.store.model_rounds() == [ROUND]


def test_the_models_folder_is_made_beside_the_project_and_never_a_link(tmp_path):
    project = tmp_path / "birds.annotator"
    folder = make_models_folder(project)
    assert folder == tmp_path / "birds-models" and folder.is_dir()
    files = round_files(folder, 3)
    assert files.model.name == "round-3.pt" and files.last.name == "round-3.last.pt"
    assert files.data.name == "round-3.data.json"
    (folder / "round-3.pt").write_bytes(b"x")
    (folder / "round-7.last.pt").write_bytes(b"x")
    (folder / "notes.txt").write_bytes(b"x")
    assert sorted(taken_round_numbers(folder)) == [3, 7]
    assert relative_to_project(project, files.model) == "birds-models/round-3.pt"
    assert resolve_recorded(project, "birds-models/round-3.pt") == files.model

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    linked = tmp_path / "linked.annotator"
    (tmp_path / "linked-models").symlink_to(elsewhere)
    with pytest.raises(DatasetError, match="symbolic link"):
        make_models_folder(linked)
    (tmp_path / "flat-models").write_bytes(b"")
    with pytest.raises(DatasetError, match="is a file"):
        make_models_folder(tmp_path / "flat.annotator")


def test_a_new_model_pre_labels_only_images_nobody_has_worked_on():
    ring = np.array([[1, 1], [9, 1], [9, 9], [1, 9]], dtype=float)
    dataset = Dataset()
    dataset.put_images([Image(i, f"{i}.png", 20, 20) for i in range(1, 6)], notify=False)
    dataset.put_images([Image(6, "6.png", 20, 20, ImageStatus.DONE)], notify=False)

    def instance(iid, image_id, **changes):
        return Instance(iid, image_id, 1, Polygons((ring,)), **changes)

    predicted = Source.from_model("m", 0.9)
    dataset.put_instances([
        instance(1, 2, source=predicted),  # only an unreviewed prediction: still nobody's work
        instance(2, 3),  # drawn by hand
        instance(3, 4, source=predicted, review=Review.REJECTED),  # judged
        instance(4, 5, source=predicted, review=Review.ACCEPTED),
    ], notify=False)  # fmt: skip
    assert [i for i in sorted(dataset.images) if is_unlabelled(dataset, i)] == [1, 2]
    assert not is_unlabelled(dataset, 99)
