"""The weight average that training validates and keeps (Recipe.ema)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from annotator.inference.train_ema import RAMP_STEPS, WeightAverage  # noqa: E402


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))


def _set(model: torch.nn.Module, value: float) -> None:
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.fill_(value)


def test_the_average_follows_the_weights_and_swaps_in_and_out():
    model = _model()
    _set(model, 0.0)
    average = WeightAverage(model, decay=0.9)
    _set(model, 1.0)
    average.update(model, step=RAMP_STEPS * 10)  # past the ramp: the decay is 0.9
    with average.swapped_in(model):
        weight = model[0].weight.detach().clone()
        running_var = model[1].running_var.clone()
    assert torch.allclose(weight, torch.full_like(weight, 0.1), atol=1e-3)
    # the BatchNorm statistics are averaged too
    assert torch.allclose(running_var, torch.full_like(running_var, 0.1), atol=1e-3)
    assert torch.equal(model[0].weight.detach(), torch.ones_like(weight))  # its own weights are back
    assert model[1].num_batches_tracked.dtype == torch.long  # integer entries are left alone


def test_early_steps_follow_the_model_closely():
    model = _model()
    _set(model, 0.0)
    average = WeightAverage(model, decay=0.999)
    _set(model, 1.0)
    average.update(model, step=1)  # decay 0.999 * (1 - e^-0.01): about 0.01
    with average.swapped_in(model):
        assert model[0].bias.detach().min() > 0.98


def test_the_average_survives_a_resume_and_refuses_another_models():
    model = _model()
    average = WeightAverage(model, decay=0.5)
    _set(model, 2.0)
    average.update(model, step=10_000)
    again = WeightAverage(_model(), decay=0.5)
    again.load(average.state())
    for name, value in average.state().items():
        assert torch.equal(again.state()[name], value), name
    other = WeightAverage(torch.nn.Linear(3, 5), decay=0.5)
    with pytest.raises(ValueError, match="not this model's"):
        other.load(average.state())
    wrong = dict(average.state())
    wrong["0.weight"] = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="wrong shape"):
        again.load(wrong)
