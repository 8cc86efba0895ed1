"""The training engine through its real loop (no mocks): tiny images, a few steps, the light model."""

from __future__ import annotations

import dataclasses
import threading

import pytest

torch = pytest.importorskip("torch")

from annotator.core.predictor import CancelToken  # noqa: E402
from annotator.inference.models import load_checkpoint, read_checkpoint  # noqa: E402
from annotator.inference.train_config import TrainConfig  # noqa: E402
from annotator.inference.train_events import event_from_json  # noqa: E402
from annotator.inference.training import train  # noqa: E402
from annotator.io.errors import DatasetError  # noqa: E402
from training_helpers import tiny_config, write_rectangles  # noqa: E402

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def rectangles(tmp_path_factory):
    return write_rectangles(tmp_path_factory.mktemp("rectangles"), count=8)


def _collect(config: TrainConfig, *, cancel: CancelToken | None = None, stop_after: int | None = None):
    events = []
    token = cancel or CancelToken()

    def on_event(event) -> None:
        assert event_from_json(event.to_json()) == event  # every event survives the JSON pipe
        events.append(event)
        if stop_after is not None and event.kind == "step" and event.step >= stop_after:
            token.cancel()

    finished = train(config, on_event=on_event, cancel=token)
    return finished, events


@pytest.mark.slow
def test_training_reduces_the_loss_and_saves_a_model_with_the_original_ids(rectangles, tmp_path):
    config = tiny_config(rectangles, tmp_path / "model.pt", epochs=8, val_split=0.0)
    finished, events = _collect(config)
    losses = [e.loss for e in events if e.kind == "step"]
    assert len(losses) == 32 and finished.reason == "done" and finished.steps == 32
    assert sum(losses[-6:]) / 6 < 0.6 * sum(losses[:6]) / 6, losses
    loaded = load_checkpoint(tmp_path / "model.pt")
    assert loaded.label_to_category == (0, 5, 9)
    assert [(c.id, c.name) for c in loaded.categories] == [(5, "red"), (9, "blue")]
    assert loaded.settings.max_size == 64 and loaded.settings.fpn_channels == 16
    (record,) = loaded.history
    assert record["round"] == 1 and record["train_images"] == 8 and record["steps"] == 32
    assert any("too few for a validation split" not in e.to_json().get("message", "") for e in events)


def test_each_epoch_is_validated_and_the_best_and_last_checkpoints_are_written(rectangles, tmp_path):
    finished, events = _collect(tiny_config(rectangles, tmp_path / "m.pt", epochs=2))
    started = next(e for e in events if e.kind == "started")
    assert (started.train_images, started.val_images, started.total_steps) == (6, 2, 6)
    epochs = [e for e in events if e.kind == "epoch"]
    assert [e.epoch for e in epochs] == [1, 2] and all(0.0 <= e.val_ap50 <= 1.0 for e in epochs)
    assert epochs[0].best  # the first validated model is the best so far
    roles = [(e.role, e.step) for e in events if e.kind == "checkpoint"]
    assert ("best", 3) in roles and ("last", 3) in roles and ("last", 6) in roles
    assert finished.model_path == str(tmp_path / "m.pt") and finished.last_path == str(tmp_path / "m.last.pt")
    last = read_checkpoint(tmp_path / "m.last.pt")
    assert last.training["step"] == 6 and last.training["epoch"] == 2
    assert read_checkpoint(tmp_path / "m.pt").training is None  # the model to use carries no optimizer


def test_a_run_with_every_augmentation_trains_through_the_real_loop(rectangles, tmp_path):
    recipe = dataclasses.replace(tiny_config(rectangles, tmp_path / "m.pt").recipe, crop=(0.5, 1.0),
                                 copy_paste=0.5, color_jitter=0.3, vflip=True, rot90=True)  # fmt: skip
    finished, events = _collect(tiny_config(rectangles, tmp_path / "m.pt", epochs=1, recipe=recipe))
    assert finished.reason == "done" and finished.steps == 3
    assert all(e.loss > 0 for e in events if e.kind == "step")
    assert load_checkpoint(tmp_path / "m.pt").label_to_category == (0, 5, 9)


def test_cancel_stops_after_the_current_step_and_saves(rectangles, tmp_path):
    finished, events = _collect(tiny_config(rectangles, tmp_path / "m.pt", epochs=50), stop_after=2)
    assert finished.reason == "cancelled" and finished.steps == 2
    assert read_checkpoint(tmp_path / "m.last.pt").training["step"] == 2
    assert load_checkpoint(tmp_path / "m.pt").label_to_category == (0, 5, 9)  # a usable model, even so


def test_a_pause_during_validation_takes_effect_there_not_after_it(rectangles, tmp_path):
    token = CancelToken()
    events = []

    def on_event(event) -> None:
        events.append(event)
        if event.kind == "step" and event.step == 3:  # the last step of epoch 1: validation comes next
            token.pause()
            threading.Timer(0.3, token.resume).start()

    train(tiny_config(rectangles, tmp_path / "m.pt", epochs=2), on_event=on_event, cancel=token)
    kinds = [e.kind for e in events]
    first_epoch = kinds.index("epoch")
    assert "paused" in kinds[:first_epoch], kinds  # paused while the validation images were scored
    paused = [e.paused for e in events if e.kind == "paused"]
    assert paused == [True, False] and kinds[-1] == "finished"


