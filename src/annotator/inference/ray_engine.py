"""Pre-labelling on a Ray cluster: Ray Data feeds image paths to a pool of actors that each load the
predictor once; results stream back to the caller as they finish (see docs/scaling.md).

Workers open the images themselves, from a path they can see (a shared file system, or object storage
mounted on every node): only paths go out and only detections (RLE) come back. Each image is caught on
its own inside the worker, since Ray drops a whole batch when its function raises. A worker that dies is
restarted by Ray and its batch is run again. Resources are declared so that a small machine never
deadlocks: the pool leaves a CPU of each node to Ray Data (on 2 CPUs, a pool that takes both hangs).
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from annotator.core.predictor import ModelSpec, PredictOptions, Predictor
from annotator.inference.batch import ImageResult, Progress, prelabel_images
from annotator.io.prelabel_journal import (
    detection_rows,
    detections_from_rows,
    embedding_from_text,
    embedding_text,
)

DATA_RESERVE_CPUS = 1.0  # per node (half of a 1-CPU node), never declared by the pool: Ray Data's tasks
MAX_BLOCKS = 10_000  # paths go in at most this many blocks (Ray makes them at about 1-2 ms each)
TASK_RETRIES = 3  # a batch that kills its worker this many times fails the run (what finished is kept)

PredictorFactory = Callable[[ModelSpec], Predictor]


class RayUnavailable(RuntimeError):
    """`ray[data]` is not installed."""


class RayRunFailed(RuntimeError):
    """The Ray run stopped (a worker could not start, or a batch killed its worker too often)."""


@dataclass(frozen=True, kw_only=True)
class RayOptions:
    """Where and how wide to run. None: chosen from the cluster's resources (`plan_pool`)."""

    address: str | None = None  # None: a new local Ray instance on this machine; "auto"; "ray://host:port"
    workers: int | None = None
    cpus_per_worker: float | None = None
    gpus_per_worker: float = 0.0
    batch_size: int = 4
    num_cpus: int | None = None  # for a local instance only: CPUs it may use (default: all)


@dataclass(frozen=True)
class PoolPlan:
    """The actor pool: how many actors, what each declares to Ray, and torch threads in each."""

    workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    threads: int


def data_reserve(node_cpus: float) -> float:
    """The CPUs a node keeps free of the pool, for Ray Data's own tasks (which ask 1 CPU by default)."""
    return min(DATA_RESERVE_CPUS, node_cpus / 2)


