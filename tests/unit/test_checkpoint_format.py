"""Checkpoint format v2 and the checks every checkpoint passes before a model is built (issue 20: items
11 and 13): hostile class counts and shapes, NaN weights, pickles, folders and FIFOs."""

from __future__ import annotations

import os
import pickle
import time
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from annotator.core.model import Category  # noqa: E402
from annotator.inference.architectures import LIGHT_ARCHITECTURE, ModelSettings, build  # noqa: E402
from annotator.inference.models import (  # noqa: E402
    CHECKPOINT_FORMAT,
    build_model,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from annotator.io.errors import DatasetError  # noqa: E402

CATEGORIES = (Category(12, "bolt"), Category(3, "nut"))
LABELS = (0, 12, 3)  # label index -> category id: not sorted, not 1..n


@pytest.fixture(scope="module")
def light_settings() -> ModelSettings:
    return ModelSettings(architecture=LIGHT_ARCHITECTURE, num_classes=3, min_size=96, max_size=128,
                         anchor_sizes=(16, 32, 64, 128, 256))  # fmt: skip


@pytest.fixture(scope="module")
def light_checkpoint(tmp_path_factory, light_settings):
    torch.manual_seed(0)
    model = build(light_settings).eval()
    path = tmp_path_factory.mktemp("ckpt") / "light.pt"
    history = [{"round": 1, "date": "2026-12-04T10:00:00+00:00", "train_images": 8, "val_ap": 0.25}]
    save_checkpoint(path, model, architecture=LIGHT_ARCHITECTURE, categories=CATEGORIES, label_to_category=LABELS,
                    settings=light_settings, history=history)  # fmt: skip
    return path, model


def _payload(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_v2_round_trip_keeps_settings_ids_names_and_history(light_checkpoint, light_settings):
    path, model = light_checkpoint
    raw = _payload(path)  # plain data and tensors only: the safe unpickler reads it
    assert raw["version"] == 2 and raw["settings"]["anchor_sizes"] == [16, 32, 64, 128, 256]
    loaded = load_checkpoint(path)
    assert loaded.settings == light_settings
    assert loaded.label_to_category == LABELS
    assert [(c.id, c.name) for c in loaded.categories] == [(12, "bolt"), (3, "nut")]
    assert loaded.history[0]["val_ap"] == 0.25
    assert loaded.model.transform.min_size == (96,) and loaded.model.transform.max_size == 128
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value), name


def test_version_1_checkpoints_still_load(tmp_path):
    torch.manual_seed(0)
    model = build_model("maskrcnn_resnet50_fpn", num_classes=3)
    payload = {
        "format": CHECKPOINT_FORMAT, "version": 1, "architecture": "maskrcnn_resnet50_fpn",
        "classes": [{"label": 1, "id": 7, "name": "a"}, {"label": 2, "id": 9, "name": "b"}],
        "num_classes": 3, "state_dict": model.state_dict(),
    }  # fmt: skip
    torch.save(payload, tmp_path / "v1.pt")
    loaded = load_checkpoint(tmp_path / "v1.pt")
    assert loaded.architecture == "maskrcnn_resnet50_fpn" and loaded.label_to_category == (0, 7, 9)
    assert loaded.settings.min_size == 800 and loaded.history == ()


def test_a_tiny_file_claiming_huge_class_counts_is_refused_before_any_allocation(tmp_path, light_settings):
    settings = light_settings.to_dict() | {"num_classes": 10**8}
    payload = {"format": CHECKPOINT_FORMAT, "version": 2, "architecture": LIGHT_ARCHITECTURE,
               "settings": settings, "num_classes": 10**8, "classes": [], "state_dict": {}}  # fmt: skip
    torch.save(payload, tmp_path / "huge.pt")
    assert (tmp_path / "huge.pt").stat().st_size < 4096
    started = time.perf_counter()
    with pytest.raises(DatasetError, match="num_classes must be an integer in"):
        load_checkpoint(tmp_path / "huge.pt")
    assert time.perf_counter() - started < 5
    # A bare state dict whose classifier claims 10^8 rows over one stored number (a stride-0 view).
    huge = torch.zeros(1).expand(10**8, 1024)
    torch.save({"roi_heads.box_predictor.cls_score.weight": huge}, tmp_path / "bare.pt")
    with pytest.raises(DatasetError, match="class count must be an integer in"):
        load_checkpoint(tmp_path / "bare.pt")


def test_shapes_are_checked_against_the_architecture_before_it_is_built(tmp_path, light_checkpoint):
    raw = _payload(light_checkpoint[0])
    raw["state_dict"]["backbone.body.conv1.weight"] = torch.zeros(1).expand(10**6, 3, 7, 7)
    torch.save(raw, tmp_path / "wide.pt")
    with pytest.raises(DatasetError, match=r"backbone.body.conv1.weight has shape \[1000000, 3, 7, 7\]"):
        load_checkpoint(tmp_path / "wide.pt")
    raw["state_dict"].pop("backbone.body.conv1.weight")
    torch.save(raw, tmp_path / "short.pt")
    with pytest.raises(DatasetError, match="backbone.body.conv1.weight is missing"):
        load_checkpoint(tmp_path / "short.pt")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_or_infinite_weights_are_refused(tmp_path, light_checkpoint, value):
    raw = _payload(light_checkpoint[0])
    raw["state_dict"]["roi_heads.box_head.fc6.bias"][3] = value
    torch.save(raw, tmp_path / "nan.pt")
    with pytest.raises(DatasetError, match=r"NaN or infinite values \(roi_heads.box_head.fc6.bias\)"):
        load_checkpoint(tmp_path / "nan.pt")


def _quantized(shape):
    with warnings.catch_warnings():  # torch's note that quantized tensors are deprecated
        warnings.simplefilter("ignore")
        return torch.quantize_per_tensor(torch.zeros(shape), 0.1, 0, torch.qint8)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: t.to_sparse(), "is a sparse_coo tensor"),
        (lambda t: torch.empty(t.shape, device="meta"), "is on the meta device"),
        (lambda t: t.to(torch.float8_e4m3fn), "holds float8_e4m3fn values"),
        (lambda t: torch.full(t.shape, complex(float("nan"), 0)), "holds complex64 values"),
        (lambda t: _quantized(t.shape), "is a quantized tensor"),
    ],
)
def test_a_tensor_that_is_not_a_plain_array_of_real_numbers_is_refused(
    tmp_path, light_checkpoint, make, message
):
    """torch.load returns each of these: sparse, meta and float8 weights ended in internal errors (exit 1),
    and complex ones passed the finite check (NaN in the real part) and were cast to real."""
    raw = _payload(light_checkpoint[0])
    raw["state_dict"]["roi_heads.box_head.fc6.bias"] = make(raw["state_dict"]["roi_heads.box_head.fc6.bias"])
    torch.save(raw, tmp_path / "odd.pt")
    with pytest.raises(DatasetError, match=f"roi_heads.box_head.fc6.bias {message}"):
        load_checkpoint(tmp_path / "odd.pt")


