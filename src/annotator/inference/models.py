"""Mask R-CNN models: where their weights come from, and our checkpoint format.

Weights are found in this order: an explicit file, the torch hub cache, a download (when allowed). A
checkpoint is either a bare torchvision state dict or our own dict; both load with
`torch.load(..., weights_only=True)`, so nothing in a file is ever executed, and both are checked
(`checkpoint_file.py`) before a model is built.

Our format, version 2 (version 1 still loads): `architecture`, `settings` (everything needed to rebuild
the model exactly, `architectures.ModelSettings`), `num_classes`, `classes` (label index -> category id
and name), `history` (one record per training round: date, images, validation AP), `state_dict`, and in
a resumable checkpoint `training` (optimizer state, epoch, step, RNG states).

Label indices are category ids: torchvision's COCO label i IS COCO category id i (1..90 with gaps), and
our checkpoints keep a table from label index to category id, so nothing is renumbered.
"""

from __future__ import annotations

import os
import re
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torchvision.models.detection import (
    MaskRCNN,
    MaskRCNN_ResNet50_FPN_V2_Weights,
    MaskRCNN_ResNet50_FPN_Weights,
)

from annotator.core.model import Category
from annotator.core.predictor import MODEL_NAMES, ModelSpec
from annotator.inference.architectures import (
    ARCHITECTURES,
    LIGHT_ARCHITECTURE,
    MAX_CLASSES,
    ModelSettings,
    build,
    default_settings,
)
from annotator.inference.checkpoint_file import check_state, checked_int, checked_settings, read_payload
from annotator.inference.errors import (  # torch-free: the GUI process rebuilds them
    WeightsUnavailable,  # noqa: F401 - raised here, imported from here by callers
    missing_coco_weights,
)
from annotator.io.errors import DatasetError
from annotator.io.values import clean_text

CHECKPOINT_FORMAT = "annotator.maskrcnn"
CHECKPOINT_VERSION = 2
OFFLINE_ENV = "ANNOTATOR_OFFLINE"  # set to 1 to never try a download

_COCO_WEIGHTS = {
    "maskrcnn_resnet50_fpn": MaskRCNN_ResNet50_FPN_Weights.COCO_V1,
    "maskrcnn_resnet50_fpn_v2": MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
}
assert tuple(_COCO_WEIGHTS) == MODEL_NAMES


@dataclass(frozen=True)
class LoadedModel:
    """A model in eval mode, the architecture it is, and the category id of each label index."""

    model: MaskRCNN
    architecture: str
    label_to_category: tuple[int, ...]  # index = label, value = category id (index 0: background)
    categories: tuple[Category, ...]
    source: str  # where the weights came from, for messages and `Source.model`
    settings: ModelSettings | None = None  # None: torchvision's defaults for `architecture`
    history: tuple[Mapping[str, Any], ...] = ()  # training rounds, oldest first


def coco_categories(architecture: str = MODEL_NAMES[0]) -> tuple[Category, ...]:
    """COCO categories from torchvision's weights enum: label index = category id, "N/A" gaps skipped."""
    names = _coco_enum(architecture).meta["categories"]
    return tuple(
        Category(id=i, name=name)
        for i, name in enumerate(names)
        if i > 0 and name not in ("N/A", "__background__")
    )


def build_model(architecture: str, *, num_classes: int = 91) -> MaskRCNN:
    """A randomly initialised model of `architecture` with torchvision's settings, in eval mode (the
    same model as torchvision's builder with weights=None, weights_backbone=None; no download)."""
    return build(default_settings(_checked_name(architecture), num_classes=num_classes)).eval()


def coco_settings(architecture: str) -> ModelSettings:
    """The settings torchvision's COCO weights of `architecture` run with (v1: BatchNorm eps 0)."""
    eps = 0.0 if architecture == "maskrcnn_resnet50_fpn" else 1e-5
    return default_settings(architecture, num_classes=91).replace(bn_eps=eps)


def load_model(spec: ModelSpec) -> LoadedModel:
    """Build the model `spec` describes and load its weights (file, hub cache or download)."""
    if spec.weights is not None:
        return load_checkpoint(spec.weights, default_architecture=spec.name)
    architecture = _checked_name(spec.name)
    path = resolve_coco_weights(architecture, allow_download=spec.allow_download)
    settings = coco_settings(architecture)
    state = read_payload(path)
    check_state(state, settings, path)
    model = build(settings)
    _load_state(model, state, path)
    categories = coco_categories(architecture)
    return LoadedModel(model, architecture, tuple(range(91)), categories, architecture, settings)


