"""The torch predictor: real forward passes of randomly initialised Mask R-CNNs at small sizes.

A random R50-FPN (fixed seed) gives plenty of detections above 0.5 on these images, so the tests check
real outputs: equal to torchvision's own forward pass, masks inside boxes, scores sorted, ids declared.
"""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict
from dataclasses import replace

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from annotator.core.geometry import mask_iou  # noqa: E402
from annotator.core.model import Category  # noqa: E402
from annotator.core.predictor import ModelSpec, Precision, PredictOptions  # noqa: E402
from annotator.inference.models import (  # noqa: E402
    LoadedModel,
    WeightsUnavailable,
    build_model,
    coco_categories,
    hub_weights_path,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from annotator.inference.predictor import TorchPredictor, cpu_has_native_bf16  # noqa: E402
from annotator.io.errors import DatasetError  # noqa: E402

HEIGHT, WIDTH = 160, 224
# min_mask_area=0: every detection, as torchvision's own loop gives them (empty masks included)
OPTIONS = PredictOptions(score_threshold=0.5, min_size=HEIGHT, max_size=WIDTH, min_mask_area=0)


@pytest.fixture(scope="session")
def random_model():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    return build_model("maskrcnn_resnet50_fpn")


@pytest.fixture(scope="session")
def predictor(random_model):
    loaded = LoadedModel(random_model, "maskrcnn_resnet50_fpn", tuple(range(91)), coco_categories(), "random")
    return TorchPredictor(loaded, precision=Precision.FP32)


@pytest.fixture(scope="session")
def image() -> np.ndarray:
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)


def naive_loop(model, image: np.ndarray, threshold: float):
    """The loop from torchvision's docs: the reference our predictor must reproduce."""
    from torchvision.transforms.functional import to_tensor

    model.transform.min_size, model.transform.max_size = (OPTIONS.min_size,), OPTIONS.max_size
    model.roi_heads.score_thresh, model.roi_heads.detections_per_img = 0.05, 100
    with torch.no_grad():
        out = model([to_tensor(image)])[0]
    declared = torch.tensor([c.id for c in coco_categories()])
    keep = (out["scores"] >= threshold) & torch.isin(out["labels"], declared)  # "N/A" labels are no class
    return out["labels"][keep], out["scores"][keep], out["boxes"][keep], (out["masks"][keep] > 0.5)[:, 0]


def test_coco_categories_are_coco_ids_with_gaps():
    categories = coco_categories()
    ids = [c.id for c in categories]
    assert len(categories) == 80 and ids[0] == 1 and ids[-1] == 90
    assert 12 not in ids and 26 not in ids  # "N/A" slots are gaps, not renumbered
    by_id = {c.id: c.name for c in categories}
    assert by_id[1] == "person" and by_id[13] == "stop sign" and by_id[90] == "toothbrush"


def test_predictor_equals_the_naive_loop_in_fp32(predictor, random_model, image):
    labels, scores, boxes, masks = naive_loop(copy.deepcopy(random_model), image, 0.5)
    # The loop's top 100 may include labels of COCO's "N/A" slots, which we never return; our top 100
    # then reaches further down, so the loop's (declared) detections are a prefix of ours.
    detections = predictor.predict(image, OPTIONS)[: len(labels)]
    assert len(detections) == len(labels) > 10
    assert [d.category_id for d in detections] == labels.tolist()
    np.testing.assert_allclose([d.score for d in detections], scores.numpy(), rtol=1e-5)
    np.testing.assert_allclose([d.box for d in detections], boxes.numpy(), atol=1e-3)
    for detection, mask in zip(detections, masks, strict=True):
        assert np.array_equal(detection.mask.to_array().astype(bool), mask.numpy())


def test_detections_are_sane(predictor, image):
    detections = predictor.predict(image, OPTIONS)
    assert detections
    scores = [d.score for d in detections]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.5
    declared = {c.id for c in predictor.info.categories}
    for detection in detections:
        assert detection.category_id in declared
        mask = detection.mask.to_array()
        assert mask.shape == (HEIGHT, WIDTH)
        ys, xs = np.nonzero(mask)
        if len(xs):
            x0, y0, x1, y1 = detection.box
            # pasted inside the box (torchvision pads the 28x28 mask by one cell: about box/28 px)
            margin = 1 + max(x1 - x0, y1 - y0) / 14
            assert xs.min() >= x0 - margin and xs.max() <= x1 + margin
            assert ys.min() >= y0 - margin and ys.max() <= y1 + margin


