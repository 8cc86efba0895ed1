"""Mask R-CNN models: the architectures we know, where their weights come from, our checkpoint format.

Weights are found in this order: an explicit file, the torch hub cache, a download (when allowed). A
checkpoint is either a bare torchvision state dict or our own dict (architecture, classes, state dict);
both load with `torch.load(..., weights_only=True)`, so nothing in a file is ever executed.

Label indices are category ids: torchvision's COCO label i IS COCO category id i (1..90 with gaps), and
our checkpoints keep a table from label index to category id, so nothing is renumbered.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision
from torchvision.models.detection import (
    MaskRCNN,
    MaskRCNN_ResNet50_FPN_V2_Weights,
    MaskRCNN_ResNet50_FPN_Weights,
    maskrcnn_resnet50_fpn,
    maskrcnn_resnet50_fpn_v2,
)

from annotator.core.model import Category
from annotator.core.predictor import MODEL_NAMES, ModelSpec
from annotator.inference.errors import WeightsUnavailable  # torch-free, so the GUI process can rebuild it
from annotator.io.errors import DatasetError

CHECKPOINT_FORMAT = "annotator.maskrcnn"
CHECKPOINT_VERSION = 1
OFFLINE_ENV = "ANNOTATOR_OFFLINE"  # set to 1 to never try a download

_BUILDERS = {
    "maskrcnn_resnet50_fpn": (maskrcnn_resnet50_fpn, MaskRCNN_ResNet50_FPN_Weights.COCO_V1),
    "maskrcnn_resnet50_fpn_v2": (maskrcnn_resnet50_fpn_v2, MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1),
}
assert tuple(_BUILDERS) == MODEL_NAMES


@dataclass(frozen=True)
class LoadedModel:
    """A model in eval mode, the architecture it is, and the category id of each label index."""

    model: MaskRCNN
    architecture: str
    label_to_category: tuple[int, ...]  # index = label, value = category id (index 0: background)
    categories: tuple[Category, ...]
    source: str  # where the weights came from, for messages and `Source.model`


def coco_categories(architecture: str = MODEL_NAMES[0]) -> tuple[Category, ...]:
    """COCO categories from torchvision's weights enum: label index = category id, "N/A" gaps skipped."""
    names = _BUILDERS[_checked_name(architecture)][1].meta["categories"]
    return tuple(
        Category(id=i, name=name)
        for i, name in enumerate(names)
        if i > 0 and name not in ("N/A", "__background__")
    )


def build_model(architecture: str, *, num_classes: int = 91) -> MaskRCNN:
    """A randomly initialised model of `architecture` (no download: weights=None, weights_backbone=None)."""
    builder = _BUILDERS[_checked_name(architecture)][0]
    model = builder(weights=None, weights_backbone=None, num_classes=num_classes)
    return model.eval()


def load_model(spec: ModelSpec) -> LoadedModel:
    """Build the model `spec` describes and load its weights (file, hub cache or download)."""
    if spec.weights is not None:
        return load_checkpoint(spec.weights, default_architecture=spec.name)
    architecture = _checked_name(spec.name)
    path = resolve_coco_weights(architecture, allow_download=spec.allow_download)
    model = build_model(architecture, num_classes=91)
    _load_state(model, _torch_load(path), path)
    if architecture == "maskrcnn_resnet50_fpn":
        _set_batchnorm_eps(model, 0.0)  # as torchvision does for these weights (trained with eps 0)
    categories = coco_categories(architecture)
    return LoadedModel(model, architecture, tuple(range(91)), categories, architecture)


def hub_weights_path(architecture: str) -> Path:
    """Where torch keeps the COCO weights of `architecture`: `<torch hub dir>/checkpoints/<file>`."""
    url = _BUILDERS[_checked_name(architecture)][1].url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def resolve_coco_weights(architecture: str, *, allow_download: bool = True) -> Path:
    """The COCO weights file: from the hub cache, else downloaded there; WeightsUnavailable if neither."""
    enum = _BUILDERS[_checked_name(architecture)][1]
    path = hub_weights_path(architecture)
    if path.is_file():
        return path
    offline = os.environ.get(OFFLINE_ENV, "") not in ("", "0")
    if allow_download and not offline:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            match = re.search(r"-([a-f0-9]+)\.", path.name)
            torch.hub.download_url_to_file(enum.url, str(path), hash_prefix=match.group(1) if match else None)
            return path
        except (OSError, RuntimeError) as exc:
            reason = f"download failed ({exc})"
    else:
        reason = "not downloaded, and downloads are off"
    raise WeightsUnavailable(
        path,
        f"no {architecture} COCO weights ({reason}); download {enum.url} and put it at {path}, "
        "or use a weights file you have (--weights FILE on the command line, Model ▸ Model settings… "
        "in the window)",
    )