def trained_input_size(loaded: LoadedModel) -> tuple[int, int] | None:
    """(min_size, max_size) a model trained by `annotator train` learnt at; None for torchvision's
    models and bare state dicts (the caller's defaults apply)."""
    settings = loaded.settings
    return None if settings is None or not loaded.history else (settings.min_size, settings.max_size)


def hub_weights_path(architecture: str) -> Path:
    """Where torch keeps the COCO weights of `architecture`: `<torch hub dir>/checkpoints/<file>`."""
    url = _coco_enum(architecture).url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def resolve_coco_weights(architecture: str, *, allow_download: bool = True) -> Path:
    """The COCO weights file: from the hub cache, else downloaded there; WeightsUnavailable if neither."""
    enum = _coco_enum(architecture)
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
            reason = f"download failed: {_download_problem(exc)}"
    else:
        reason = "not downloaded, and downloads are off"
    raise missing_coco_weights(path, architecture, reason, enum.url)


def _download_problem(exc: BaseException) -> str:
    """In words: urllib's "<urlopen error [Errno -2] Name or service not known>" is no network."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
        return f"no connection ({getattr(reason, 'strerror', None) or reason})"
    return str(exc)


def load_checkpoint(path: str | Path, *, default_architecture: str = MODEL_NAMES[0]) -> LoadedModel:
    """Load our checkpoint (v1 or v2) or a bare torchvision state dict from `path`, checked first."""
    checkpoint = read_checkpoint(path, default_architecture=default_architecture)
    model = build(checkpoint.settings)
    _load_state(model, checkpoint.state_dict, checkpoint.path)
    return LoadedModel(
        model,
        checkpoint.settings.architecture,
        checkpoint.label_to_category,
        checkpoint.categories,
        checkpoint.path.stem,
        checkpoint.settings,
        checkpoint.history,
    )


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint file's contents, checked: settings, classes, weights, history, training state."""

    path: Path
    settings: ModelSettings
    label_to_category: tuple[int, ...]  # index = label, value = category id (index 0: background)
    categories: tuple[Category, ...]
    state_dict: Mapping[str, torch.Tensor]
    history: tuple[Mapping[str, Any], ...] = ()
    training: Mapping[str, Any] | None = None  # what `--resume` needs (optimizer, step, RNG), if saved


def read_checkpoint(path: str | Path, *, default_architecture: str = MODEL_NAMES[0]) -> Checkpoint:
    """Read and check a checkpoint without building its model (DatasetError if anything is off)."""
    path = Path(path)
    payload = read_payload(path)
    if payload.get("format") == CHECKPOINT_FORMAT:
        checkpoint = _read_ours(payload, path)
    elif all(isinstance(v, torch.Tensor) for v in payload.values()):
        checkpoint = _read_state_dict(payload, path, default_architecture)
    else:
        raise DatasetError(path, "not a Mask R-CNN checkpoint (neither our format nor a state dict)")
    check_state(checkpoint.state_dict, checkpoint.settings, path)
    return checkpoint


def save_checkpoint(
    path: str | Path,
    model: MaskRCNN,
    *,
    architecture: str,
    categories: tuple[Category, ...] | list[Category],
    label_to_category: tuple[int, ...] | None = None,
    settings: ModelSettings | None = None,
    history: list[Mapping[str, Any]] | tuple[Mapping[str, Any], ...] = (),
    training: Mapping[str, Any] | None = None,
) -> None:
    """Write our checkpoint atomically: settings, classes (label index -> category id and name), weights,
    the training history and, for a resumable checkpoint, the training state.

    `label_to_category` defaults to label index = category id (as for COCO); index 0 is background.
    `settings` default to torchvision's for `architecture`. Everything in it is a tensor or plain data,
    so it loads with `weights_only=True`.
    """
    from annotator.io.atomic import atomic_writer

    names = {c.id: c.name for c in categories}
    if label_to_category is None:
        label_to_category = tuple(range(max(names, default=0) + 1))
    if settings is None:
        settings = default_settings(architecture, num_classes=len(label_to_category))
    if settings.architecture != architecture or settings.num_classes != len(label_to_category):
        raise ValueError("settings disagree with the architecture or the class table")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "architecture": architecture,
        "settings": settings.to_dict(),
        "classes": [
            {"label": label, "id": int(cid), "name": names[cid]}
            for label, cid in enumerate(label_to_category)
            if label > 0 and cid in names
        ],
        "num_classes": len(label_to_category),
        "history": [dict(entry) for entry in history],
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    if training is not None:
        payload["training"] = dict(training)
    with atomic_writer(path) as handle:
        torch.save(payload, handle)


