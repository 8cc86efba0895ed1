"""Model ▸ Train on this project… as a person uses it: a real training process (the light model, tiny
settings, 64x48 images) started from the window, its model used to pre-label the images nobody has
labelled, cancel keeping the best model, the project remembering its rounds, and a project that
cannot train saying why."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from annotator.app import load_predictor
from annotator.core.model import Image, Review
from annotator.core.predictor import Device
from annotator.gui.main_window import MainWindow
from annotator.gui.prelabel.actions import install_prelabelling
from annotator.gui.prelabel.controller import RunState
from annotator.gui.prelabel.dialog import PrelabelSettings
from annotator.gui.training.actions import install_training
from annotator.gui.training.controller import TrainState
from annotator.gui.training.options import Length
from training_helpers import TINY_MODEL, write_rectangles

ROUND_TIMEOUT = 240_000  # ms: importing torch and a few tiny steps, on cores shared with other runs
TINY = {
    "model": TINY_MODEL,
    "recipe": {"batch_size": 2, "warmup_steps": 3, "lr": 1e-3, "scale_jitter": (1.0, 1.0)},
    "input_size": 64,
    "device": "cpu",
}


def make_window(qtbot, tmp_path: Path, *, labelled: int = 8, unlabelled: int = 3):
    """The window on a project of `labelled` images with trainable rectangles and `unlabelled` more."""
    folder = tmp_path / "rectangles"
    data = write_rectangles(folder, count=labelled) if labelled else None
    if data is None:
        folder.mkdir(parents=True)
    if unlabelled:  # more of the same rectangles, not labelled
        write_rectangles(tmp_path / "more", count=unlabelled, seed=1)
        for index in range(unlabelled):
            (tmp_path / "more" / f"im{index + 1}.png").rename(folder / f"new{index}.png")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    PrelabelSettings(score_threshold=0.05, device=Device.CPU, max_detections=5).save(settings)
    window = MainWindow(settings)
    qtbot.addWidget(window)
    training = install_training(window, install_prelabelling(window, load_predictor))
    training.overrides = dict(TINY)
    assert window.open_path(data if data is not None else folder)
    dataset = window.document.dataset
    if data is not None:
        next_id = max(dataset.images) + 1
        dataset.put_images(Image(next_id + i, f"new{i}.png", 64, 48) for i in range(unlabelled))
    window.resize(1000, 700)
    window.show()
    return window, training


def open_checked_dialog(qtbot, training):
    with qtbot.waitSignal(training.controller.checked, timeout=30_000):
        dialog = training.open_dialog()
    return dialog


def set_epochs(dialog, epochs: int) -> None:
    dialog.options.unit.setCurrentIndex(dialog.options.unit.findData(Length.EPOCHS.value))
    dialog.options.epochs.setValue(epochs)


def train_round(qtbot, training, *, epochs: int):
    dialog = open_checked_dialog(qtbot, training)
    set_epochs(dialog, epochs)
    with qtbot.waitSignal(training.controller.ended, timeout=ROUND_TIMEOUT) as ended:
        dialog.train_button.click()
    return dialog, ended.args[0]


def start_long_round(qtbot, training):
    """Start a round of 50 epochs from the dialog; return once its first step is done."""
    dialog = open_checked_dialog(qtbot, training)
    set_epochs(dialog, 50)
    is_step = lambda event: event.kind == "step"  # noqa: E731
    with qtbot.waitSignal(training.controller.event, timeout=ROUND_TIMEOUT, check_params_cb=is_step):
        dialog.train_button.click()
    return dialog


@pytest.mark.slow
@pytest.mark.training
def test_a_round_trained_in_the_window_pre_labels_the_unlabelled_images_and_is_remembered(qtbot, tmp_path):
    window, training = make_window(qtbot, tmp_path)
    project = window.document.path
    dataset = window.document.dataset
    untouched = training.unlabelled_images()
    assert len(untouched) == 3

    dialog, end = train_round(qtbot, training, epochs=2)

    assert end.state is TrainState.FINISHED, end.message
    model = project.parent / "data-models" / "round-1.pt"
    assert end.model_path == model and model.is_file()
    assert not model.with_name("round-1.last.pt").exists()  # the resumable state is not kept
    assert "Round 1 finished" in dialog.run_panel.state_label.text()
    lines = dialog.run_panel.lines()
    assert any(line.startswith("Epoch 2") and "AP50" in line for line in lines), lines
    assert len(dialog.run_panel.plot.steps) == 6  # 6 training images, batch 2, 2 epochs
    assert (
        dialog.rounds.item(0).text().startswith("Round 1 · ") and "8 images" in dialog.rounds.item(0).text()
    )
    assert dialog.prelabel_button.isVisible() and "pre-label 3 images" in dialog.prelabel_button.text()
    # the model's detections on the 2 validation images it did not learn from, for the label audit
    assert dialog.audit_button.isVisible()
    suspicious = window.assisted.suspicious
    with qtbot.waitSignal(suspicious.job.finished, timeout=30_000):
        dialog.audit_button.click()
    assert suspicious.predictions_path == model.with_name("round-1.val-predictions.json")
    assert suspicious.isVisible() and not dialog.isVisible()
    assert suspicious.state_label.text().startswith("2 images audited")  # the 2 validation images
    dialog.show()

    prelabelling = training.prelabelling
    with qtbot.waitSignal(prelabelling.controller.run_finished, timeout=ROUND_TIMEOUT) as finished:
        dialog.prelabel_button.click()
    progress = finished.args[0]
    assert progress.state is RunState.FINISHED and progress.total == 3 and progress.failed == 0
    used = PrelabelSettings.load(window.settings)
    assert used.weights == str(model) and used.follows_model  # at the size it was trained at
    assert progress.detections > 0
    predicted = [i for i in dataset.instances.values() if i.source.is_model]
    assert {i.image_id for i in predicted} <= set(untouched)  # the labelled images are left alone
    assert {i.category_id for i in predicted} <= {5, 9}  # the project's classes, their own ids
    assert all(i.review is Review.UNREVIEWED for i in predicted)

    assert window.set_document(None)
    assert window.open_path(project)
    dialog = open_checked_dialog(qtbot, training)
    assert dialog.rounds.item(0).text().startswith("Round 1 · ")
    assert "round 1" in dialog.options.start.currentText()  # the next round continues from it
    window.close()
    assert not dialog.isVisible()  # the dialog goes with its window


@pytest.mark.slow
@pytest.mark.training
def test_pause_holds_the_round_and_cancel_stops_it_keeping_the_best_model(qtbot, tmp_path):
    window, training = make_window(qtbot, tmp_path, unlabelled=0)
    controller = training.controller
    dialog = start_long_round(qtbot, training)

    with qtbot.waitSignal(controller.state_changed, check_params_cb=lambda s: s is TrainState.PAUSED):
        dialog.pause_button.click()
    assert dialog.pause_button.text() == "Resume" and dialog.run_panel.state_label.text() == "Paused"
    with qtbot.waitSignal(controller.event, timeout=1500, raising=False,
                          check_params_cb=lambda e: e.kind == "step") as stepped:  # fmt: skip
        pass
    assert not stepped.signal_triggered  # paused: no step
    with qtbot.waitSignal(
        controller.event, timeout=ROUND_TIMEOUT, check_params_cb=lambda e: e.kind == "epoch"
    ):
        dialog.pause_button.click()  # resume, until an epoch is validated and its model saved
    with qtbot.waitSignal(controller.ended, timeout=ROUND_TIMEOUT) as ended:
        dialog.cancel_button.click()

    end = ended.args[0]
    assert end.state is TrainState.CANCELLED, end.message
    assert end.finished.reason == "cancelled" and end.finished.epochs < 50
    assert end.model_path is not None and end.model_path.is_file()
    (model_round,) = training.history.rounds(window.document)
    assert model_round.details["reason"] == "cancelled" and model_round.val_ap50 is not None
    assert "stopped early" in dialog.rounds.item(0).text()
    from annotator.inference.models import read_checkpoint

    checkpoint = read_checkpoint(end.model_path)
    assert [c.name for c in checkpoint.categories] == ["red", "blue"]
    window.close()


def test_a_project_with_no_trainable_instances_says_so_and_cannot_start(qtbot, tmp_path):
    window, training = make_window(qtbot, tmp_path, labelled=0, unlabelled=2)
    dialog = open_checked_dialog(qtbot, training)
    assert dialog.problem.isVisible()
    assert dialog.problem.text().startswith("Cannot train: no trainable instances")
    assert not dialog.train_button.isEnabled()
    window.close()


def test_a_second_round_is_numbered_after_the_first_and_starts_from_it(qtbot, tmp_path):
    """Without training: the rounds come from the project file, the next one starts from the last."""
    from annotator.core.model_rounds import ModelRound

    window, training = make_window(qtbot, tmp_path, unlabelled=0)
    document = window.document
    folder = document.path.parent / "data-models"
    folder.mkdir()
    (folder / "round-1.pt").write_bytes(b"a model")
    first = ModelRound(number=1, path="data-models/round-1.pt", date="2026-12-04T10:00:00", images=8,
                       val_ap=0.4, val_ap50=0.61, details={"architecture": "maskrcnn_resnet18_fpn"})  # fmt: skip
    training.history.add(document, first)
    dialog = open_checked_dialog(qtbot, training)
    assert dialog.rounds.item(0).text() == "Round 1 · 2026-12-04 · 8 images · AP50 0.61"
    options = replace(dialog.options.value(), **TINY)
    config = options.config(data=Path("d.json"), out=Path("o.pt"), images_root=Path("."),
                            last_model=training.history.last_model(document)[1])  # fmt: skip
    assert config.weights == str(folder / "round-1.pt")
    assert not dialog.options.base.isEnabled()  # a checkpoint brings its own architecture

    from annotator.gui.training.options import StartFrom

    dialog.options.start.setCurrentIndex(dialog.options.start.findData(StartFrom.FILE.value))
    dialog.options.weights_file.setText(str(tmp_path / "gone.pt"))
    dialog.train_button.click()
    assert dialog.problem.text() == f"{tmp_path / 'gone.pt'}: no such checkpoint file"
    assert training.controller.state is TrainState.IDLE and not (folder / "round-2.data.json").exists()
    window.close()


@pytest.mark.slow
@pytest.mark.training
def test_closing_the_window_during_a_round_keeps_its_model_and_records_it(qtbot, tmp_path):
    from annotator.io.project import open_project

    window, training = make_window(qtbot, tmp_path, unlabelled=0)
    project = window.document.path
    start_long_round(qtbot, training)

    window.close()  # waits for the child to save after its current step

    assert training.controller.state is TrainState.CANCELLED
    with open_project(project) as reopened:
        (model_round,) = reopened.store.model_rounds()
    assert model_round.details["reason"] == "cancelled" and model_round.images == 8
    assert (project.parent / model_round.path).is_file()


@pytest.mark.slow
@pytest.mark.training
def test_a_round_is_in_the_project_file_as_soon_as_it_saves_a_model(qtbot, tmp_path):
    """A window killed mid-round (or a power cut) must still find the round's model in the project:
    the round is written as "unfinished" when the child saves a better model, and its end replaces it."""
    import json
    import sqlite3

    window, training = make_window(qtbot, tmp_path, unlabelled=0)
    project = window.document.path
    dialog = open_checked_dialog(qtbot, training)
    set_epochs(dialog, 50)
    is_best = lambda event: event.kind == "checkpoint" and event.role == "best"  # noqa: E731
    with qtbot.waitSignal(training.controller.event, timeout=ROUND_TIMEOUT, check_params_cb=is_best):
        dialog.train_button.click()

    def recorded():  # what another process reading the file sees now
        with contextlib.closing(sqlite3.connect(f"file:{project}?mode=ro", uri=True)) as conn:
            return [(number, path, json.loads(details)["reason"])
                    for number, path, details in conn.execute("SELECT round, path, details FROM models")]  # fmt: skip

    ((number, path, reason),) = recorded()
    assert (number, reason) == (1, "unfinished")
    assert (project.parent / path).is_file()
    assert dialog.rounds.count() == 1 and "Round 1" in dialog.rounds.item(0).text()  # listed already
    with qtbot.waitSignal(training.controller.ended, timeout=ROUND_TIMEOUT):
        training.controller.cancel()
    assert [(n, r) for n, _, r in recorded()] == [(1, "cancelled")]
    window.close()


@pytest.mark.slow
@pytest.mark.training
def test_deleting_a_round_asks_first_then_forgets_it_and_deletes_its_files(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from annotator.io.project import open_project

    window, training = make_window(qtbot, tmp_path, unlabelled=0)
    project = window.document.path
    dialog, end = train_round(qtbot, training, epochs=1)
    assert end.state is TrainState.FINISHED, end.message
    folder = project.parent / "data-models"
    assert (folder / "round-1.pt").is_file() and (folder / "round-1.data.json").is_file()
    dialog.rounds.setCurrentRow(0)
    assert dialog.delete_round_button.isEnabled()

    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *args: answers.pop(0))
    dialog.delete_round_button.click()  # the person says Cancel: nothing happens
    assert (folder / "round-1.pt").is_file() and dialog.rounds.item(0).text().startswith("Round 1")
    dialog.delete_round_button.click()  # Yes

    assert sorted(p.name for p in folder.iterdir()) == []
    assert dialog.rounds.item(0).text() == "No model trained yet"
    assert not dialog.delete_round_button.isEnabled() and not dialog.use_round_button.isEnabled()
    assert window.set_document(None)
    with open_project(project) as reopened:
        assert reopened.store.model_rounds() == []
    window.close()


def test_what_is_left_out_of_training_is_said_before_it_starts(qtbot, tmp_path):
    """A class without instances, an image missing on disk, a set too small to validate: notes, not
    errors; the round can still start."""
    from annotator.core.model import Category

    window, training = make_window(qtbot, tmp_path, labelled=4, unlabelled=0)
    window.document.dataset.put_categories([Category(12, "green")])
    (window.document.root / "im4.png").unlink()
    dialog = open_checked_dialog(qtbot, training)
    notes = dialog.notes.text()
    assert "class 'green' (id 12) has no trainable instance" in notes
    assert "skipped 1 image that cannot be read: im4.png" in notes
    assert "too few for a validation split" in notes
    assert (
        dialog.summary.text()
        == "Trains on 3 images with 6 trainable instances in 2 classes (no validation split)."
    )
    assert dialog.train_button.isEnabled() and not dialog.problem.isVisible()
    window.close()


def test_a_project_with_rounds_pre_labels_with_its_own_model_when_opened(qtbot, tmp_path):
    """Opened with the COCO default in the settings (which offline cannot load) or another project's
    model, a project that trained rounds pre-labels with its best one; once a round (or a file) was
    chosen for it, with that one, after reopening too."""
    from annotator.core.model_rounds import ModelRound

    window, training = make_window(qtbot, tmp_path, unlabelled=0)
    document, path = window.document, window.document.path
    folder = path.parent / "data-models"
    folder.mkdir()
    rounds = []
    for number, ap50 in ((1, 0.41), (2, 0.61), (3, 0.04)):  # round 3 stopped seconds in
        (folder / f"round-{number}.pt").write_bytes(b"a model")
        rounds.append(ModelRound(number=number, path=f"data-models/round-{number}.pt",
                                date="2026-12-04T10:00:00", images=8, val_ap50=ap50))  # fmt: skip
        training.history.add(document, rounds[-1])

    def weights() -> str:
        return PrelabelSettings.load(window.settings).weights

    assert window.set_document(None)
    assert weights() == ""  # COCO's, as make_window left it
    assert window.open_path(path)
    assert weights() == str(folder / "round-2.pt")  # the best
    better = ModelRound(number=4, path="data-models/round-4.pt", date="2026-12-05T10:00:00", images=9,
                        val_ap50=0.7)  # fmt: skip
    (folder / "round-4.pt").write_bytes(b"a model")
    training.history.add(window.document, better)
    assert window.set_document(None) and window.open_path(path)
    assert weights() == str(folder / "round-4.pt")  # the best then was not a choice: the best now
    training.use_model(rounds[2])  # chosen by the person: kept for the project
    PrelabelSettings(weights=str(tmp_path / "other-project.pt")).save(window.settings)
    assert window.set_document(None) and window.open_path(path)
    assert weights() == str(folder / "round-3.pt")
    window.close()


def test_pre_labelling_with_a_weaker_round_asks_before_replacing_a_better_rounds_predictions(
    qtbot, tmp_path, monkeypatch
):
    """Round 3, stopped seconds in, offered to pre-label the images round 2 had pre-labelled: their
    predictions went, with no warning and no undo. Now the offer says how many it replaces, and a
    weaker round asks first; a better one does not."""
    import numpy as np
    from PySide6.QtWidgets import QMessageBox

    from annotator.core.geometry import Polygons
    from annotator.core.model import Instance, Source
    from annotator.core.model_rounds import ModelRound

    window, training = make_window(qtbot, tmp_path, unlabelled=2)
    document = window.document
    dataset = document.dataset
    folder = document.path.parent / "data-models"
    folder.mkdir()
    rounds = {}
    for number, ap50 in ((2, 0.41), (3, 0.04), (4, 0.55)):
        (folder / f"round-{number}.pt").write_bytes(b"a model")
        rounds[number] = ModelRound(number=number, path=f"data-models/round-{number}.pt",
                                    date="2026-12-04T10:00:00", images=8, val_ap50=ap50)  # fmt: skip
        training.history.add(document, rounds[number])
    square = Polygons((np.array([[2.0, 2.0], [20.0, 2.0], [20.0, 20.0], [2.0, 20.0]]),))
    unlabelled = training.unlabelled_images()
    first = max(dataset.instances) + 1
    dataset.put_instances(
        Instance(first + k, image_id, 1, square, source=Source.from_model("round-2", 0.9))
        for k, image_id in enumerate(unlabelled)
    )
    asked, started = [], []
    monkeypatch.setattr(
        QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Cancel
    )
    monkeypatch.setattr(training.prelabelling, "start", lambda ids: started.append(ids) or 1)
    assert training.prelabel_unlabelled(rounds[3]) is None
    assert not started and "round 2 (AP50 0.41)" in asked[0] and "The 2 predictions" in asked[0]
    assert sum(i.source.model == "round-2" for i in dataset.instances.values()) == 2  # untouched
    asked.clear()
    assert training.prelabel_unlabelled(rounds[4]) == 1  # better: no question
    assert not asked and started == [unlabelled]
    window.close()
