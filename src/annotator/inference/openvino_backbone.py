"""The ResNet body and the FPN compiled by OpenVINO's CPU runtime (`--runtime openvino`).

Why: on CPUs with native bf16 OpenVINO runs the body and the FPN in bf16 about 1.3x faster than torch
does in bf16 (and 1.6x faster than the default, fp32 body + bf16 FPN), because its graph compiler fuses
each convolution with its bias, ReLU and residual add and keeps the blocked layout between them.
In fp32 it is no faster than torch (both are oneDNN). The heads, with their data-dependent proposal
counts, stay in torch. See docs/decisions/0021-openvino.md for the measurements.

The graph takes any input height and width (dynamic shape), so it is converted once per model, not per
image size. Converting (tracing) takes 5-10 s; the converted graph is kept in the user's cache folder
under a hash of the weights, so a model's later loads take about 0.5 s (reading and compiling).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
import shutil
import sys
import tempfile
import warnings
from collections import OrderedDict
from pathlib import Path

import torch


@functools.cache
def available() -> bool:
    """True when the `openvino` package imports (it is optional)."""
    try:
        _openvino()
    except ImportError:
        return False
    return True


def _openvino():
    """The `openvino` module, without its usage telemetry. Importing it, and converting a model, would
    otherwise write `~/intel` and send usage events to Intel unless the person opted out (openvino-
    telemetry's default): not something a labelling tool does on a person's behalf. With the telemetry
    package unimportable, openvino uses its own stub."""
    sys.modules.setdefault("openvino_telemetry", None)  # None: `import openvino_telemetry` fails
    import openvino

    return openvino


class _BodyAndFpn(torch.nn.Module):
    """The backbone as a function of one tensor to a tuple (what the converter traces)."""

    def __init__(self, backbone: torch.nn.Module):
        super().__init__()
        self.body = copy.deepcopy(backbone.body).float()
        self.fpn = copy.deepcopy(backbone.fpn).float()

    def forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.fpn(self.body(batch)).values())


class OpenVinoBackbone:
    """`backbone(batch)` -> the FPN pyramid as an OrderedDict of float32 tensors, as torchvision's.

    `precision` is OpenVINO's INFERENCE_PRECISION_HINT: "bf16" (fast on native-bf16 CPUs) or "f32".
    Not thread-safe: one infer request, as one predictor per worker.
    """

    def __init__(self, backbone: torch.nn.Module, *, precision: str = "bf16", threads: int | None = None):
        ov = _openvino()
        module = _BodyAndFpn(backbone).eval()
        with torch.no_grad():
            self.names = list(module.fpn(module.body(torch.zeros(1, 3, 64, 64))).keys())
        graph = _cached_graph(module)
        config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(graph, "CPU", config)
        self.precision = precision
        self._request = self.compiled.create_infer_request()

    def __call__(self, batch: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """The pyramid of `batch` (1, 3, H, W) float32, any memory layout; the tensors are the caller's
        (copied out of the request's buffers, which the next call overwrites)."""
        self._request.infer({0: batch.float().contiguous().numpy()}, share_inputs=True)
        outputs = [
            torch.from_numpy(self._request.get_output_tensor(i).data.copy()) for i in range(len(self.names))
        ]
        return OrderedDict(zip(self.names, outputs, strict=True))


def cache_folder() -> Path:
    """Where converted graphs are kept: `$XDG_CACHE_HOME/annotator/openvino` (default ~/.cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "annotator" / "openvino"


def _cached_graph(module: torch.nn.Module):
    """The OpenVINO graph of `module`: read from the cache when converted before, else converted and
    kept there (written into a fresh folder, then renamed into place: a reader sees all or nothing).
    A cache that cannot be read or written is skipped, never an error."""
    ov = _openvino()

    folder = cache_folder()
    xml = folder / f"{_weights_key(module)}.xml"
    if xml.is_file():
        try:
            return ov.Core().read_model(xml)
        except RuntimeError:  # damaged: convert again and replace it
            pass
    example = torch.zeros(1, 3, 64, 64)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the converter traces with torch.jit
        graph = ov.convert_model(module, example_input=example, input=[(1, 3, -1, -1)])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".converting-", dir=folder))
        try:
            ov.save_model(graph, scratch / xml.name, compress_to_fp16=False)
            os.replace(scratch / xml.with_suffix(".bin").name, xml.with_suffix(".bin"))
            os.replace(scratch / xml.name, xml)  # last: the .xml's presence means both are there
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    except OSError:
        pass
    return graph


def _weights_key(module: torch.nn.Module) -> str:
    """A hash of the module's weights and of the converter's and torch's versions."""
    ov = _openvino()

    digest = hashlib.sha256(f"{ov.__version__} {torch.__version__} {type(module).__name__}".encode())
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]
