"""Batch pre-labelling and applying results to a dataset: cancel, pause, broken images, z-order, undo.

The batch tests drive the real torch predictor (a random model) through a thin wrapper that records
calls and presses "cancel" at a chosen moment, as the GUI's button would from another thread.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from annotator.core.geometry import Mask, Polygons
from annotator.core.model import Category, Dataset, Image, ImageStatus, Instance, Review, Source
from annotator.core.predictor import CancelToken, Detection, PredictOptions, Predictor
from annotator.core.prelabel import prelabel_edit
from annotator.inference.batch import Progress, prelabel_images

HEIGHT, WIDTH = 96, 128
# few proposals and detections: these tests are about the batch, not about what is detected
OPTIONS = PredictOptions(
    score_threshold=0.5, min_size=HEIGHT, max_size=WIDTH, proposals=100, max_detections=10
)


@pytest.fixture(scope="module")
def torch_predictor():
    torch = pytest.importorskip("torch")
    from annotator.core.predictor import Precision
    from annotator.inference.models import LoadedModel, build_model, coco_categories
    from annotator.inference.predictor import TorchPredictor

    torch.manual_seed(0)
    loaded = LoadedModel(build_model("maskrcnn_resnet50_fpn"), "maskrcnn_resnet50_fpn", tuple(range(91)),
                         coco_categories(), "random")  # fmt: skip
    return TorchPredictor(loaded, precision=Precision.FP32)


class Recording:
    """A predictor that delegates to a real one, counts calls, and may cancel during call `cancel_at`."""

    def __init__(self, inner: Predictor, token: CancelToken | None = None, cancel_at: int | None = None):
        self.inner, self.token, self.cancel_at, self.calls = inner, token, cancel_at, 0

    @property
    def info(self):
        return self.inner.info

    def predict(self, image, options):
        self.calls += 1
        if self.token is not None and self.calls == self.cancel_at:
            threading.Thread(target=self.token.cancel).start()  # "cancel" pressed mid-image
            time.sleep(0.05)
        return self.inner.predict(image, options)


def write_images(folder, count, *, broken_at=None):
    rng = np.random.default_rng(1)
    paths = []
    for index in range(count):
        path = folder / f"img_{index:02d}.png"
        if index == broken_at:
            whole = cv2.imencode(".png", np.full((HEIGHT, WIDTH, 3), 128, np.uint8))[1].tobytes()
            path.write_bytes(whole[: len(whole) // 2])  # the header reads, the pixels do not
        else:
            small = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
            cv2.imwrite(str(path), cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC))
        paths.append(path)
    return paths


def test_results_arrive_per_image_with_progress(tmp_path, torch_predictor):
    paths = write_images(tmp_path, 3)
    results = list(prelabel_images(torch_predictor, paths, OPTIONS))
    assert [r.index for r in results] == [0, 1, 2] and all(r.ok for r in results)
    assert [(r.progress.done, r.progress.total) for r in results] == [(1, 3), (2, 3), (3, 3)]
    assert results[-1].progress.eta_seconds == 0 and results[-1].progress.images_per_second > 0
    assert (results[0].width, results[0].height) == (WIDTH, HEIGHT)
    assert any(r.detections for r in results)
    assert "3/3 images" in results[-1].progress.text()


def test_cancel_stops_within_one_image(tmp_path, torch_predictor):
    paths = write_images(tmp_path, 5)
    token = CancelToken()
    recording = Recording(torch_predictor, token, cancel_at=2)
    results = list(prelabel_images(recording, paths, OPTIONS, cancel=token))
    # the image being worked on when cancel came finishes; no further image is started
    assert recording.calls == 2 and len(results) == 2


def test_pause_blocks_before_the_next_image_and_resume_continues(tmp_path, torch_predictor):
    paths = write_images(tmp_path, 2)
    token = CancelToken()
    token.pause()
    results = []
    worker = threading.Thread(
        target=lambda: results.extend(prelabel_images(torch_predictor, paths, OPTIONS, cancel=token))
    )
    worker.start()
    worker.join(timeout=0.3)
    assert worker.is_alive() and results == []  # paused before the first image
    token.resume()
    worker.join(timeout=60)
    assert len(results) == 2


def test_a_broken_image_is_reported_and_skipped(tmp_path, torch_predictor):
    paths = write_images(tmp_path, 3, broken_at=1)
    recording = Recording(torch_predictor)
    results = list(prelabel_images(recording, paths, OPTIONS))
    assert [r.ok for r in results] == [True, False, True]
    assert "img_01.png" in results[1].error and "broken" in results[1].error
    assert recording.calls == 2 and results[2].progress.done == 3


def test_progress_eta():
    progress = Progress(done=2, total=10, elapsed=4.0)
    assert progress.images_per_second == 0.5 and progress.eta_seconds == 16.0
    assert Progress(0, 10, 0.0).eta_seconds is None


# -- applying results to a dataset --------------------------------------------------------------------


def square(x0, y0, size, h=40, w=60) -> Mask:
    mask = np.zeros((h, w), np.uint8)
    mask[y0 : y0 + size, x0 : x0 + size] = 1
    return Mask.from_array(mask)


def detection(category_id, score, x0, y0, size) -> Detection:
    return Detection(category_id, score, (x0, y0, x0 + size, y0 + size), square(x0, y0, size))


def dataset_with_history() -> Dataset:
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 60, 40)])
    dataset.put_categories([Category(1, "person")])
    manual = Instance(1, 1, 1, Polygons.from_flat([[1, 1, 10, 1, 10, 10]]), z=0)
    old_prediction = Instance(2, 1, 1, square(20, 20, 5), z=1, source=Source.from_model("m", 0.9))
    accepted = Instance(
        3, 1, 1, square(30, 5, 5), z=2, source=Source.from_model("m", 0.8), review=Review.ACCEPTED
    )
    dataset.put_instances([manual, old_prediction, accepted])
    return dataset


def test_prelabel_edit_adds_predictions_above_and_replaces_unreviewed_ones():
    dataset = dataset_with_history()
    detections = [detection(1, 0.9, 40, 5, 4), detection(18, 0.7, 0, 0, 30)]
    categories = [Category(1, "person"), Category(18, "dog")]
    edit = prelabel_edit(dataset, 1, detections, model_name="maskrcnn", categories=categories)
    edit.apply(dataset)
    kept = {i.id for i in dataset.instances_of(1)}
    assert {1, 3} <= kept and 2 not in kept  # manual and accepted kept; the unreviewed prediction replaced
    new = [i for i in dataset.instances_of(1) if i.id not in (1, 3)]
    assert len(new) == 2
    assert all(
        i.source.is_model and i.source.model == "maskrcnn" and i.review is Review.UNREVIEWED for i in new
    )
    assert sorted(i.score for i in new) == pytest.approx([0.7, 0.9])
    assert min(i.z for i in new) > 2  # above everything already there
    big, small = sorted(new, key=lambda i: dataset.area_of(i), reverse=True)
    assert big.z < small.z  # larger behind smaller
    assert dataset.categories[18].name == "dog"
    assert dataset.images[1].status is ImageStatus.IN_REVIEW  # a person's labels are on it: not "new" work
    edit.revert(dataset)
    assert {i.id for i in dataset.instances_of(1)} == {1, 2, 3} and 18 not in dataset.categories
    assert dataset.images[1].status is ImageStatus.NEW


def test_an_image_nobody_labelled_becomes_prelabeled():
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 60, 40)])
    prelabel_edit(dataset, 1, [detection(1, 0.9, 0, 0, 8)], model_name="m").apply(dataset)
    assert dataset.images[1].status is ImageStatus.PRELABELED


def test_prelabel_edit_can_keep_earlier_predictions_and_respects_later_statuses():
    dataset = dataset_with_history()
    from dataclasses import replace

    dataset.put_images([replace(dataset.images[1], status=ImageStatus.DONE)])
    prelabel_edit(dataset, 1, [detection(1, 0.6, 0, 0, 8)], model_name="m", replace_predictions=False).apply(
        dataset
    )
    assert len(dataset.instances_of(1)) == 4
    assert dataset.images[1].status is ImageStatus.DONE


def test_prelabel_edit_refuses_masks_of_another_size():
    dataset = dataset_with_history()
    wrong = Detection(1, 0.9, (0, 0, 5, 5), Mask.from_array(np.ones((10, 10), np.uint8)))
    with pytest.raises(ValueError, match="10x10"):
        prelabel_edit(dataset, 1, [wrong], model_name="m")


class FailingOnce(Recording):
    """The real predictor, except that call `fail_at` fails as a model can (out of memory, a driver error)."""

    def __init__(self, inner: Predictor, fail_at: int):
        super().__init__(inner)
        self.fail_at = fail_at

    def predict(self, image, options):
        if self.calls + 1 == self.fail_at:
            self.calls += 1
            raise RuntimeError("CUDA out of memory")
        return super().predict(image, options)


def test_a_model_failure_mid_batch_is_reported_and_the_rest_still_runs(tmp_path, torch_predictor):
    paths = write_images(tmp_path, 4)
    results = list(prelabel_images(FailingOnce(torch_predictor, fail_at=2), paths, OPTIONS))
    assert [r.ok for r in results] == [True, False, True, True]
    assert "img_01.png" in results[1].error and "CUDA out of memory" in results[1].error
    expected = [torch_predictor.predict(cv2.imread(str(p))[:, :, ::-1].copy(), OPTIONS) for p in paths]
    assert [len(r.detections) for r in results] == [len(expected[0]), 0, len(expected[2]), len(expected[3])]
