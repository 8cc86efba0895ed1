"""`train --resume` on a resumable checkpoint whose training state was tampered with: refused with one
DatasetError naming the file before any step, never an internal error in the middle of the run, never a
run that goes on with NaN in it. `torch.load(weights_only=True)` returns whatever plain data and tensors
the file holds, and `Optimizer.load_state_dict` checks neither shapes nor values."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from annotator.core.predictor import CancelToken  # noqa: E402
from annotator.inference.training import train  # noqa: E402
from annotator.io.errors import DatasetError  # noqa: E402
from training_helpers import tiny_config, write_rectangles  # noqa: E402

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """The data and the `.last.pt` of a run cancelled after two steps."""
    folder = tmp_path_factory.mktemp("resume")
    data = write_rectangles(folder / "set", count=8)
    token = CancelToken()

    def stop(event) -> None:
        if event.kind == "step" and event.step >= 2:
            token.cancel()

    train(tiny_config(data, folder / "m.pt", epochs=2), on_event=stop, cancel=token)
    return data, folder / "m.last.pt"


def _moments(training: dict) -> dict:
    return next(iter(training["optimizer"]["state"].values()))


def _reshape_moments(training: dict) -> None:
    moments = _moments(training)
    moments["exp_avg"] = torch.zeros(3)


def _nan_moments(training: dict) -> None:
    _moments(training)["exp_avg_sq"].fill_(float("nan"))


def _set_groups(key, value):
    def change(training: dict) -> None:
        for group in training["optimizer"]["param_groups"]:
            group[key] = value

    return change


@pytest.mark.parametrize(
    ("change", "words"),
    [
        # an internal error (RuntimeError) at the first step
        (_reshape_moments, r"optimizer 'exp_avg' has shape \[3\]"),
        # every step NaN, then "the loss was not finite ... try a lower learning rate"
        (_nan_moments, "optimizer 'exp_avg_sq' holds NaN"),
        (_set_groups("eps", float("nan")), "optimizer setting 'eps' is nan"),
        (_set_groups("betas", "x"), "optimizer setting 'betas'"),
        (_set_groups("weight_decay", [1]), "optimizer setting 'weight_decay'"),
        # AttributeError: 'int' object has no attribute 'get' (exit 1)
        (lambda t: t.__setitem__("previous_history", [1, 2]), "history is not a list of records"),
        (lambda t: t.__setitem__("previous_history", "abc"), "history is not a list of records"),
        # a NaN time so far never reaches --minutes; a NaN best is never beaten, so no better model is kept
        (lambda t: t.__setitem__("elapsed_s", float("nan")), "expected a finite number, got nan"),
        (lambda t: t.__setitem__("elapsed_s", -5.0), "expected a finite number, got -5.0"),
        (lambda t: t.__setitem__("best", [float("nan"), 0.5]), "expected a finite number, got nan"),
        # a step or epoch past any real run ended at once "done", keeping nothing
        (lambda t: t.__setitem__("step", 10**30), "expected a count from 0 to"),
        (lambda t: t.__setitem__("epoch", 10**12), "expected a count from 0 to"),
    ],
)
def test_a_tampered_training_state_is_refused_before_any_step(stopped_run, tmp_path, change, words) -> None:
    data, last = stopped_run
    payload = torch.load(last, map_location="cpu", weights_only=True)
    change(payload["training"])
    torch.save(payload, tmp_path / "x.last.pt")
    steps = []
    config = dataclasses.replace(tiny_config(data, tmp_path / "out.pt"), resume=tmp_path / "x.last.pt")
    with pytest.raises(DatasetError, match=words) as error:
        train(config, on_event=lambda event: steps.append(event) if event.kind == "step" else None)
    assert error.value.path == tmp_path / "x.last.pt" and not steps


def test_the_untampered_state_still_resumes(stopped_run, tmp_path) -> None:
    data, last = stopped_run
    token = CancelToken()
    steps = []

    def stop(event) -> None:
        if event.kind == "step":
            steps.append(event.step)
            token.cancel()

    config = dataclasses.replace(tiny_config(data, tmp_path / "out.pt"), resume=last)
    train(config, on_event=stop, cancel=token)
    assert steps == [3]
