"""Resuming a run: what a resumable checkpoint stores besides the model, and putting it back.

A "last" checkpoint holds, under `training`: the run's config, epoch and position in it, step, training
time so far, the best validation AP, the optimizer's state and torch's RNG state. Data order and
augmentation are seeded by (seed, epoch, index), so they need no state of their own: a resumed run sees
the same batches it would have seen.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from annotator.inference.architectures import build
from annotator.inference.models import Checkpoint, read_checkpoint
from annotator.inference.train_config import ConfigError, TrainConfig
from annotator.inference.train_setup import StartingPoint
from annotator.io.errors import DatasetError

if TYPE_CHECKING:
    from annotator.inference.training import _Run


def resume_payload(run: _Run, elapsed: float) -> dict[str, Any]:
    """The `training` entry of a resumable checkpoint (tensors and plain data only)."""
    return {
        "config": run.config.to_json(),
        "epoch": run.epoch,
        "position": run.position,
        "step": run.step,
        "elapsed_s": float(elapsed),
        "best": None if run.best is None else [float(v) for v in run.best],
        "model_saved": run.model_saved,
        "optimizer": run.optimizer.state_dict(),
        "scaler": None if run.precision.scaler is None else run.precision.scaler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "weight_average": None if run.average is None else run.average.state(),
        "previous_history": [dict(entry) for entry in run.start.history],
    }


@dataclass(frozen=True)
class ResumeState:
    checkpoint: Checkpoint
    training: Mapping[str, Any]

    def config_for(self, given: TrainConfig) -> TrainConfig:
        """The saved run's config, with the data, output and device given now; the given --epochs or
        --minutes, if any, replace the saved ones (to extend a run)."""
        try:
            saved = TrainConfig.from_json(self.training["config"])
        except (ConfigError, KeyError, TypeError) as exc:
            raise DatasetError(
                self.checkpoint.path, f"the saved training config is unreadable ({exc})"
            ) from None
        changes: dict[str, Any] = {
            "data": given.data, "out": given.out, "images_root": given.images_root, "device": given.device,
            "resume": given.resume,
        }  # fmt: skip
        if given.epochs is not None or given.minutes is not None:
            changes.update(epochs=given.epochs, minutes=given.minutes)
        return dataclasses.replace(saved, **changes)

    def check_classes(self, label_to_category: Sequence[int]) -> None:
        if tuple(label_to_category) != tuple(self.checkpoint.label_to_category):
            raise DatasetError(
                self.checkpoint.path,
                "the data's classes are not the ones this run trained on; start a new round with "
                "--weights instead of --resume",
            )

    def starting_point(self) -> StartingPoint:
        model = build(self.checkpoint.settings)
        model.load_state_dict(self.checkpoint.state_dict, strict=False)
        history = tuple(self.training.get("previous_history") or ())
        if not all(isinstance(entry, Mapping) for entry in history):
            raise DatasetError(self.checkpoint.path, "the saved training history is not a list of records")
        source = str(history[-1].get("started_from", "resumed")) if history else "resumed"
        return StartingPoint(model.train(), self.checkpoint.settings, history, source, 0)

    def restore(self, *, run_state: _Run, optimizer: torch.optim.Optimizer) -> None:
        training = self.training
        try:
            run_state.epoch = _count(training["epoch"])
            run_state.position = _count(training["position"])
            run_state.step = _count(training["step"])
            run_state.elapsed_before = _finite(training["elapsed_s"], low=0.0)  # NaN: --minutes never ends
            best = training.get("best")  # NaN: no later model would ever count as better
            run_state.best = None if best is None else (_finite(best[0]), _finite(best[1]))
            run_state.model_saved = bool(training.get("model_saved"))
            built = [dict(group) for group in optimizer.param_groups]
            optimizer.load_state_dict(training["optimizer"])
            _check_optimizer(optimizer, built)
            if run_state.precision.scaler is not None and training.get("scaler"):
                run_state.precision.scaler.load_state_dict(training["scaler"])
            torch.set_rng_state(training["torch_rng"])
            average = training.get("weight_average")
            if run_state.average is not None and average is not None:
                run_state.average.load(average)
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
            raise DatasetError(
                self.checkpoint.path, f"the saved training state is unusable ({exc})"
            ) from None


def read_resume_state(path: Path) -> ResumeState:
    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint.training, Mapping):
        raise DatasetError(
            path,
            "holds a model but no training state; resume from the .last.pt file saved beside it, "
            "or start a new round with --weights",
        )
    return ResumeState(checkpoint, checkpoint.training)


def _check_optimizer(optimizer: torch.optim.Optimizer, built: list[dict[str, Any]]) -> None:
    """Raise ValueError unless the loaded optimizer state fits the model: every per-weight tensor of its
    weight's shape and finite, every setting of the kind the optimizer was built with and finite.
    `load_state_dict` checks neither: a wrong shape failed at the first step (an internal error) and
    NaN moments made every step NaN (reported as a learning rate too high)."""
    for group, before in zip(optimizer.param_groups, built, strict=True):
        for key, value in group.items():
            if key != "params" and not _same_kind(value, before.get(key)):
                raise ValueError(f"optimizer setting {key!r} is {value!r:.40}")
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if not isinstance(value, torch.Tensor):
                    continue
                if value.dim() > 0 and value.shape != param.shape:
                    raise ValueError(
                        f"optimizer {key!r} has shape {list(value.shape)}, its weight {list(param.shape)}"
                    )
                if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                    raise ValueError(f"optimizer {key!r} holds NaN or infinite values")


def _same_kind(value: Any, built: Any) -> bool:
    """Whether a loaded optimizer setting is usable where the built one was `built`."""
    if isinstance(built, bool) or built is None:
        return isinstance(value, bool) or value is None or built is None
    if isinstance(built, int | float):
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(built, tuple | list):
        return (
            isinstance(value, tuple | list)
            and len(value) == len(built)
            and all(_same_kind(v, b) for v, b in zip(value, built, strict=True))
        )
    return type(value) is type(built)


def _finite(value: Any, *, low: float = -math.inf) -> float:
    number = float(value)
    if not math.isfinite(number) or number < low:
        raise ValueError(f"expected a finite number, got {value!r:.40}")
    return number


_MAX_COUNT = 10**9  # no run on one machine takes a billion steps: more is a tampered state


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_COUNT:
        raise ValueError(f"expected a count from 0 to {_MAX_COUNT}, got {value!r:.40}")
    return value