@pytest.mark.slow
def test_resume_continues_exactly_where_the_run_stopped(rectangles, tmp_path):
    config = tiny_config(rectangles, tmp_path / "straight.pt", epochs=3)
    config = dataclasses.replace(config, recipe=dataclasses.replace(config.recipe, ema=0.9))
    _collect(config)
    straight = load_checkpoint(tmp_path / "straight.last.pt").model.state_dict()
    straight_average = read_checkpoint(tmp_path / "straight.last.pt").training["weight_average"]

    stopped = dataclasses.replace(config, out=tmp_path / "resumed.pt")
    first, _ = _collect(stopped, stop_after=4)  # stops inside epoch 2
    assert first.steps == 4
    finished, events = _collect(dataclasses.replace(stopped, resume=tmp_path / "resumed.last.pt"))
    started = next(e for e in events if e.kind == "started")
    assert started.start_step == 4 and [e.step for e in events if e.kind == "step"][0] == 5
    assert finished.steps == 9 and finished.reason == "done"
    resumed = load_checkpoint(tmp_path / "resumed.last.pt").model.state_dict()
    for name, value in straight.items():
        assert torch.allclose(resumed[name].float(), value.float(), atol=1e-5), name
    resumed_average = read_checkpoint(tmp_path / "resumed.last.pt").training["weight_average"]
    for name, value in straight_average.items():
        assert torch.allclose(resumed_average[name], value, atol=1e-5), name


def test_with_a_weight_average_the_kept_model_is_the_average(rectangles, tmp_path):
    config = tiny_config(rectangles, tmp_path / "m.pt", epochs=2, val_split=0.0)
    config = dataclasses.replace(config, recipe=dataclasses.replace(config.recipe, ema=0.9))
    _collect(config)
    kept = load_checkpoint(tmp_path / "m.pt").model.state_dict()
    last = read_checkpoint(tmp_path / "m.last.pt")
    average, trained = last.training["weight_average"], last.state_dict
    differs = [name for name in average if not torch.allclose(average[name], trained[name])]
    assert differs  # the average is not the weights as trained
    for name, value in average.items():
        assert torch.allclose(kept[name].float(), value.float(), atol=1e-6), name


def test_a_model_checkpoint_cannot_be_resumed_and_says_what_to_use(rectangles, tmp_path):
    _collect(tiny_config(rectangles, tmp_path / "m.pt", epochs=1))
    with pytest.raises(DatasetError, match=r"no training state; resume from the \.last\.pt file"):
        train(tiny_config(rectangles, tmp_path / "again.pt", resume=tmp_path / "m.pt"))


def test_a_new_round_from_our_checkpoint_keeps_the_classes_it_knows(rectangles, tmp_path):
    _collect(tiny_config(rectangles, tmp_path / "round1.pt", epochs=1))
    first = load_checkpoint(tmp_path / "round1.pt").model.state_dict()
    finished, events = _collect(
        tiny_config(rectangles, tmp_path / "round2.pt", epochs=1, weights=str(tmp_path / "round1.pt"))
    )
    second = load_checkpoint(tmp_path / "round2.pt")
    # the start is scored first and kept at round2.pt until training does at least as well
    assert ("best", 0) in [(e.role, e.step) for e in events if e.kind == "checkpoint"]
    assert any("starting model scores" in e.to_json().get("message", "") for e in events)
    assert [record["round"] for record in second.history] == [1, 2]
    assert second.history[1]["started_from"] == str(tmp_path / "round1.pt")
    assert second.label_to_category == (0, 5, 9)
    assert not torch.equal(
        second.model.state_dict()["backbone.body.conv1.weight"], first["backbone.body.conv1.weight"]
    )


def test_bad_input_is_one_clear_error(tmp_path, rectangles):
    from annotator.core.model import Dataset
    from annotator.io.coco import save_coco

    empty = tmp_path / "empty.json"
    save_coco(Dataset(), empty)
    with pytest.raises(DatasetError, match="empty.json: no trainable instances"):
        train(tiny_config(empty, tmp_path / "m.pt"))
    (tmp_path / "elsewhere").mkdir()  # a folder that is there but holds none of the images
    with pytest.raises(DatasetError, match="none of the 8 images with trainable instances can be read"):
        train(tiny_config(rectangles, tmp_path / "m.pt", images_root=tmp_path / "elsewhere"))


def test_a_new_round_copies_the_predictor_rows_of_the_classes_it_shares_by_id_and_name(tmp_path):
    from annotator.core.model import Category
    from annotator.inference.architectures import build
    from annotator.inference.models import save_checkpoint
    from annotator.inference.train_setup import scratch_settings, starting_point

    settings = scratch_settings("maskrcnn_resnet18_fpn", num_classes=3, input_size=64)
    torch.manual_seed(0)
    source = build(settings)
    save_checkpoint(tmp_path / "old.pt", source, architecture=settings.architecture, settings=settings,
                    categories=[Category(7, "a"), Category(9, "b")], label_to_category=(0, 7, 9))  # fmt: skip
    config = tiny_config(tmp_path / "d.json", tmp_path / "m.pt", weights=str(tmp_path / "old.pt"), model={})
    new = [Category(9, "b"), Category(11, "c"), Category(7, "renamed")]  # 7's name changed: a new class
    start = starting_point(config, new, input_size=None, items=())
    assert start.kept_classes == 1 and start.settings.num_classes == 4
    old, fresh = source.state_dict(), start.model.state_dict()
    score, box, mask = ("roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.bbox_pred.weight",
                        "roi_heads.mask_predictor.mask_fcn_logits.weight")  # fmt: skip
    assert torch.equal(fresh[score][0], old[score][0])  # background
    assert torch.equal(fresh[score][1], old[score][2])  # id 9 "b": label 2 before, label 1 now
    assert torch.equal(fresh[box][4:8], old[box][8:12]) and torch.equal(fresh[mask][1], old[mask][2])
    assert not torch.equal(fresh[score][3], old[score][1])  # id 7 renamed: learnt afresh
    assert torch.equal(fresh["backbone.body.conv1.weight"], old["backbone.body.conv1.weight"])
