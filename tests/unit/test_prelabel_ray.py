"""Pre-labelling on a local 2-CPU Ray instance with a small random Mask R-CNN, whose worker dies once
midway: Ray restarts it and its images are done again; every image comes back once, with the same
detections as the in-process predictor; a broken image is an error row that keeps the others of its
batch. (tests/e2e/test_cli_prelabel_resume.py runs the command line on Ray, killed and resumed.)

The pool is sized by default (`plan_pool`), as on a 2-CPU machine: a run that hangs fails the test after
a time limit instead of hanging the suite.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from annotator.core.predictor import Device, ModelSpec, PredictOptions
from annotator.inference.ray_engine import RayOptions, prelabel_on_ray

pytestmark = [pytest.mark.ray, pytest.mark.slow]

HEIGHT, WIDTH = 96, 128
OPTIONS = PredictOptions(min_size=HEIGHT, max_size=WIDTH, proposals=100, max_detections=5)
TIME_LIMIT_S = 240


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module, as on a 2-CPU machine."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    # the test module's predictor wrappers go to the workers by value (the tests folder is not on their path)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("ray-images")
    rng = np.random.default_rng(3)
    paths = []
    for index in range(6):
        path = folder / f"img_{index}.png"
        if index == 2:
            whole = cv2.imencode(".png", np.full((HEIGHT, WIDTH, 3), 128, np.uint8))[1].tobytes()
            path.write_bytes(whole[: len(whole) // 2])  # the header reads, the pixels do not
        else:
            small = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
            cv2.imwrite(str(path), cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def spec(checkpoint) -> ModelSpec:
    return ModelSpec(weights=checkpoint, device=Device.CPU)


@pytest.fixture(scope="module")
def in_process(spec, images) -> dict[str, list]:
    """What the in-process predictor finds on each good image."""
    from annotator.inference.batch import prelabel_images
    from annotator.inference.predictor import TorchPredictor, configure_threads

    configure_threads()
    predictor = TorchPredictor.from_spec(spec)
    return {
        r.path.name: _comparable(r.detections) for r in prelabel_images(predictor, images, OPTIONS) if r.ok
    }


def _comparable(detections) -> list:
    return [(d.category_id, d.score, d.box, d.mask.rle) for d in detections]


def _run_with_time_limit(**kwargs) -> list:
    """All results of `prelabel_on_ray`; fails (instead of hanging) when Ray stops making progress."""
    results: list = []
    failure: list[BaseException] = []

    def consume() -> None:
        try:
            results.extend(prelabel_on_ray(**kwargs))
        except BaseException as exc:  # reported by the test below
            failure.append(exc)

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    worker.join(TIME_LIMIT_S)
    assert not worker.is_alive(), f"the Ray run hung: {len(results)} results after {TIME_LIMIT_S} s"
    if failure:
        raise failure[0]
    return results


class DiesOnce:
    """Builds the real predictor, which kills its worker process at its third image, once (a marker file
    tells the restarted worker that it already happened)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __call__(self, spec: ModelSpec):
        from annotator.inference.predictor import TorchPredictor

        return _DyingPredictor(TorchPredictor.from_spec(spec), self.marker)


class _DyingPredictor:
    def __init__(self, inner, marker: Path) -> None:
        self.inner, self.marker, self.calls = inner, marker, 0

    @property
    def info(self):
        return self.inner.info

    def predict(self, image, options):
        self.calls += 1
        if self.calls == 3 and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)  # as a worker killed by the OOM killer or a lost node would
        return self.inner.predict(image, options)


def test_a_worker_that_dies_is_restarted_and_its_images_done_again(
    ray_instance, spec, images, in_process, tmp_path
):
    marker, plans = tmp_path / "died", []
    results = _run_with_time_limit(
        paths=images,
        options=OPTIONS,
        spec=spec,
        ray_options=RayOptions(),
        factory=DiesOnce(marker),
        on_plan=plans.append,
    )
    assert plans[0].workers * plans[0].cpus_per_worker <= 1.0  # the default pool left Ray Data a CPU
    assert marker.exists(), "the worker never died: the test proves nothing"
    assert sorted(r.path.name for r in results) == sorted(p.name for p in images)  # each exactly once
    broken = [r for r in results if not r.ok]  # an error row; the others of its batch are kept
    assert [r.path.name for r in broken] == ["img_2.png"] and "broken" in broken[0].error
    assert {r.path.name: _comparable(r.detections) for r in results if r.ok} == in_process
    assert any(in_process.values())  # the model did find something to compare
    assert results[-1].progress.done == len(images) == results[-1].progress.total


def test_the_workers_send_back_each_images_pooled_features(ray_instance, spec, images):
    """`prelabel --embeddings` on Ray: the vectors are those of the in-process predictor, bit for bit."""
    from dataclasses import replace

    from annotator.inference.predictor import TorchPredictor

    options = replace(OPTIONS, embed=True)
    results = _run_with_time_limit(paths=images, options=options, spec=spec, ray_options=RayOptions())
    predictor = TorchPredictor.from_spec(spec)
    good = [r for r in results if r.ok]
    assert len(good) == len(images) - 1 and all(r.embedding is None for r in results if not r.ok)
    for result in good:
        rgb = cv2.cvtColor(cv2.imread(str(result.path)), cv2.COLOR_BGR2RGB)
        _, expected = predictor.predict_and_embed(rgb, options)
        np.testing.assert_array_equal(result.embedding, expected)