def test_empty_and_speck_masks_are_dropped_by_default(predictor, image):
    """A random model gives many detections whose mask is empty (as low-threshold runs of real ones do):
    by default they never leave the predictor; the others are kept, in order, masks unchanged."""
    everything = predictor.predict(image, OPTIONS)
    pixels = [int(d.mask.to_array().sum()) for d in everything]
    assert pixels.count(0) >= 10, "the random model gives empty masks: the case to test"
    default = replace(OPTIONS, min_mask_area=PredictOptions().min_mask_area)
    assert default.min_mask_area >= 1
    kept = predictor.predict(image, default)
    expected = [d for d, n in zip(everything, pixels, strict=True) if n >= default.min_mask_area]
    assert [(d.category_id, d.score) for d in kept] == [(d.category_id, d.score) for d in expected]
    assert all(d.mask.to_array().sum() >= default.min_mask_area for d in kept)
    bigger = predictor.predict(image, replace(OPTIONS, min_mask_area=200))
    assert len(bigger) == sum(n >= 200 for n in pixels) < len(kept)
    with pytest.raises(ValueError, match="min_mask_area"):
        PredictOptions(min_mask_area=-1)


def test_read_only_arrays_and_flipped_views_are_accepted(predictor, image):
    expected = [(d.category_id, d.score) for d in predictor.predict(image, OPTIONS)]
    read_only = image.copy()
    read_only.flags.writeable = False
    flipped = np.ascontiguousarray(image[..., ::-1])[..., ::-1]  # RGB as a view with a negative stride
    for variant in (read_only, flipped):
        assert [(d.category_id, d.score) for d in predictor.predict(variant, OPTIONS)] == expected
    assert expected


def test_options_threshold_classes_and_max_detections(predictor, image):
    everything = predictor.predict(
        image, PredictOptions(score_threshold=0.0, min_size=HEIGHT, max_size=WIDTH, min_mask_area=0)
    )
    high = predictor.predict(image, OPTIONS)
    assert len(everything) >= len(high)
    few = predictor.predict(
        image,
        PredictOptions(
            score_threshold=0.0, max_detections=5, min_size=HEIGHT, max_size=WIDTH, min_mask_area=0
        ),
    )
    assert len(few) == 5 and [d.score for d in few] == [d.score for d in everything[:5]]
    wanted = everything[-1].category_id  # a class that is not the top one
    only = predictor.predict(
        image,
        PredictOptions(
            score_threshold=0.0, classes=frozenset({wanted}), min_size=HEIGHT, max_size=WIDTH, min_mask_area=0
        ),
    )
    assert only and {d.category_id for d in only} == {wanted}
    # the class filter acts before NMS and the top-k cut, so it finds at least what the unfiltered run had
    assert len(only) >= sum(d.category_id == wanted for d in everything)


def matched_fraction(reference, other) -> float:
    """Share of `reference` detections with a same-class partner in `other` at mask IoU >= 0.95."""
    masks = [d.mask.to_array() for d in other]
    used, matched = set(), 0
    for det in reference:
        mask = det.mask.to_array()
        for j, candidate in enumerate(other):
            if (
                j not in used
                and candidate.category_id == det.category_id
                and mask_iou(mask, masks[j]) >= 0.95
            ):
                used.add(j)
                matched += 1
                break
    return matched / max(len(reference), 1)


def test_default_precision_keeps_the_body_in_fp32_and_its_exact_parts_exact(random_model, image):
    exact = TorchPredictor(
        LoadedModel(
            copy.deepcopy(random_model), "maskrcnn_resnet50_fpn", tuple(range(91)), coco_categories(), "r"
        ),
        precision=Precision.FP32,
    ).predict(image, OPTIONS)

    def tuned(**kwargs) -> TorchPredictor:
        loaded = LoadedModel(
            copy.deepcopy(random_model), "maskrcnn_resnet50_fpn", tuple(range(91)), coco_categories(), "r"
        )
        return TorchPredictor(loaded, precision=Precision.AUTO, **kwargs)

    default = tuned()
    native = cpu_has_native_bf16()
    expected = "bf16 fpn+rpn+box+mask, folded BN" if native else "fp32, folded BN"
    if default.winograd_stages:  # AVX2 CPUs (inference/winograd.py)
        expected += f", Winograd 3x3 in {'+'.join(default.winograd_stages)}"
    assert default.info.precision == expected
    model = default.model
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.backbone.body.modules())
    assert {p.dtype for p in model.backbone.body.parameters()} == {torch.float32}
    bf16_if_native = {torch.bfloat16 if native else torch.float32}
    for module in (model.backbone.fpn, model.rpn.head, model.roi_heads.box_head, model.roi_heads.mask_head):
        assert {p.dtype for p in module.parameters()} == bf16_if_native
    assert default.predict(image, OPTIONS)
    # folded BatchNorm, channels_last, resizing before normalizing, our RoIAlign, the box head reading
    # its memory and Winograd's 3x3 convolutions change only rounding: every detection stays. (bf16's agreement needs a trained model; a
    # random one is chaotic: bench/prelabel.py --weights FILE --synthetic)
    assert matched_fraction(exact, tuned(bf16_stages=()).predict(image, OPTIONS)) == 1.0