def plan_pool(
    node_cpus: Sequence[float],
    total_gpus: float,
    *,
    workers: int | None = None,
    cpus_per_worker: float | None = None,
    gpus_per_worker: float = 0.0,
) -> PoolPlan:
    """Size the pool so that it fits the nodes and leaves each one `data_reserve` CPUs for Ray Data.

    Default: one actor per GPU share, or on CPUs one actor per node declaring what the node has left
    and running torch on all its cores (declared CPUs are Ray's bookkeeping, threads are real).
    ValueError when no node could run even one actor (the run would wait forever).
    """
    node_cpus = [c for c in node_cpus if c > 0]
    if not node_cpus:
        raise ValueError("the Ray cluster has no CPUs")
    if gpus_per_worker < 0 or (workers is not None and workers < 1):
        raise ValueError("--workers must be at least 1 and --gpus-per-worker at least 0")
    if gpus_per_worker > 0 and total_gpus < gpus_per_worker:
        raise ValueError(f"--gpus-per-worker {gpus_per_worker:g}: the Ray cluster has {total_gpus:g} GPUs")
    usable = [c - data_reserve(c) for c in node_cpus]
    asked = cpus_per_worker
    if cpus_per_worker is None:
        if gpus_per_worker > 0:
            cpus_per_worker = min(1.0, max(usable))
        else:
            cpus_per_worker = min(usable) / (1 if workers is None else math.ceil(workers / len(node_cpus)))
    if cpus_per_worker <= 0 or cpus_per_worker > max(usable):
        raise ValueError(
            f"a worker asking for {cpus_per_worker:g} CPUs fits on no node (the largest has "
            f"{max(node_cpus):g}, of which {data_reserve(max(node_cpus)):g} is left to Ray Data)"
        )
    if workers is None:
        if gpus_per_worker > 0:
            workers = max(1, int(total_gpus // gpus_per_worker))
        else:
            workers = max(1, sum(int(c // cpus_per_worker) for c in usable))
    if asked is not None or gpus_per_worker > 0:
        threads = math.ceil(cpus_per_worker)
    else:  # the node's cores shared among its actors
        threads = int(min(node_cpus) // math.ceil(workers / len(node_cpus)))
    return PoolPlan(workers, cpus_per_worker, gpus_per_worker, max(1, threads))


class PrelabelActor:
    """One pool member: loads the predictor once, then pre-labels batches of image paths.

    Returns one row per path, never raises for an image: a broken file or a model error becomes an
    error row, so the other images of the batch are kept.
    """

    def __init__(
        self, spec: ModelSpec, options: PredictOptions, threads: int, factory: PredictorFactory | None = None
    ) -> None:
        from annotator.inference.openmp import prefer_sleeping_threads

        prefer_sleeping_threads()  # before torch loads in this worker: actors share a node's cores
        import torch

        from annotator.inference.allocator import keep_freed_memory

        torch.set_num_threads(threads)
        keep_freed_memory()
        if factory is None:
            from annotator.inference.predictor import TorchPredictor

            factory = TorchPredictor.from_spec
        self._predictor = factory(spec)
        self._options = options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [self._one(str(path)) for path in batch["path"]]
        return {key: np.array([row[key] for row in rows], dtype=object) for key in _ROW_KEYS}

    def _one(self, path: str) -> dict[str, Any]:
        try:
            (result,) = prelabel_images(self._predictor, [path], self._options)
        except Exception as exc:  # anything the batch itself did not catch still fails only this image
            result = ImageResult(
                0, Path(path), 0, 0, (), f"{path}: {type(exc).__name__}: {exc}", _NO_PROGRESS
            )
        return {
            "path": path,
            "width": result.width,
            "height": result.height,
            "error": result.error or "",
            "detections": orjson.dumps(detection_rows(result.detections)),
            "embedding": "" if result.embedding is None else embedding_text(result.embedding),
        }


_ROW_KEYS = ("path", "width", "height", "error", "detections", "embedding")
_NO_PROGRESS = Progress(0, 0, 0.0)


def prelabel_on_ray(
    paths: Sequence[str | Path],
    options: PredictOptions,
    *,
    spec: ModelSpec,
    ray_options: RayOptions = RayOptions(),
    factory: PredictorFactory | None = None,
    on_plan: Callable[[PoolPlan], None] | None = None,
) -> Iterator[ImageResult]:
    """Pre-label `paths` on Ray; yields each image's result as it comes back (in no fixed order).

    Connects to `ray_options.address`, or starts a local instance (shut down again at the end) unless
    Ray is already initialised in this process. `factory` builds each actor's predictor (default: the
    torch predictor for `spec`); `on_plan` is told the pool's size before the first image.
    """
    if not paths:
        return
    ray = _import_ray()
    started_here = _connect(ray, ray_options)
    try:
        plan = _plan(ray, ray_options)
        if on_plan is not None:
            on_plan(plan)
        yield from _run(ray, list(paths), options, spec, plan, ray_options.batch_size, factory)
    finally:
        if started_here:
            ray.shutdown()


def check_ray_installed() -> None:
    """RayUnavailable, with how to install it, unless `ray[data]` can be imported."""
    _import_ray()


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (the Data library is the `data` extra)
    except ImportError as exc:
        raise RayUnavailable(
            f"--engine ray needs Ray Data ({exc.name or 'ray'} is not installed): "
            "pip install 'annotator[ray]'"
        ) from None
    return ray


def _connect(ray, ray_options: RayOptions) -> bool:
    """Start or join a Ray instance; True when this call started it (and must shut it down)."""
    if ray.is_initialized():
        return False
    # The core worker's C++ log would warn on stderr about every pool (its constructor arguments sit in
    # the object store, as Ray Data always puts them); Ray's log files keep everything.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    local = ray_options.address is None
    ray.init(
        address="local" if local else ray_options.address,
        num_cpus=ray_options.num_cpus if local else None,
        include_dashboard=False if local else None,
        logging_level=logging.ERROR,
        log_to_driver=False,
    )
    return True


def _plan(ray, ray_options: RayOptions) -> PoolPlan:
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    node_cpus = [float(n.get("Resources", {}).get("CPU", 0)) for n in nodes]
    total_gpus = sum(float(n.get("Resources", {}).get("GPU", 0)) for n in nodes)
    try:
        return plan_pool(
            node_cpus,
            total_gpus,
            workers=ray_options.workers,
            cpus_per_worker=ray_options.cpus_per_worker,
            gpus_per_worker=ray_options.gpus_per_worker,
        )
    except ValueError as exc:
        from annotator.io.errors import DatasetError

        raise DatasetError(None, f"--engine ray: {exc}") from None


def _run(ray, paths, options, spec, plan: PoolPlan, batch_size: int, factory) -> Iterator[ImageResult]:
    _quiet_ray_data(ray)
    # One block is one actor call: its results come back when it ends, and it is run again whole if its
    # worker dies. So blocks of `batch_size` images, unless that makes too many blocks.
    blocks = max(1, min(MAX_BLOCKS, math.ceil(len(paths) / batch_size)))
    dataset = ray.data.from_items([{"path": str(p)} for p in paths], override_num_blocks=blocks)
    with warnings.catch_warnings():  # max_restarts and max_task_retries have no named parameter yet
        warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated", category=DeprecationWarning)
        results = _pool_map(ray, dataset, spec, options, plan, factory)
    started = time.perf_counter()
    done = 0
    try:
        for batch in results.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
            for path, width, height, error, detections, embedding in zip(
                *(batch[key] for key in _ROW_KEYS), strict=True
            ):
                done += 1
                progress = Progress(done, len(paths), time.perf_counter() - started)
                found = (str(error), detections, embedding or None)
                yield _result(done - 1, str(path), int(width), int(height), *found, progress)
    except ray.exceptions.RayError as exc:
        raise RayRunFailed(f"the Ray run stopped: {_last_line(exc)}") from None


def _last_line(exc: BaseException) -> str:
    """The line of a Ray error that says what went wrong (its message is a remote traceback)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _pool_map(ray, dataset, spec, options, plan: PoolPlan, factory):
    return dataset.map_batches(
        PrelabelActor,
        fn_constructor_kwargs={"spec": spec, "options": options, "threads": plan.threads, "factory": factory},
        batch_size=None,  # a block as it is: no bundling of blocks into one longer call
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=plan.workers, initial_size=plan.workers),
        num_cpus=plan.cpus_per_worker,
        num_gpus=plan.gpus_per_worker or None,
        max_restarts=-1,  # a dead worker is always replaced...
        max_task_retries=TASK_RETRIES,  # ...and its batch run again, but not forever
    )


def _result(index, path, width, height, error, detections, embedding, progress) -> ImageResult:
    if error:
        return ImageResult(index, Path(path), width, height, (), error, progress)
    try:
        found = detections_from_rows(orjson.loads(detections), height, width)
        vector = embedding_from_text(embedding)
    except ValueError as exc:  # never expected: our own worker wrote it
        return ImageResult(
            index, Path(path), width, height, (), f"{path}: bad result from a worker ({exc})", progress
        )
    return ImageResult(index, Path(path), width, height, found, None, progress, embedding=vector)


def _quiet_ray_data(ray) -> None:
    """No progress bars or per-run log lines from Ray Data: the CLI draws its own progress."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.ERROR)
