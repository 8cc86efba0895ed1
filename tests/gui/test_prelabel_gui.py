"""Pre-labelling from the window: a real (randomly initialised) Mask R-CNN in the worker thread, results
streamed into the project, cancel, pause, close during a run, broken images, manual work kept."""

from __future__ import annotations

import gc
import os
import re
import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QSettings

from annotator.core.edits import AddInstances, ReplaceInstances
from annotator.core.geometry import Polygons
from annotator.core.model import MANUAL, ImageStatus, Instance, Review, SourceKind
from annotator.gui.main_window import MainWindow
from annotator.gui.prelabel.actions import Prelabelling, install_prelabelling
from annotator.gui.prelabel.controller import RunState
from annotator.gui.prelabel.dialog import PrelabelDialog, PrelabelSettings
from annotator.io.project import open_project

WIDTH, HEIGHT = 160, 120
RUN_TIMEOUT = 120_000  # ms; a tiny image takes well under a second, but the machine is shared
SETTINGS = PrelabelSettings(score_threshold=0.05, input_size=160, max_detections=5)


class RecordingFactory:
    """Builds the predictor once and remembers which threads asked for it."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor
        self.threads: list[threading.Thread] = []

    def __call__(self, spec):
        self.threads.append(threading.current_thread())
        return self.predictor


@pytest.fixture(scope="module")
def predictor():
    """A randomly initialised Mask R-CNN R50-FPN (no download), one per module: it gives detections
    with scores around 0.7 on any image."""
    import torch

    from annotator.inference.models import LoadedModel, build_model, coco_categories
    from annotator.inference.predictor import TorchPredictor

    torch.set_num_threads(1)  # a shared 2-core machine: one thread is steadier than two fighting
    torch.manual_seed(0)
    model = build_model("maskrcnn_resnet50_fpn")
    loaded = LoadedModel(
        model, "maskrcnn_resnet50_fpn", tuple(range(91)), coco_categories(), "random-maskrcnn"
    )
    return TorchPredictor(loaded)


def write_images(folder: Path, count: int, *, broken: str | None = None) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    names = []
    for index in range(count):
        small = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
        image = cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
        name = f"img_{index:02d}.png"
        cv2.imwrite(str(folder / name), image)
        names.append(name)
    if broken is not None:
        whole = cv2.imencode(".png", np.full((HEIGHT, WIDTH, 3), 128, np.uint8))[1].tobytes()
        (folder / broken).write_bytes(whole[: len(whole) // 2])  # the header reads, the pixels do not
        names.append(broken)
    return names


def make_window(
    qtbot, tmp_path: Path, factory, *, images: int = 3, broken: str | None = None, settings=SETTINGS
):
    folder = tmp_path / "photos"
    write_images(folder, images, broken=broken)
    qsettings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.save(qsettings)
    window = MainWindow(qsettings)
    qtbot.addWidget(window)
    prelabelling = install_prelabelling(window, factory)
    assert window.open_path(folder)
    window.resize(1000, 700)
    window.show()
    return window, prelabelling


def run_and_wait(qtbot, prelabelling: Prelabelling, start) -> None:
    with qtbot.waitSignal(prelabelling.controller.run_finished, timeout=RUN_TIMEOUT):
        start()


def predictions(dataset, image_id: int) -> list[Instance]:
    return [i for i in dataset.instances_of(image_id) if i.source.is_model]


def square(image_id: int, instance_id: int, **changes) -> Instance:
    ring = np.array([[10, 10], [60, 10], [60, 50], [10, 50]], dtype=np.float64)
    return Instance(instance_id, image_id, 1, Polygons((ring,)), **changes)


def test_the_model_thread_never_collects_and_a_model_loaded_here_is_frozen(qtbot, tmp_path, predictor):
    """Python's garbage is collected on the GUI thread only (docs/decisions/0024), the collection before
    freezing a model loaded in this process too: in the model thread it could free Qt objects there."""
    collected_in: list[threading.Thread] = []

    def record(phase: str, _info: dict) -> None:
        if phase == "start":
            collected_in.append(threading.current_thread())

    factory = RecordingFactory(predictor)
    window, prelabelling = make_window(qtbot, tmp_path, factory, images=2)
    frozen = gc.get_freeze_count()
    gc.callbacks.append(record)
    try:
        run_and_wait(
            qtbot, prelabelling, lambda: prelabelling.all_action.trigger() or prelabelling.dialog.accept()
        )
    finally:
        gc.callbacks.remove(record)
    assert factory.threads and factory.threads[0] is not threading.main_thread()  # loaded there
    assert collected_in and set(collected_in) == {threading.main_thread()}
    assert gc.get_freeze_count() > frozen


def test_run_streams_results_into_the_document_the_canvas_and_the_store(qtbot, tmp_path, predictor):
    factory = RecordingFactory(predictor)
    window, prelabelling = make_window(qtbot, tmp_path, factory, images=3)
    dataset = window.document.dataset
    shown = window.canvas.session.image_id
    done: list[int] = []
    prelabelling.controller.image_done.connect(done.append)

    run_and_wait(
        qtbot, prelabelling, lambda: prelabelling.all_action.trigger() or prelabelling.dialog.accept()
    )

    assert sorted(done) == sorted(dataset.images)
    assert factory.threads and all(t is not threading.main_thread() for t in factory.threads)
    assert len(factory.threads) == 1  # loaded once, lazily
    for image_id in dataset.images:
        found = predictions(dataset, image_id)
        assert found, "a random Mask R-CNN at threshold 0.05 finds something on every image"
        assert len(found) <= SETTINGS.max_detections
        assert all(i.source.model and i.score is not None and i.review is Review.UNREVIEWED for i in found)
        assert dataset.images[image_id].status is ImageStatus.PRELABELED
    # the image on screen shows its predictions
    assert set(window.canvas.layers) == {i.id for i in dataset.instances_of(shown)}
    progress = prelabelling.controller.progress
    assert (progress.state, progress.done, progress.total) == (RunState.FINISHED, 3, 3)
    assert (
        progress.rate is not None
        and progress.rate > 0
        and progress.detections == sum(len(predictions(dataset, i)) for i in dataset.images)
    )
    assert "3 / 3 images" in prelabelling.panel.figures.text()
    assert "images/s" in prelabelling.panel.figures.text()
    window.grab().save(str(tmp_path / "prelabel_window.png"))
    expected = {image_id: len(predictions(dataset, image_id)) for image_id in dataset.images}
    project_path = window.document.path
    window.close()

    with open_project(project_path) as project:  # the store wrote every result through
        got = {image_id: len(predictions(project.dataset, image_id)) for image_id in project.dataset.images}
        assert got == expected
        stored = next(iter(project.dataset.instances.values()))
        assert stored.source.kind is SourceKind.MODEL and 0.0 < stored.score <= 1.0


def test_all_images_skips_prelabelled_and_labelled_ones_unless_asked(qtbot, tmp_path, predictor):
    window, prelabelling = make_window(qtbot, tmp_path, RecordingFactory(predictor), images=3)
    dataset = window.document.dataset
    first, labelled, rest = sorted(dataset.images)
    assert window.canvas.session.image_id == first
    run_and_wait(qtbot, prelabelling, prelabelling.prelabel_current)
    # labels imported with a dataset leave the image `new`: a run on it would put predictions on them
    dataset.put_instances([square(labelled, dataset.new_instance_id())])
    assert dataset.images[labelled].status is ImageStatus.NEW
    controller = prelabelling.controller
    assert controller.images_for_all(redo=False) == [rest]
    assert controller.images_for_all(redo=True) == [first, labelled, rest]


def test_a_run_that_finds_nothing_anywhere_says_what_to_try(qtbot, tmp_path, predictor):
    strict = replace(SETTINGS, score_threshold=0.99)  # the random model scores about 0.7
    window, prelabelling = make_window(
        qtbot, tmp_path, RecordingFactory(predictor), images=2, settings=strict
    )
    run_and_wait(
        qtbot, prelabelling, lambda: prelabelling.all_action.trigger() or prelabelling.dialog.accept()
    )
    assert prelabelling.controller.progress.detections == 0
    assert prelabelling.panel.problem_lines() == [
        "No object found at score ≥ 0.99 on any of the 2 images: the model may need more training, "
        "or a lower score threshold (Model › Model settings…)"
    ]
    # the next run starts with none of the last one's problems listed as its own
    controller = prelabelling.controller
    with qtbot.waitSignal(controller.image_done, timeout=RUN_TIMEOUT):
        controller.start(sorted(window.document.dataset.images), replace(SETTINGS, score_threshold=0.05))
    assert prelabelling.panel.problem_lines() == []
    window.close()


def test_cancel_stops_within_one_image(qtbot, tmp_path, predictor):
    window, prelabelling = make_window(qtbot, tmp_path, RecordingFactory(predictor), images=5)
    controller, dataset = prelabelling.controller, window.document.dataset
    with qtbot.waitSignal(controller.image_done, timeout=RUN_TIMEOUT):
        controller.start(sorted(dataset.images), SETTINGS)
    done_at_cancel = controller.progress.done
    with qtbot.waitSignal(controller.run_finished, timeout=RUN_TIMEOUT) as finished:
        prelabelling.panel.cancel_button.click()
    progress = finished.args[0]
    assert progress.state is RunState.CANCELLED
    assert progress.done <= done_at_cancel + 1  # only the image in progress may still finish
    labelled = [i for i in dataset.images if predictions(dataset, i)]
    assert len(labelled) == progress.done < 5


def test_pause_holds_the_next_image_and_resume_finishes(qtbot, tmp_path, predictor):
    window, prelabelling = make_window(qtbot, tmp_path, RecordingFactory(predictor), images=3)
    controller = prelabelling.controller
    with qtbot.waitSignal(controller.image_done, timeout=RUN_TIMEOUT):
        controller.start(sorted(window.document.dataset.images), SETTINGS)
    prelabelling.panel.pause_button.click()
    assert controller.progress.state is RunState.PAUSED
    assert prelabelling.panel.pause_button.text() == "Resume"
    control = controller.run.control
    qtbot.waitUntil(lambda: control.waiting, timeout=RUN_TIMEOUT)  # the worker holds the next image back
    held = controller.progress.done
    assert "ETA" not in prelabelling.panel.figures.text()  # paused: no time to count down
    assert held <= 2 and controller.run is not None
    run_and_wait(qtbot, prelabelling, prelabelling.panel.pause_button.click)
    assert controller.progress.state is RunState.FINISHED and controller.progress.done == 3 > held - 1


def test_closing_the_window_during_a_run_keeps_what_finished(qtbot, tmp_path, predictor):
    window, prelabelling = make_window(qtbot, tmp_path, RecordingFactory(predictor), images=5)
    controller, dataset = prelabelling.controller, window.document.dataset
    done: list[int] = []
    controller.image_done.connect(done.append)
    with qtbot.waitSignal(controller.image_done, timeout=RUN_TIMEOUT):
        controller.start(sorted(dataset.images), SETTINGS)
    expected = {i: len(predictions(dataset, i)) for i in dataset.images}
    project_path = window.document.path
    window.close()  # waits for the image in progress and applies it before the project closes
    assert not controller.worker.running
    finished = {i: len(predictions(dataset, i)) for i in dataset.images}
    assert all(finished[i] == expected[i] for i in expected if expected[i])
    assert len(done) < 5

    with open_project(project_path) as project:
        stored = project.dataset
        for image_id, image in stored.images.items():
            has = bool(predictions(stored, image_id))
            assert has == (image_id in done)
            assert (image.status is ImageStatus.PRELABELED) == has
            assert len(predictions(stored, image_id)) == finished[image_id]


def test_opening_another_folder_during_a_run_stops_it_and_saves_what_finished(qtbot, tmp_path, predictor):
    window, prelabelling = make_window(qtbot, tmp_path, RecordingFactory(predictor), images=4)
    controller, dataset = prelabelling.controller, window.document.dataset
    first_project = window.document.path
    done: list[int] = []
    controller.image_done.connect(done.append)
    with qtbot.waitSignal(controller.image_done, timeout=RUN_TIMEOUT):
        controller.start(sorted(dataset.images), SETTINGS)
    other = tmp_path / "other"
    write_images(other, 1)
    assert window.open_path(other)
    assert controller.run is None and controller.progress.state is RunState.CANCELLED
    assert controller.document is window.document
    assert 1 <= len(done) < 4
    with open_project(first_project) as project:
        labelled = {i for i in project.dataset.images if predictions(project.dataset, i)}
        assert labelled == set(done)
    run_and_wait(qtbot, prelabelling, prelabelling.prelabel_current)  # the same worker serves the new one
    assert predictions(window.document.dataset, window.canvas.session.image_id)


def test_a_broken_image_is_listed_and_skipped(qtbot, tmp_path, predictor):
    window, prelabelling = make_window(
        qtbot, tmp_path, RecordingFactory(predictor), images=2, broken="zz_broken.png"
    )
    dataset = window.document.dataset
    broken_id = next(i for i, image in dataset.images.items() if image.file_name == "zz_broken.png")
    run_and_wait(qtbot, prelabelling, lambda: prelabelling.controller.start(sorted(dataset.images), SETTINGS))
    lines = prelabelling.panel.problem_lines()
    assert len(lines) == 1 and "zz_broken.png" in lines[0] and "broken or truncated" in lines[0]
    assert not predictions(dataset, broken_id)
    assert all(predictions(dataset, i) for i in dataset.images if i != broken_id)
    progress = prelabelling.controller.progress
    assert (progress.done, progress.failed, progress.state) == (3, 1, RunState.FINISHED)
    assert prelabelling.fatal_box is None  # per-image problems never open a dialog


def test_manual_work_is_kept_and_earlier_predictions_replaced_or_kept(qtbot, tmp_path, predictor):
    window, prelabelling = make_window(qtbot, tmp_path, RecordingFactory(predictor), images=1)
    controller, dataset = prelabelling.controller, window.document.dataset
    image_id = next(iter(dataset.images))
    manual = square(image_id, dataset.new_instance_id(), source=MANUAL)
    AddInstances((manual,)).apply(dataset)

    run_and_wait(qtbot, prelabelling, lambda: controller.start([image_id], SETTINGS))
    first = predictions(dataset, image_id)
    assert first and dataset.instances[manual.id] == manual
    accepted = first[0]
    ReplaceInstances((accepted,), (accepted.with_changes(review=Review.ACCEPTED),)).apply(dataset)

    run_and_wait(qtbot, prelabelling, lambda: controller.start([image_id], SETTINGS))  # replace (default)
    second = predictions(dataset, image_id)
    old_ids = {i.id for i in first}
    assert dataset.instances[manual.id] == manual
    assert dataset.instances[accepted.id].review is Review.ACCEPTED  # reviewed predictions stay
    fresh = [i for i in second if i.id not in old_ids]
    assert fresh and {i.id for i in second} == {accepted.id} | {i.id for i in fresh}

    keep = PrelabelSettings(**{**SETTINGS.__dict__, "replace_predictions": False})
    run_and_wait(qtbot, prelabelling, lambda: controller.start([image_id], keep))
    third = predictions(dataset, image_id)
    assert {i.id for i in second} < {i.id for i in third}  # earlier predictions kept, new ones added
    assert dataset.instances[manual.id] == manual


def test_a_result_for_an_image_edited_meanwhile_is_dropped(qtbot, tmp_path, predictor):
    window, prelabelling = make_window(qtbot, tmp_path, RecordingFactory(predictor), images=1)
    controller, dataset = prelabelling.controller, window.document.dataset
    image_id = next(iter(dataset.images))

    def start_then_edit() -> None:
        controller.start([image_id], SETTINGS)
        # the person draws while the model runs: the result must not land on top of that
        AddInstances((square(image_id, dataset.new_instance_id()),)).apply(dataset)

    run_and_wait(qtbot, prelabelling, start_then_edit)
    assert not predictions(dataset, image_id)
    assert dataset.instance_count(image_id) == 1
    assert controller.progress.stale == 1
    assert any("edited while the model ran" in line for line in prelabelling.panel.problem_lines())


def test_missing_weights_give_one_clear_dialog(qtbot, tmp_path, monkeypatch):
    from annotator.app import load_predictor  # the real factory: torch is imported in the worker only

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    monkeypatch.setenv("ANNOTATOR_OFFLINE", "1")
    window, prelabelling = make_window(qtbot, tmp_path, load_predictor, images=3)
    controller = prelabelling.controller
    run_and_wait(
        qtbot, prelabelling, lambda: controller.start(sorted(window.document.dataset.images), SETTINGS)
    )
    assert controller.progress.state is RunState.FAILED
    box = prelabelling.fatal_box
    assert box is not None and box.isVisible()
    # what happened in one short line (it was one paragraph of five lines, path and URL first) ...
    assert box.text().startswith("The COCO weights of maskrcnn_resnet50_fpn") and "\n" not in box.text()
    assert "not on this computer (not downloaded, and downloads are off)" in box.text()
    assert len(box.text()) < 120
    # ... then what to do in the window, each way once, training on the project's labels first, and
    # where a downloaded file goes
    steps = box.informativeText()
    assert steps.index("Train on this project") < steps.index("Model ▸ Model settings")
    assert (box.text() + steps).count("Model settings") == 1
    assert "download https://download.pytorch.org/" in steps and "empty-torch-home" in steps
    from annotator.cli.main import COMMANDS

    words = re.findall(r"annotator ([a-z-]+)", box.text() + " " + box.informativeText())
    assert all(word in COMMANDS for word in words), words
    lines = prelabelling.panel.problem_lines()
    assert lines == [f"model: {box.text()}"]  # one line in the problems list: the dialog says the rest
    assert not any(i.source.is_model for i in window.document.dataset.instances.values())


def test_a_truncated_checkpoint_in_model_settings_is_one_clear_dialog(qtbot, tmp_path, checkpoint):
    """Weights cut in half, chosen in Model ▸ Model settings: one dialog naming the file and why (torch's
    reader said "cannot load checkpoint safely ([Errno 22] Invalid argument)"), and nothing is labelled."""
    from annotator.app import load_predictor  # the real factory: torch is imported in the worker only

    cut = tmp_path / "cut.pt"
    cut.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    window, prelabelling = make_window(qtbot, tmp_path, load_predictor, images=1)
    controller = prelabelling.controller
    chosen = replace(SETTINGS, weights=str(cut))
    run_and_wait(
        qtbot, prelabelling, lambda: controller.start(sorted(window.document.dataset.images), chosen)
    )
    assert controller.progress.state is RunState.FAILED
    box = prelabelling.fatal_box
    assert box is not None and box.isVisible()
    assert f"{cut}: is not a complete checkpoint (truncated" in box.text(), box.text()
    assert "Errno" not in box.text() + box.informativeText()
    assert not any(i.source.is_model for i in window.document.dataset.instances.values())


def test_classes_to_keep_by_name_and_an_unknown_name_is_one_clear_message(qtbot, tmp_path, predictor):
    window, prelabelling = make_window(qtbot, tmp_path, RecordingFactory(predictor), images=1)
    controller, dataset = prelabelling.controller, window.document.dataset
    image_id = next(iter(dataset.images))
    # the seeded random model favours a few classes (zebra among them): keep one by name, one by id
    two = PrelabelSettings(**{**SETTINGS.__dict__, "classes": "Zebra, 89"})
    run_and_wait(qtbot, prelabelling, lambda: controller.start([image_id], two))
    found = predictions(dataset, image_id)
    assert found and {i.category_id for i in found} <= {24, 89}
    assert {dataset.categories[i.category_id].name for i in found} <= {"zebra", "hair drier"}

    unknown = PrelabelSettings(**{**SETTINGS.__dict__, "classes": "unicorn"})
    run_and_wait(qtbot, prelabelling, lambda: controller.start([image_id], unknown))
    assert controller.progress.state is RunState.FAILED
    assert "no class 'unicorn'" in prelabelling.fatal_box.text()


def test_settings_are_remembered(qtbot, tmp_path):
    qsettings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert PrelabelSettings.load(qsettings) == PrelabelSettings()
    chosen = PrelabelSettings(
        model="maskrcnn_resnet50_fpn_v2",
        score_threshold=0.35,
        classes="person, car",
        input_size=640,
        max_detections=50,
        replace_predictions=False,
        redo_prelabelled=True,
    )
    dialog = PrelabelDialog(chosen)
    qtbot.addWidget(dialog)
    assert dialog.value() == chosen
    hint = dialog.weights.placeholderText()  # what empty means is read whole (it was cut at "torchvision'")
    assert dialog.weights.minimumWidth() > dialog.weights.fontMetrics().horizontalAdvance(hint)
    dialog.value().save(qsettings)
    again = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert PrelabelSettings.load(again) == chosen
    assert chosen.options().max_size == 640 and chosen.class_names() == ("person", "car")
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    dialog.weights.setText(str(tmp_path / "missing.pth"))
    assert not ok.isEnabled() and "no such file" in dialog.problem.text()
    dialog.weights.setText(str(tmp_path))  # a folder, and a named pipe: each said for what it is
    assert not ok.isEnabled() and "is a folder" in dialog.problem.text()
    os.mkfifo(tmp_path / "pipe.pt")
    dialog.weights.setText(str(tmp_path / "pipe.pt"))
    assert not ok.isEnabled() and "named pipe" in dialog.problem.text()


def test_predictions_on_the_image_shown_are_painted_at_once(qtbot, tmp_path, predictor):
    """Masks of a result for the image on screen appear as soon as it is applied: no zoom, no switch
    (the first instances of an image that had none used to show only their labels)."""
    from canvas_helpers import viewport_pixel

    from annotator.core.region import Region

    window, prelabelling = make_window(qtbot, tmp_path, RecordingFactory(predictor), images=1)
    window.labels_action.setChecked(False)
    window._restyle()
    qtbot.waitUntil(lambda: window.canvas.has_pixels)
    dataset, image_id = window.document.dataset, window.session.image_id
    assert not dataset.instances_of(image_id)
    plain = window.canvas.full_image()
    run_and_wait(qtbot, prelabelling, prelabelling.prelabel_current)
    image = dataset.images[image_id]
    insides = []
    for instance in dataset.instances_of(image_id):
        crop = Region(instance.geometry, image.height, image.width).crop
        if crop.empty:
            continue
        ys, xs = np.nonzero(cv2.erode(crop.mask, np.ones((5, 5), np.uint8)))
        if len(ys):
            insides.append((int(xs[len(xs) // 2]) + crop.x0, int(ys[len(ys) // 2]) + crop.y0))
    assert insides, "a random Mask R-CNN at threshold 0.05 gives some mask with an inside"
    x, y = insides[-1]
    before = plain.pixelColor(x, y).getRgb()[:3]

    def painted() -> bool:  # a large batch is composited in the tile worker: no event from the person
        after = viewport_pixel(window.canvas, x, y)
        return sum(abs(a - b) for a, b in zip(after, before, strict=True)) > 30

    qtbot.waitUntil(painted, timeout=10_000)


def test_all_images_shows_the_progress_panel_even_after_it_was_closed(qtbot, tmp_path, predictor):
    window, prelabelling = make_window(qtbot, tmp_path, RecordingFactory(predictor), images=2)
    panel = prelabelling.panel
    prelabelling.prelabel_current()
    qtbot.waitUntil(lambda: not prelabelling.controller.busy, timeout=RUN_TIMEOUT)
    panel.close()  # the person closes the panel after a first run
    assert not panel.isVisible()
    with qtbot.waitSignal(prelabelling.controller.run_finished, timeout=RUN_TIMEOUT):
        prelabelling.all_action.trigger()
        prelabelling.dialog.accept()
        assert panel.isVisible() and not panel.visibleRegion().isEmpty()
        assert panel.cancel_button.isEnabled() and panel.pause_button.isEnabled()
    assert panel.isVisible()


def test_a_run_where_every_image_fails_says_it_failed(qtbot, tmp_path, predictor):
    folder = tmp_path / "photos"
    write_images(folder, 0, broken="broken_a.png")
    (folder / "broken_b.png").write_bytes((folder / "broken_a.png").read_bytes())
    window, prelabelling = make_window(qtbot, tmp_path, RecordingFactory(predictor), images=0)
    dataset = window.document.dataset
    assert len(dataset.images) == 2
    run_and_wait(qtbot, prelabelling, lambda: prelabelling.start(sorted(dataset.images)))
    progress = prelabelling.controller.progress
    assert progress.state is RunState.FAILED and progress.failed == 2
    panel = prelabelling.panel
    assert panel.state_label.text() == "Failed" and panel.bar.text() == "Failed"
    assert "images/s" not in panel.figures.text()
    assert panel.figures.text().startswith("Failed: 0 of 2 images pre-labelled")
    assert "failed" in window.statusBar().currentMessage()


def test_predictions_with_empty_or_speck_masks_never_reach_the_project(qtbot, tmp_path, predictor):
    """A low threshold gives detections whose mask is empty (invisible, yet accepted by Ctrl+Enter and
    exported with area 0): they are dropped in the model, before they reach the project."""
    from annotator.core.geometry import area
    from annotator.io.images import load_rgb

    everything = replace(SETTINGS, max_detections=100)
    window, prelabelling = make_window(
        qtbot, tmp_path, RecordingFactory(predictor), images=1, settings=everything
    )
    dataset, image_id = window.document.dataset, window.session.image_id
    image = dataset.images[image_id]
    run_and_wait(qtbot, prelabelling, prelabelling.prelabel_current)
    found = predictions(dataset, image_id)
    assert found
    smallest = everything.min_mask_area
    assert smallest >= 1 and all(area(i.geometry, image.height, image.width) >= smallest for i in found)
    # the same model on the same image, keeping everything: some masks are empty
    raw = predictor.predict(
        load_rgb(window.document.image_path(image)), replace(everything.options(), min_mask_area=0)
    )
    raw_pixels = [int(d.mask.to_array().sum()) for d in raw]
    assert raw_pixels.count(0) > 0 and len(found) == sum(n >= smallest for n in raw_pixels)


def test_all_images_skips_an_unreadable_image_which_can_still_be_run_alone(qtbot, tmp_path, predictor):
    from annotator.core.rules import unreadable_reason

    window, prelabelling = make_window(
        qtbot, tmp_path, RecordingFactory(predictor), images=2, broken="zz_broken.png"
    )
    controller, dataset = prelabelling.controller, window.document.dataset
    broken_id = next(i for i, image in dataset.images.items() if image.file_name == "zz_broken.png")
    run_and_wait(
        qtbot, prelabelling, lambda: prelabelling.all_action.trigger() or prelabelling.dialog.accept()
    )
    assert controller.progress.failed == 1 and unreadable_reason(dataset.images[broken_id])

    prelabelling.all_action.trigger()  # a later "all images" run, even redoing everything, skips it
    dialog = prelabelling.dialog
    dialog.redo.setChecked(True)
    assert dialog.buttons.button(dialog.buttons.StandardButton.Ok).text() == "Pre-label 2 images"
    assert broken_id not in controller.images_for_all(redo=True)
    dialog.reject()

    window.show_image(broken_id)  # asked for explicitly, it is tried again
    run_and_wait(qtbot, prelabelling, prelabelling.prelabel_current)
    assert controller.progress.total == 1 and controller.progress.failed == 1


def test_the_settings_say_which_of_the_projects_models_the_weights_file_is(qtbot, tmp_path, predictor):
    from annotator.core.model_rounds import ModelRound
    from annotator.gui.training.actions import install_training

    window, prelabelling = make_window(qtbot, tmp_path, RecordingFactory(predictor), images=1)
    install_training(window, prelabelling)
    checkpoint = tmp_path / "round-2.pt"
    checkpoint.write_bytes(b"a checkpoint")
    details = {"architecture": "maskrcnn_resnet18_fpn"}
    trained = ModelRound(
        number=2, path=str(checkpoint), date="2026-12-07T03:00:00", images=20, val_ap50=0.61, details=details
    )
    window.training.history.add(window.document, trained)
    dialog = prelabelling._dialog(accept_text="Save")
    assert dialog.weights_note.isHidden() and not dialog.model.isHidden()  # COCO weights: the Model choice
    dialog.weights.setText(str(checkpoint))
    assert not dialog.weights_note.isHidden() and dialog.model.isHidden()
    assert (
        dialog.weights_note.text() == "Round 2 · 2026-12-07 · 20 images · AP50 0.61 (maskrcnn_resnet18_fpn)"
    )
    other = tmp_path / "elsewhere.pth"
    other.write_bytes(b"weights")
    dialog.weights.setText(str(other))  # any other file: a torchvision state dict needs the Model choice
    assert not dialog.model.isHidden() and "brings its own architecture" in dialog.weights_note.text()
    window.close()
