"""Pre-labelling from the window with the app's own factory: the model runs in a child process, the
window's process never imports torch for it, and the child ends when the model changes or the window
closes. (That the window's process never imports torch is proven in tests/unit/test_subprocess_predictor.py
with torch blocked in the parent.)"""

from __future__ import annotations

from dataclasses import replace

from test_prelabel_gui import SETTINGS, make_window, predictions, run_and_wait

from annotator.app import load_predictor
from annotator.core.predictor import Device
from annotator.gui.prelabel.controller import RunState


class KeepingFactory:
    """The app's factory, remembering each predictor it made."""

    def __init__(self) -> None:
        self.made = []

    def __call__(self, spec):
        predictor = load_predictor(spec)
        self.made.append(predictor)
        return predictor


def test_the_model_process_pre_labels_and_ends_with_the_model_and_the_window(qtbot, tmp_path, checkpoint):
    factory = KeepingFactory()
    window, prelabelling = make_window(qtbot, tmp_path, factory, images=2)
    controller, dataset = prelabelling.controller, window.document.dataset
    settings = replace(SETTINGS, weights=str(checkpoint), score_threshold=0.3, device=Device.CPU)
    image_ids = sorted(dataset.images)

    run_and_wait(qtbot, prelabelling, lambda: controller.start(image_ids, settings))
    assert controller.progress.state is RunState.FINISHED
    assert all(predictions(dataset, i) for i in image_ids)
    assert {i.category_id for i in dataset.instances.values()} <= {3, 7, 44}  # the checkpoint's classes
    first = factory.made[0].process
    assert first.is_alive()

    other_device = replace(settings, device=Device.AUTO)  # another ModelSpec: a new model process
    run_and_wait(qtbot, prelabelling, lambda: controller.start(image_ids[:1], other_device))
    assert len(factory.made) == 2 and not first.is_alive() and first.exitcode == 0
    second = factory.made[1].process
    assert second.is_alive()

    window.close()
    assert not second.is_alive() and second.exitcode == 0


def test_a_model_process_that_dies_is_reported_once_and_replaced(qtbot, tmp_path, checkpoint):
    import os
    import signal

    factory = KeepingFactory()
    window, prelabelling = make_window(qtbot, tmp_path, factory, images=3)
    controller, dataset = prelabelling.controller, window.document.dataset
    settings = replace(SETTINGS, weights=str(checkpoint), score_threshold=0.3, device=Device.CPU)
    image_ids = sorted(dataset.images)
    run_and_wait(qtbot, prelabelling, lambda: controller.start(image_ids[:1], settings))
    os.kill(factory.made[0].process.pid, signal.SIGKILL)  # the model process crashes between runs
    problems = []
    controller.problem.connect(problems.append)
    run_and_wait(qtbot, prelabelling, lambda: controller.start(image_ids[1:], settings))
    assert len(problems) == 1 and "model process ended" in problems[0]  # one image lost, reported
    assert len(factory.made) == 2 and factory.made[1].process.is_alive()  # then a fresh process
    assert predictions(dataset, image_ids[2])
    window.close()


def test_an_idle_model_process_ends_and_the_next_run_starts_another(qtbot, tmp_path, checkpoint):
    """The model process gives its memory back after the idle time of Model settings (5 minutes by
    default; one second here), and the next request starts a fresh one."""
    from annotator.gui.prelabel.dialog import PrelabelSettings

    assert PrelabelSettings().release_after_s() == 300
    factory = KeepingFactory()
    window, prelabelling = make_window(qtbot, tmp_path, factory, images=2)
    controller, dataset = prelabelling.controller, window.document.dataset
    settings = replace(
        SETTINGS,
        weights=str(checkpoint),
        score_threshold=0.3,
        device=Device.CPU,
        release_after_minutes=1 / 60,
    )
    first_image, second_image = sorted(dataset.images)
    released = []
    controller.worker.released.connect(lambda: released.append(True))
    run_and_wait(qtbot, prelabelling, lambda: controller.start([first_image], settings))
    first = factory.made[0].process
    qtbot.waitUntil(lambda: released == [True], timeout=30000)
    assert not first.is_alive() and first.exitcode == 0

    run_and_wait(qtbot, prelabelling, lambda: controller.start([second_image], settings))
    assert len(factory.made) == 2 and predictions(dataset, second_image)
    assert controller.progress.state is RunState.FINISHED
    window.close()
    assert not factory.made[1].process.is_alive()


