"""Reading a checkpoint file safely: what the file is, what it holds, and whether its weights are sane.

A checkpoint is data from anywhere. It is loaded with `torch.load(weights_only=True)` (no code runs),
and before any model is built its declared class count and every tensor's shape are checked against
the shapes the architecture has (computed on the meta device, allocating nothing): a 1 KB file that
claims 10^8 classes is refused at once. NaN or infinite weights are refused too, and so is every tensor
that is not a plain array of real numbers in memory (sparse, quantized, on the meta device, complex or
float8): `torch.load` returns them all, and each failed later as an internal error, or (complex) let
NaN weights through the finite check. A folder, a FIFO or a device given as the file says what it is
rather than blocking or failing obscurely.
"""

from __future__ import annotations

import math
import os
import re
import stat
import struct
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from annotator.inference.architectures import ModelSettings, SettingsError, parameter_shapes
from annotator.io.errors import DatasetError

MAX_FILE_BYTES = 4 << 30  # the largest Mask R-CNN with MAX_CLASSES and its optimizer state is far smaller
INCOMPLETE = "is not a complete checkpoint (truncated, or not a file torch.save wrote)"
# the element types a weight may have: real numbers a model's float32 parameters and int64 counters take
_WEIGHT_DTYPES = frozenset({
    torch.float16, torch.bfloat16, torch.float32, torch.float64,
    torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool,
})  # fmt: skip


def read_payload(path: Path) -> dict:
    """The dict a checkpoint file holds (torchvision reference scripts' {"model": ...} unwrapped)."""
    _check_file_kind(path)
    _check_magic(path)
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: never beside our one line
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except (EOFError, IndexError, struct.error):  # a legacy (pickle) checkpoint cut short mid-record
        raise DatasetError(path, INCOMPLETE) from None
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        if "unexpected EOF" in str(exc):  # torch's words for a legacy checkpoint whose tensors are cut off
            raise DatasetError(path, INCOMPLETE) from None
        raise DatasetError(path, f"cannot load checkpoint safely ({_load_failure(exc)})") from None
    if not isinstance(payload, dict):
        raise DatasetError(path, f"checkpoint holds a {type(payload).__name__}, not a dict")
    if "model" in payload and isinstance(payload["model"], dict) and "format" not in payload:
        payload = payload["model"]  # torchvision reference scripts save {"model": state_dict, ...}
    return payload


def checked_settings(data: Any, path: Path) -> ModelSettings:
    try:
        return ModelSettings.from_dict(data)
    except SettingsError as exc:
        raise DatasetError(path, f"checkpoint settings are not sane: {exc}") from None


def check_state(state: Mapping[str, Any], settings: ModelSettings, path: Path) -> None:
    """Refuse a state dict that does not fit `settings` exactly, or holds NaN or infinite weights.

    Runs before the model is built: the expected shapes come from a meta-device model.
    """
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
        raise DatasetError(path, "checkpoint state_dict is not a dict of named tensors")
    expected = parameter_shapes(settings)
    for name, value in state.items():
        if name not in expected and name.endswith("num_batches_tracked"):
            continue  # BatchNorm's step counter: harmless where the model has frozen or no BatchNorm
        if name not in expected:
            raise DatasetError(
                path, f"weights do not fit {settings.architecture}: unexpected tensor {name!r}"
            )
        if not isinstance(value, torch.Tensor):
            raise DatasetError(path, f"weights do not fit: {name!r} is a {type(value).__name__}")
        problem = _tensor_problem(value)
        if problem is not None:
            raise DatasetError(path, f"weights do not fit: {name} {problem}")
        if tuple(value.shape) != expected[name]:
            raise DatasetError(
                path,
                f"weights do not fit {settings.architecture} with {settings.num_classes} classes: "
                f"{name} has shape {list(value.shape)}, the model's is {list(expected[name])}",
            )
    missing = [n for n in expected if n not in state and not n.endswith("num_batches_tracked")]
    if missing:
        raise DatasetError(path, f"weights do not fit {settings.architecture}: {missing[0]} is missing")
    for name in expected.keys() & state.keys():  # a BatchNorm counter the model lacks may be anything
        value = state[name]
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise DatasetError(path, f"weights hold NaN or infinite values ({name})")


def _tensor_problem(value: torch.Tensor) -> str | None:
    """Why `value` is not a plain CPU array of real numbers, or None."""
    if value.layout is not torch.strided:
        return f"is a {str(value.layout).removeprefix('torch.')} tensor, not a plain array of weights"
    if value.is_quantized:
        return "is a quantized tensor, not a plain array of weights"
    if value.device.type != "cpu":
        return f"is on the {value.device.type} device, with no values in the file"
    if value.dtype not in _WEIGHT_DTYPES:
        return f"holds {str(value.dtype).removeprefix('torch.')} values, not real numbers a model takes"
    return None


def checked_int(value: Any, path: Path, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DatasetError(
            path, f"checkpoint {what} must be an integer in [{low}, {high}], got {value!r:.40}"
        )
    return value


def _check_file_kind(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DatasetError(path, "no such weights file") from None
    except OSError as exc:
        raise DatasetError(path, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise DatasetError(path, "is a folder, not a weights file")
    if not stat.S_ISREG(info.st_mode):
        raise DatasetError(path, f"is a {_kind(info.st_mode)}, not a weights file")
    if info.st_size == 0:
        raise DatasetError(path, "the file is empty, not a weights file")
    if info.st_size > MAX_FILE_BYTES:
        raise DatasetError(path, f"is {info.st_size / 2**30:.1f} GiB: too large for a Mask R-CNN checkpoint")
    if not os.access(path, os.R_OK):
        raise DatasetError(path, "cannot read: permission denied")


def _check_magic(path: Path) -> None:
    """A checkpoint is a zip archive (torch.save) or a pickle (the legacy format): anything else, such as
    random bytes, is named as such rather than as a pickle holding objects."""
    try:
        with path.open("rb") as file:
            head = file.read(4)
    except OSError as exc:
        raise DatasetError(path, f"cannot read: {exc.strerror or exc}") from None
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise DatasetError(
            path, "is not a PyTorch checkpoint (neither the zip archive torch.save writes nor a pickle)"
        )
    if head.startswith(b"PK\x03\x04"):
        _check_zip_directory(path)


def _check_zip_directory(path: Path) -> None:
    """A zip archive's directory is at its end, so a file cut short has none: say so, instead of torch's
    reader failing in words of its own (an internal miniz error, or "[Errno 22] Invalid argument")."""
    try:
        with zipfile.ZipFile(path):  # reads only the directory at the end, whatever the archive's size
            pass
    except (zipfile.BadZipFile, EOFError, ValueError, OSError):
        raise DatasetError(path, INCOMPLETE) from None


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _is_unpickling_error(exc: Exception) -> bool:
    """By name: this module never imports the pickle module (tests/unit/test_security.py)."""
    return any(kind.__name__ == "UnpicklingError" for kind in type(exc).__mro__)


def _load_failure(exc: Exception) -> str:
    """Why torch refused the file, without torch's advice to turn `weights_only` off (never do)."""
    text = str(exc)
    if _is_unpickling_error(exc) or "Weights only load failed" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        if found is None and "Unsupported operand" in text:
            return "it holds Python objects other than weights, or damaged data; they are refused, never run"
        what = f" ({found.group(1)})" if found else ""
        return f"it holds Python objects other than weights{what}; they are refused, never run"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:200]


def is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
