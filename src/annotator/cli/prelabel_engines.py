"""The two ways `annotator prelabel` runs the model: in this process, or on a Ray cluster.

Both load the model here first (a bad checkpoint or missing weights is reported before any image is
run, and the output needs the model's name and classes), then yield one `ImageResult` per image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from annotator.core.model import Category
from annotator.core.predictor import ModelSpec, PredictOptions
from annotator.core.wording import counted

if TYPE_CHECKING:
    from annotator.inference.batch import ImageResult
    from annotator.inference.ray_engine import RayOptions


@dataclass(frozen=True)
class LoadedInfo:
    """What the output needs to know of the model, and a few words on where it runs."""

    name: str
    categories: tuple[Category, ...]
    description: str
    input_size: tuple[int, int] | None = None  # (min_size, max_size) a model of ours was trained at


class LocalEngine:
    """The torch predictor in this process, one image after another."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._predictor = None

    def load(self) -> LoadedInfo:
        from annotator.inference.openmp import prefer_sleeping_threads

        prefer_sleeping_threads()  # before torch loads: spinning threads on shared cores (decision 0021)
        from annotator.inference.allocator import keep_freed_memory
        from annotator.inference.predictor import TorchPredictor, configure_threads

        configure_threads()
        keep_freed_memory()
        self._predictor = TorchPredictor.from_spec(self.spec)
        info = self._predictor.info
        description = f"{info.name}, {info.device}, {info.precision}"
        return LoadedInfo(info.name, info.categories, description, info.input_size)

    def results(self, paths: Sequence[Path], options: PredictOptions) -> Iterator[ImageResult]:
        from annotator.inference.batch import prelabel_images

        assert self._predictor is not None, "load() first"
        return prelabel_images(self._predictor, paths, options)


class RayEngine:
    """A Ray Data actor pool (`inference.ray_engine`); the model is also loaded here once, to check it."""

    def __init__(
        self, spec: ModelSpec, ray_options: RayOptions, *, report: Callable[[str], None] | None = None
    ) -> None:
        from annotator.inference.ray_engine import check_ray_installed

        check_ray_installed()  # before anything slow: one clear message when the extra is missing
        self.spec = spec
        self.ray_options = ray_options
        self.report = report

    def load(self) -> LoadedInfo:
        from annotator.inference.models import load_model, trained_input_size

        loaded = load_model(self.spec)
        description = f"{loaded.source}, on Ray"
        return LoadedInfo(loaded.source, loaded.categories, description, trained_input_size(loaded))

    def results(self, paths: Sequence[Path], options: PredictOptions) -> Iterator[ImageResult]:
        from annotator.inference.ray_engine import prelabel_on_ray

        def on_plan(plan) -> None:
            if self.report is not None:
                self.report(
                    f"annotator prelabel: Ray pool of {counted(plan.workers, 'worker')}, "
                    f"{plan.cpus_per_worker:g} CPU and {plan.gpus_per_worker:g} GPU each"
                )

        return prelabel_on_ray(paths, options, spec=self.spec, ray_options=self.ray_options, on_plan=on_plan)