def test_pre_labelling_keeps_each_images_model_features_for_label_next(qtbot, tmp_path, checkpoint):
    """Issue 16: "label next" tells similar images apart by the pooled features pre-labelling kept, once
    they cover every image (the colour/texture descriptor until then); the kept vector is the one the
    model gives for that image, and they are kept beside the project for the next session."""
    import numpy as np
    from review_helpers import run_and_wait as rank_and_wait

    from annotator.core.edits import ReplaceImages
    from annotator.core.model import ImageStatus
    from annotator.core.ranking import dataset_uncertainty, rank_images
    from annotator.inference.predictor import TorchPredictor
    from annotator.io.images import load_rgb
    from annotator.io.model_features import features_path, model_key, read_features

    window, prelabelling = make_window(qtbot, tmp_path, KeepingFactory(), images=3)
    controller, dataset, document = prelabelling.controller, window.document.dataset, window.document
    settings = replace(SETTINGS, weights=str(checkpoint), score_threshold=0.3, device=Device.CPU)
    labelled, *image_ids = sorted(dataset.images)  # one image done by hand, never pre-labelled
    done = dataset.images[labelled]
    ReplaceImages((done,), (replace(done, status=ImageStatus.DONE),)).apply(dataset)
    label_next = window.assisted.label_next

    with qtbot.waitSignal(controller.features_kept, timeout=30000):  # written off the GUI thread
        run_and_wait(qtbot, prelabelling, lambda: controller.start(image_ids[:1], settings))
    kept = read_features(features_path(document.path))
    assert kept.model == model_key(settings.spec())
    assert set(kept.vectors) == {dataset.images[image_ids[0]].file_name}
    rank_and_wait(qtbot, label_next.job, label_next.start)
    assert "look-alikes by colour and texture" in window.statusBar().currentMessage()  # one image has none

    with qtbot.waitSignal(controller.features_kept, timeout=30000):
        run_and_wait(qtbot, prelabelling, lambda: controller.start(image_ids[1:], settings))
    kept = read_features(features_path(document.path))
    assert len(kept.vectors) == 2  # the first run's vector kept, this one's added
    image = dataset.images[image_ids[1]]
    model = TorchPredictor.from_spec(settings.spec())
    _, expected = model.predict_and_embed(load_rgb(document.image_path(image)), settings.options())
    # float32 sums in another order (the model process's threads against this one's, which earlier
    # tests may have changed) differ by about 1e-5 of the vector's size, near zero too
    scale = float(np.abs(expected).max())
    assert np.allclose(kept.vectors[image.file_name], expected, rtol=1e-4, atol=1e-5 * scale)

    rank_and_wait(qtbot, label_next.job, label_next.refresh)  # every image not done has features now
    assert "look-alikes by model features" in window.statusBar().currentMessage()
    vectors = kept.for_images({i: dataset.images[i].file_name for i in image_ids})
    ranking = rank_images(dataset_uncertainty(dataset), vectors, labelled={})  # the done one has none
    assert label_next.ranks == {image_id: place for place, image_id in enumerate(ranking.image_ids, 1)}
    assert set(label_next.ranks) == set(image_ids)
    label_next.features_changed()  # a batch of features landed after the predictions' re-ranking
    assert label_next.job.rerun_timer.isActive()  # ranked again after the quiet time
    label_next.stop()
    label_next.features_changed()
    assert not label_next.job.rerun_timer.isActive()  # the column is hidden: nothing to rank
    window.close()


def test_model_features_are_kept_batch_by_batch_during_a_run_and_all_of_them_when_the_window_closes(
    qtbot, tmp_path, checkpoint, monkeypatch
):
    """They are written off the GUI thread, a batch at a time, so a crash loses at most a batch; closing
    the window waits for the batches still to write."""
    from annotator.gui.prelabel import controller as controller_module
    from annotator.io.model_features import features_path, read_features

    monkeypatch.setattr(controller_module, "KEEP_FEATURES_EVERY", 1)
    monkeypatch.setattr(controller_module, "KEEP_FEATURES_S", 0.0)
    window, prelabelling = make_window(qtbot, tmp_path, KeepingFactory(), images=3)
    controller, dataset, document = prelabelling.controller, window.document.dataset, window.document
    settings = replace(SETTINGS, weights=str(checkpoint), score_threshold=0.3, device=Device.CPU)
    image_ids = sorted(dataset.images)
    path = features_path(document.path)
    kept = []
    controller.features_kept.connect(lambda: kept.append(len(read_features(path).vectors)))

    run_and_wait(qtbot, prelabelling, lambda: controller.start(image_ids[:2], settings))
    qtbot.waitUntil(lambda: len(kept) == 2, timeout=30000)
    assert kept == [1, 2]  # one image's vector more in the file after each batch

    run_and_wait(qtbot, prelabelling, lambda: controller.start(image_ids[2:], settings))
    window.close()  # no wait for the last batch's signal: closing waits for the write
    assert set(read_features(path).vectors) == {dataset.images[i].file_name for i in image_ids}
