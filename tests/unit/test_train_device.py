"""Device and precision choice for training, on this CPU-only machine: what CUDA would get, decided by the
same functions with the device's capabilities given."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from annotator.inference.train_config import ConfigError, Recipe, TrainConfig  # noqa: E402
from annotator.inference.train_device import pick_device, precision_for  # noqa: E402
from annotator.io.errors import DatasetError  # noqa: E402


def test_auto_picks_cuda_when_there_is_one_and_the_cpu_otherwise():
    assert pick_device("auto", cuda_available=True).type == "cuda"
    assert pick_device("auto", cuda_available=False).type == "cpu"
    assert pick_device("cpu", cuda_available=True).type == "cpu"
    with pytest.raises(DatasetError, match="--device cuda: no CUDA device is available"):
        pick_device("cuda", cuda_available=False)


@pytest.mark.filterwarnings("ignore:torch.cuda.amp.GradScaler is enabled, but CUDA is not available")
def test_cuda_trains_in_mixed_precision():
    cuda = torch.device("cuda")
    bf16 = precision_for("auto", cuda, cuda_bf16=True)
    assert bf16.dtype == torch.bfloat16 and bf16.scaler is None
    fp16 = precision_for("auto", cuda, cuda_bf16=False)  # older GPUs: fp16 needs its gradients scaled
    assert fp16.dtype == torch.float16 and fp16.scaler is not None
    assert fp16.describe() == "fp16 autocast with gradient scaling"
    assert precision_for("fp32", cuda, cuda_bf16=True).dtype is None


def test_the_cpu_uses_bf16_only_where_it_is_native():
    cpu = torch.device("cpu")
    assert precision_for("auto", cpu, native_cpu_bf16=False).dtype is None
    assert precision_for("auto", cpu, native_cpu_bf16=True).dtype == torch.bfloat16
    assert precision_for("bf16", cpu, native_cpu_bf16=False).dtype == torch.bfloat16  # asked for: given
    with pytest.raises(DatasetError, match="fp16 needs a CUDA device"):
        precision_for("fp16", cpu, native_cpu_bf16=False)


def test_cpu_bf16_autocast_runs_a_real_training_step():
    from annotator.inference.architectures import LIGHT_ARCHITECTURE, ModelSettings, build

    settings = ModelSettings(architecture=LIGHT_ARCHITECTURE, num_classes=2, min_size=64, max_size=64,
                             returned_layers=(2, 3, 4), anchor_sizes=(16, 32, 64, 128), fpn_channels=16,
                             mask_head_channels=16, box_head_size=32)  # fmt: skip
    model = build(settings)
    precision = precision_for("bf16", torch.device("cpu"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    image = torch.rand(3, 48, 64)
    target = {"boxes": torch.tensor([[4.0, 4.0, 30.0, 20.0]]), "labels": torch.tensor([1]),
              "masks": torch.zeros(1, 48, 64, dtype=torch.uint8)}  # fmt: skip
    target["masks"][0, 4:20, 4:30] = 1
    with precision.autocast():
        losses = model([image], [target])
    loss = sum(v.float() for v in losses.values())
    before = model.roi_heads.box_predictor.cls_score.weight.detach().clone()
    precision.backward_and_step(loss, optimizer, 10.0)
    assert torch.isfinite(loss) and not torch.equal(before, model.roi_heads.box_predictor.cls_score.weight)


def test_configs_round_trip_as_json_and_refuse_bad_values(tmp_path):
    config = TrainConfig(data=tmp_path / "d.json", out=tmp_path / "m.pt", minutes=2.5, recipe=Recipe(lr=3e-4),
                         model={"fpn_channels": 64})  # fmt: skip
    assert TrainConfig.from_json(config.to_json()) == config
    assert config.last_path == tmp_path / "m.last.pt"
    for bad in ({"epochs": 0}, {"val_split": 1.0}, {"device": "tpu"}, {"minutes": float("nan")}):
        with pytest.raises(ConfigError):
            TrainConfig(data=tmp_path, out=tmp_path / "m.pt", **bad)
    with pytest.raises(ConfigError, match="bad training config"):
        TrainConfig.from_json({"data": "x", "out": "y", "surprise": 1})