def test_bf16_everywhere_runs(random_model, image):
    loaded = LoadedModel(
        copy.deepcopy(random_model), "maskrcnn_resnet50_fpn", tuple(range(91)), coco_categories(), "r"
    )
    detections = TorchPredictor(loaded, precision=Precision.BF16).predict(image, OPTIONS)
    # a random model's detections are too close together to survive bf16 unchanged (see bench/prelabel.py);
    # what must hold: full-resolution masks, declared classes, sorted scores
    assert detections and all(d.mask.rle.height == HEIGHT and 0.5 <= d.score <= 1 for d in detections)
    assert [d.score for d in detections] == sorted((d.score for d in detections), reverse=True)


def test_our_checkpoint_round_trips_with_weights_only(tmp_path, image):
    torch.manual_seed(1)
    model = build_model("maskrcnn_resnet50_fpn", num_classes=4)
    categories = [Category(5, "bolt"), Category(17, "nut"), Category(90, "washer")]
    path = tmp_path / "ours.pt"
    save_checkpoint(path, model, architecture="maskrcnn_resnet50_fpn", categories=categories,
                    label_to_category=(0, 5, 17, 90))  # fmt: skip
    raw = torch.load(path, weights_only=True)  # plain data: loads with the safe unpickler
    assert raw["architecture"] == "maskrcnn_resnet50_fpn" and raw["num_classes"] == 4
    loaded = load_checkpoint(path)
    assert loaded.label_to_category == (0, 5, 17, 90)
    assert [(c.id, c.name) for c in loaded.categories] == [(5, "bolt"), (17, "nut"), (90, "washer")]
    before = TorchPredictor(LoadedModel(model, "maskrcnn_resnet50_fpn", (0, 5, 17, 90), tuple(categories), "x"),
                            precision=Precision.FP32).predict(image, OPTIONS)  # fmt: skip
    after = TorchPredictor(loaded, precision=Precision.FP32).predict(image, OPTIONS)
    assert before and [d.category_id for d in after] == [d.category_id for d in before]
    assert {d.category_id for d in after} <= {5, 17, 90}
    assert [d.mask for d in after] == [d.mask for d in before]


def test_bare_torchvision_state_dicts_load_and_name_their_architecture(tmp_path, random_model):
    path = tmp_path / "tv.pth"
    torch.save(random_model.state_dict(), path)
    loaded = load_checkpoint(path, default_architecture="maskrcnn_resnet50_fpn_v2")
    assert loaded.architecture == "maskrcnn_resnet50_fpn"  # recognised from the keys, not the default
    assert len(loaded.categories) == 80 and loaded.label_to_category[18] == 18
    torch.manual_seed(2)
    v2 = build_model("maskrcnn_resnet50_fpn_v2", num_classes=3)
    torch.save(v2.state_dict(), tmp_path / "v2.pth")
    loaded_v2 = load_checkpoint(tmp_path / "v2.pth")
    assert loaded_v2.architecture == "maskrcnn_resnet50_fpn_v2"
    assert [c.id for c in loaded_v2.categories] == [1, 2]


class Payload:
    def __reduce__(self):
        return (print, ("executed!",))


