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