def load_checkpoint(path: str | Path, *, default_architecture: str = MODEL_NAMES[0]) -> LoadedModel:
    """Load our checkpoint or a bare torchvision state dict from `path`."""
    path = Path(path)
    payload = _torch_load(path)
    if payload.get("format") == CHECKPOINT_FORMAT:
        return _load_ours(payload, path)
    if not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise DatasetError(path, "not a Mask R-CNN checkpoint (neither our format nor a state dict)")
    architecture = _guess_architecture(payload, default_architecture)
    num_classes = _num_classes(payload, path)
    model = build_model(architecture, num_classes=num_classes)
    _load_state(model, payload, path)
    if num_classes == 91:
        categories = coco_categories(architecture)
    else:
        categories = tuple(Category(id=i, name=f"class {i}") for i in range(1, num_classes))
    return LoadedModel(model, architecture, tuple(range(num_classes)), categories, path.stem)


def save_checkpoint(
    path: str | Path,
    model: MaskRCNN,
    *,
    architecture: str,
    categories: tuple[Category, ...] | list[Category],
    label_to_category: tuple[int, ...] | None = None,
) -> None:
    """Write our checkpoint: architecture, classes (label index -> category id and name), state dict.

    `label_to_category` defaults to label index = category id (as for COCO); index 0 is background.
    """
    from annotator.io.atomic import atomic_writer

    names = {c.id: c.name for c in categories}
    if label_to_category is None:
        label_to_category = tuple(range(max(names, default=0) + 1))
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "architecture": _checked_name(architecture),
        "classes": [
            {"label": label, "id": int(cid), "name": names[cid]}
            for label, cid in enumerate(label_to_category)
            if label > 0 and cid in names
        ],
        "num_classes": len(label_to_category),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_writer(path) as handle:
        torch.save(payload, handle)


def _load_ours(payload: Mapping[str, Any], path: Path) -> LoadedModel:
    try:
        architecture = _checked_name(str(payload["architecture"]), path)
        classes = list(payload["classes"])
        num_classes = int(payload["num_classes"])
        state = payload["state_dict"]
        labels = [0] * num_classes
        categories = []
        for entry in classes:
            label, cid = int(entry["label"]), int(entry["id"])
            labels[label] = cid
            categories.append(Category(id=cid, name=str(entry["name"])))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DatasetError(path, f"checkpoint is malformed ({type(exc).__name__}: {exc})") from None
    model = build_model(architecture, num_classes=num_classes)
    _load_state(model, state, path)
    return LoadedModel(model, architecture, tuple(labels), tuple(categories), path.stem)


def _torch_load(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(path, "no such weights file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(path, f"cannot load checkpoint safely ({first})") from None
    if not isinstance(payload, dict):
        raise DatasetError(path, f"checkpoint holds a {type(payload).__name__}, not a dict")
    if "model" in payload and isinstance(payload["model"], dict) and "format" not in payload:
        payload = payload["model"]  # torchvision reference scripts save {"model": state_dict, ...}
    return payload


def _load_state(model: MaskRCNN, state: Mapping[str, torch.Tensor], path: Path) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DatasetError(path, f"weights do not fit the model: {first}") from None
    model.eval()


def _guess_architecture(state: Mapping[str, torch.Tensor], default: str) -> str:
    if "roi_heads.box_head.fc6.weight" in state:
        return "maskrcnn_resnet50_fpn"
    if "roi_heads.box_head.0.0.weight" in state:
        return "maskrcnn_resnet50_fpn_v2"
    return _checked_name(default)


def _num_classes(state: Mapping[str, torch.Tensor], path: Path) -> int:
    weight = state.get("roi_heads.box_predictor.cls_score.weight")
    if weight is None:
        raise DatasetError(path, "state dict has no roi_heads.box_predictor: not a Mask R-CNN")
    return int(weight.shape[0])


def _set_batchnorm_eps(model: torch.nn.Module, eps: float) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d | torchvision.ops.FrozenBatchNorm2d):
            module.eps = eps


def _checked_name(name: str, path: Path | None = None) -> str:
    if name not in _BUILDERS:
        raise DatasetError(path, f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")
    return name