def test_checkpoints_never_execute_code(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    with path.open("wb") as handle:
        pickle.dump({"state_dict": Payload()}, handle)
    with pytest.raises(DatasetError, match="cannot load checkpoint safely"):
        load_checkpoint(path)
    assert "executed!" not in capsys.readouterr().out


def test_bad_checkpoints_are_clear_errors(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(DatasetError, match="empty.pt"):
        load_checkpoint(tmp_path / "empty.pt")
    torch.save({"backbone.x": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(DatasetError, match="not a Mask R-CNN"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(DatasetError, match="no such weights file"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("name", ["maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2"])
def test_offline_without_weights_says_what_to_download_and_where(tmp_path, monkeypatch, name):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("ANNOTATOR_OFFLINE", "1")
    expected = hub_weights_path(name)
    assert expected.is_relative_to(tmp_path)
    with pytest.raises(WeightsUnavailable) as caught:
        load_model(ModelSpec(name=name))
    message = str(caught.value)
    assert "https://download.pytorch.org/models/" in message and expected.name in message
    assert str(expected) in message and "\n" not in message


def test_a_download_without_network_says_so_in_words(tmp_path, monkeypatch):
    """The window's dialog showed "download failed (<urlopen error [Errno -2] Name or service not
    known>)": the error urllib raises without a network is said as "no connection"."""
    import socket
    import urllib.error

    from annotator.inference.models import resolve_coco_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ANNOTATOR_OFFLINE", raising=False)

    def unreachable(*_args, **_kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    with pytest.raises(WeightsUnavailable) as caught:
        resolve_coco_weights("maskrcnn_resnet50_fpn")
    message = str(caught.value)
    assert "download failed: no connection (Name or service not known)" in message
    assert "urlopen" not in message and "Model ▸ Model settings" in message


def test_weights_in_the_hub_cache_are_used_without_download(tmp_path, monkeypatch, random_model):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("ANNOTATOR_OFFLINE", "1")
    cached = hub_weights_path("maskrcnn_resnet50_fpn")
    cached.parent.mkdir(parents=True)
    torch.save(random_model.state_dict(), cached)  # stands in for the COCO file: same keys and shapes
    loaded = load_model(ModelSpec())
    assert loaded.architecture == "maskrcnn_resnet50_fpn" and len(loaded.categories) == 80


def test_roi_align_split_across_cores_gives_the_same_values(predictor):
    """Our RoIAlign runs one chunk of boxes per core; the result must be that of one call."""
    generator = torch.Generator().manual_seed(5)
    features = OrderedDict(
        (name, torch.rand(1, 256, 40 // 2**i, 56 // 2**i, generator=generator))
        for i, name in enumerate("0123")
    )
    corners = torch.rand(300, 2, generator=generator) * torch.tensor([200.0, 140.0])
    sizes = 4 + torch.rand(300, 2, generator=generator) * 100  # small and large: every pyramid level
    boxes = torch.cat([corners, corners + sizes], 1)
    pooler = predictor.model.roi_heads.box_roi_pool
    assert predictor._pool_workers == 2
    split = predictor._roi_align(pooler, features, boxes, [(160, 224)])
    whole = pooler(features, [boxes], [(160, 224)])
    assert split.shape == (300, 256, 7, 7)
    assert torch.equal(split, whole)


def test_the_embedding_comes_with_the_same_detections_and_tells_scenes_apart(predictor, image):
    """ "Label next" keeps pooled FPN features from pre-labelling: the detections are those of `predict`;
    a shifted copy of the image lies nearer than another scene; the padding is not averaged in."""
    detections, vector = predictor.predict_and_embed(image, OPTIONS)
    assert [(d.category_id, d.score) for d in detections] == [
        (d.category_id, d.score) for d in predictor.predict(image, OPTIONS)
    ]
    assert vector.dtype == np.float32 and vector.ndim == 1 and np.isfinite(vector).all()
    assert len(vector) == 5 * predictor.model.backbone.out_channels  # four levels and the pool level
    shifted = np.roll(image, 3, axis=1)
    rng = np.random.default_rng(4)
    other = cv2.resize(rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8), (WIDTH, HEIGHT))
    _, near = predictor.predict_and_embed(shifted, OPTIONS)
    _, far = predictor.predict_and_embed(other, OPTIONS)
    assert np.linalg.norm(near - vector) < 0.5 * np.linalg.norm(far - vector)  # 23 against 219 here
    # a narrower image is padded to the same batch; its vector is its own part's average, so a copy
    # of it with a black band added (part of the image now) differs
    narrow = np.ascontiguousarray(image[:, : WIDTH - 40])
    banded = np.concatenate([narrow, np.zeros((HEIGHT, 40, 3), np.uint8)], axis=1)
    _, narrow_vector = predictor.predict_and_embed(narrow, OPTIONS)
    _, banded_vector = predictor.predict_and_embed(banded, OPTIONS)
    assert not np.allclose(narrow_vector, banded_vector, atol=1e-3)