@pytest.mark.parametrize("counter", [5, "x", None, [1.5]])
def test_a_batchnorm_counter_the_model_lacks_may_hold_anything(tmp_path, light_checkpoint, counter):
    """It is dropped when loading; the NaN check called `.is_floating_point()` on it (AttributeError)."""
    raw = _payload(light_checkpoint[0])
    raw["state_dict"]["extra.bn.num_batches_tracked"] = counter
    torch.save(raw, tmp_path / "counter.pt")
    assert load_checkpoint(tmp_path / "counter.pt").label_to_category == LABELS


def test_a_class_name_with_a_lone_surrogate_is_replaced(tmp_path, light_checkpoint):
    """A pickle carries `"\ud800"`: `prelabel` failed writing its journal (exit 1), a project its row."""
    raw = _payload(light_checkpoint[0])
    raw["classes"][0]["name"] = "bo\ud800lt"
    torch.save(raw, tmp_path / "name.pt")
    loaded = read_checkpoint(tmp_path / "name.pt")
    assert [c.name for c in loaded.categories] == ["bo\ufffdlt", "nut"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"settings": {"architecture": LIGHT_ARCHITECTURE, "num_classes": 3, "min_size": -5}}, "min_size"),
        ({"settings": {"architecture": LIGHT_ARCHITECTURE, "num_classes": 3, "evil": 1}}, "unknown setting"),
        ({"classes": [{"label": 7, "id": 1, "name": "x"}]}, "class label must be an integer in"),
        ({"classes": "nope"}, "classes must be a list"),
        ({"version": 99}, "version 99"),
        ({"history": "x"}, "history is not a list"),
    ],
)
def test_malformed_checkpoints_name_the_bad_entry(tmp_path, light_checkpoint, change, message):
    raw = _payload(light_checkpoint[0]) | change
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(DatasetError, match=message):
        read_checkpoint(tmp_path / "bad.pt")


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo executed",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_refused_pickle_never_advises_turning_weights_only_off(tmp_path, capfd):
    torch.save({"state_dict": _Payload()}, tmp_path / "evil.pt")
    with (tmp_path / "evil4.pt").open("wb") as handle:
        pickle.dump({"state_dict": _Payload()}, handle, protocol=4)
    for name in ("evil.pt", "evil4.pt"):
        with pytest.raises(DatasetError) as caught:
            load_checkpoint(tmp_path / name)
        text = str(caught.value)
        assert "holds Python objects other than weights" in text and "refused, never run" in text
        assert "weights_only" not in text and "Re-running" not in text and "trusted" not in text
    with pytest.raises(DatasetError, match="posix.system"):  # names what it refused, where torch says
        load_checkpoint(tmp_path / "evil.pt")
    assert "executed" not in capfd.readouterr().out