def _read_ours(payload: Mapping[str, Any], path: Path) -> Checkpoint:
    version = payload.get("version")
    if version not in (1, CHECKPOINT_VERSION):
        raise DatasetError(path, f"checkpoint version {version!r:.20} is not one this tool reads (1, 2)")
    architecture = _checked_name(str(payload.get("architecture")), path)
    num_classes = checked_int(payload.get("num_classes"), path, "num_classes", 2, MAX_CLASSES)
    if version == 1:
        settings = default_settings(architecture, num_classes=num_classes)
    else:
        settings = checked_settings(payload.get("settings"), path)
        if (settings.architecture, settings.num_classes) != (architecture, num_classes):
            raise DatasetError(path, "checkpoint settings disagree with its architecture or class count")
    labels, categories = _class_table(payload.get("classes"), num_classes, path)
    history = payload.get("history", [])
    if not isinstance(history, list) or not all(isinstance(entry, dict) for entry in history):
        raise DatasetError(path, "checkpoint history is not a list of records")
    training = payload.get("training")
    if training is not None and not isinstance(training, dict):
        raise DatasetError(path, "checkpoint training state is not a dict")
    state = payload.get("state_dict")
    return Checkpoint(path, settings, labels, categories, state, tuple(history), training)  # type: ignore[arg-type]


def _class_table(classes: Any, num_classes: int, path: Path) -> tuple[tuple[int, ...], tuple[Category, ...]]:
    if not isinstance(classes, list) or len(classes) >= num_classes:
        raise DatasetError(path, f"checkpoint classes must be a list of fewer than {num_classes} entries")
    labels = [0] * num_classes
    categories = []
    for entry in classes:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise DatasetError(path, f"checkpoint class entry {entry!r:.60} is malformed")
        label = checked_int(entry.get("label"), path, "class label", 1, num_classes - 1)
        cid = checked_int(entry.get("id"), path, "category id", -(2**63), 2**63 - 1)
        if labels[label] or cid in labels[1:]:
            raise DatasetError(path, f"checkpoint class label {label} or id {cid} appears twice")
        labels[label] = cid
        # a pickle carries lone surrogates (`"\ud800"`): the journal, the JSON and the store refused them
        categories.append(Category(id=cid, name=clean_text(entry["name"][:500])))
    return tuple(labels), tuple(categories)


def _read_state_dict(state: Mapping[str, torch.Tensor], path: Path, default: str) -> Checkpoint:
    architecture = _guess_architecture(state, default)
    num_classes = _num_classes(state, path)
    settings = default_settings(architecture, num_classes=num_classes)
    if num_classes == 91:
        categories = coco_categories(architecture)
    else:
        categories = tuple(Category(id=i, name=f"class {i}") for i in range(1, num_classes))
    return Checkpoint(path, settings, tuple(range(num_classes)), categories, state)


def _load_state(model: MaskRCNN, state: Mapping[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    state = {k: v for k, v in state.items() if k in own or not k.endswith("num_batches_tracked")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DatasetError(path, f"weights do not fit the model: {first}") from None
    model.eval()


def _guess_architecture(state: Mapping[str, torch.Tensor], default: str) -> str:
    if "roi_heads.box_head.0.0.weight" in state:
        return "maskrcnn_resnet50_fpn_v2"
    if "backbone.body.layer4.2.conv3.weight" in state:
        return "maskrcnn_resnet50_fpn"
    if "backbone.body.layer4.1.conv2.weight" in state:
        return LIGHT_ARCHITECTURE
    return _checked_name(default)


def _num_classes(state: Mapping[str, torch.Tensor], path: Path) -> int:
    weight = state.get("roi_heads.box_predictor.cls_score.weight")
    if weight is None:
        raise DatasetError(path, "state dict has no roi_heads.box_predictor: not a Mask R-CNN")
    return checked_int(int(weight.shape[0]), path, "class count", 2, MAX_CLASSES)


def _coco_enum(architecture: str) -> Any:
    if _checked_name(architecture) not in _COCO_WEIGHTS:
        raise DatasetError(None, f"torchvision has no COCO weights for {architecture}")
    return _COCO_WEIGHTS[architecture]


def _checked_name(name: str, path: Path | None = None) -> str:
    if name not in ARCHITECTURES:
        raise DatasetError(path, f"unknown model {name!r:.60}; known: {', '.join(ARCHITECTURES)}")
    return name
