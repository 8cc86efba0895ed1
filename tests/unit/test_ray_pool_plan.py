"""Sizing the Ray actor pool (no Ray needed): it fits the nodes and always leaves Ray Data a CPU (half of
a 1-CPU node), so a small machine never deadlocks; what cannot fit is refused instead of waiting forever."""

from __future__ import annotations

import pytest

from annotator.inference.ray_engine import DATA_RESERVE_CPUS, plan_pool


def test_two_cpus_default_is_one_worker_that_leaves_ray_data_a_cpu():
    plan = plan_pool([2.0], 0.0)
    assert plan.workers == 1
    assert plan.workers * plan.cpus_per_worker <= 2.0 - DATA_RESERVE_CPUS  # never every CPU
    assert plan.threads == 2  # but torch still runs on both cores
    one = plan_pool([1.0], 0.0)
    assert (one.workers, one.cpus_per_worker, one.threads) == (1, 0.5, 1)


def test_asking_for_more_workers_splits_each_node():
    plan = plan_pool([2.0], 0.0, workers=2)
    assert plan.workers == 2 and plan.workers * plan.cpus_per_worker <= 2.0 - DATA_RESERVE_CPUS
    assert plan.threads == 1


def test_a_cluster_gets_one_worker_per_node_or_per_gpu_share():
    cpus = plan_pool([16.0, 16.0, 16.0], 0.0)
    assert (cpus.workers, cpus.cpus_per_worker, cpus.threads) == (3, 15.0, 16)
    gpus = plan_pool([16.0, 16.0], 4.0, gpus_per_worker=0.5)
    assert (gpus.workers, gpus.cpus_per_worker, gpus.gpus_per_worker) == (8, 1.0, 0.5)
    assert plan_pool([8.0, 8.0], 0.0, cpus_per_worker=3).workers == 4  # 2 per node, 2 CPUs left on each


@pytest.mark.parametrize(
    ("nodes", "gpus", "options", "words"),
    [
        ([2.0], 0.0, {"cpus_per_worker": 2.0}, "fits on no node"),
        ([2.0], 0.0, {"gpus_per_worker": 1.0}, "0 GPUs"),
        ([], 0.0, {}, "no CPUs"),
        ([4.0], 0.0, {"workers": 0}, "at least 1"),
    ],
)
def test_what_could_never_run_is_refused(nodes, gpus, options, words):
    with pytest.raises(ValueError, match=words):
        plan_pool(nodes, gpus, **options)