def test_a_folder_or_a_fifo_given_as_weights_says_what_it_is(tmp_path):
    with pytest.raises(DatasetError, match="is a folder, not a weights file"):
        load_checkpoint(tmp_path)
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    started = time.perf_counter()
    with pytest.raises(DatasetError, match=r"is a FIFO \(named pipe\), not a weights file"):
        load_checkpoint(fifo)  # never opened: opening a FIFO with no writer would block
    assert time.perf_counter() - started < 5


def test_an_empty_weights_file_says_so(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(DatasetError, match="the file is empty"):
        load_checkpoint(tmp_path / "empty.pt")


@settings(max_examples=40, deadline=None)
@given(data=st.one_of(st.binary(min_size=1, max_size=2000), st.binary(max_size=2000).map(lambda b: b"\x80" + b),
                      st.binary(max_size=2000).map(lambda b: b"PK\x03\x04" + b)))  # fmt: skip
def test_random_bytes_as_weights_get_one_clear_line(tmp_path_factory, data):
    """Random bytes, bytes that start like a pickle or like a zip: one line naming the file, never torch's
    advice to turn weights_only off, and nothing printed (torch warns about pickle protocols)."""
    path = tmp_path_factory.mktemp("w") / "weights.pt"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning torch printed would be a second line on stderr
        with pytest.raises(DatasetError) as caught:
            load_checkpoint(path)
    text = str(caught.value)
    assert "\n" not in text and "weights.pt" in text
    assert "weights_only" not in text and "Re-running" not in text and "trusted" not in text
    if not (data.startswith(b"PK\x03\x04") or data.startswith(b"\x80")):
        assert "is not a PyTorch checkpoint" in text


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_truncated_checkpoint_is_named_as_not_complete(tmp_path, light_checkpoint):
    """A checkpoint cut short (a copy interrupted, a download stopped): one line naming the file and why,
    not torch's reader's words ("[Errno 22] Invalid argument", an internal miniz error)."""
    path, _ = light_checkpoint
    whole = path.read_bytes()
    torch.save(
        {"model": {"w": torch.zeros(1000)}}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False
    )
    legacy = (tmp_path / "legacy.pt").read_bytes()
    torch.save({"model": {"w": torch.zeros(10000)}}, tmp_path / "small.pt")  # cut: "[Errno 22]" from torch
    small = (tmp_path / "small.pt").read_bytes()
    cuts = [("zip", whole, fraction) for fraction in (0.5, 0.9, 0.01, 0.9999)]
    cuts += [("small zip", small, 0.5), ("pickle", legacy, 0.5)]
    for index, (kind, data, fraction) in enumerate(cuts):
        cut = tmp_path / f"cut{index}.pt"
        cut.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(DatasetError) as caught:
            load_checkpoint(cut)
        assert str(caught.value) == (
            f"{cut}: is not a complete checkpoint (truncated, or not a file torch.save wrote)"
        ), (kind, fraction)
