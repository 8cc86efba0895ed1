"""The ResNet body, the FPN, the RPN head and the mask head compiled by OpenVINO's CPU runtime
(`--runtime openvino`).

Why: on CPUs with native bf16 OpenVINO runs the body and the FPN in bf16 about 1.3x faster than torch
does in bf16 (and 1.6x faster than the default, fp32 body + bf16 FPN), because its graph compiler fuses
each convolution with its bias, ReLU and residual add and keeps the blocked layout between them; the
mask head's convolutions (with GroupNorm where the model has it) 1.3-1.4x. In fp32 it is no faster than
torch (both are oneDNN). The RPN head runs in the body's graph (one call, no copies between them); what
has data-dependent counts (anchors, proposal selection and NMS, RoIAlign, the box head) stays in torch.
See docs/decisions/0021-openvino.md for the measurements.

The graphs take any input height and width and any number of boxes (dynamic shapes), so they are
converted once per model, not per image size. Converting (tracing) takes 5-10 s; the converted graphs are
kept in the user's cache folder under a hash of the weights, so a model's later loads take about 0.5 s
(reading and compiling).
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


GRAPH_VERSION = 2  # in the cache key: bumped when what a graph computes changes (2: the RPN head joined)


class _BodyFpnAndRpnHead(torch.nn.Module):
    """The backbone and the RPN head as a function of one tensor to a tuple (what the converter traces):
    the FPN levels, then the RPN's objectness per level, then its box deltas per level."""

    def __init__(self, backbone: torch.nn.Module, rpn_head: torch.nn.Module):
        super().__init__()
        self.body = copy.deepcopy(backbone.body).float()
        self.fpn = copy.deepcopy(backbone.fpn).float()
        self.rpn_head = copy.deepcopy(rpn_head).float()

    def forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        levels = list(self.fpn(self.body(batch)).values())
        objectness, deltas = self.rpn_head(levels)
        return (*levels, *objectness, *deltas)


class _MaskHead(torch.nn.Module):
    """The mask head and predictor on RoIAlign's (K, w, h, C) memory (`roi_align.py`), to (K, classes,
    2h, 2w) logits; the permute to (K, C, h, w) is in the graph, so the pooled boxes go in uncopied."""

    def __init__(self, mask_head: torch.nn.Module, mask_predictor: torch.nn.Module):
        super().__init__()
        self.mask_head = copy.deepcopy(mask_head).float()
        self.mask_predictor = copy.deepcopy(mask_predictor).float()

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.mask_predictor(self.mask_head(pooled.permute(0, 3, 2, 1)))


class _Compiled:
    """One converted graph compiled for the CPU, with one infer request (not thread-safe: one predictor
    per worker)."""

    def __init__(self, module: torch.nn.Module, example: torch.Tensor, shape, precision: str, threads):
        ov = _openvino()
        config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(_cached_graph(module, example, shape), "CPU", config)
        self.request = self.compiled.create_infer_request()

    def __call__(self, array) -> list[torch.Tensor]:
        """The outputs for `array` (a C-contiguous float32 array, read in place), copied out of the
        request's buffers (which the next call overwrites)."""
        self.request.infer({0: array}, share_inputs=True)
        return [
            torch.from_numpy(self.request.get_output_tensor(i).data.copy())
            for i in range(len(self.compiled.outputs))
        ]


class OpenVinoBackbone:
    """`backbone(batch)` -> the FPN pyramid as an OrderedDict of float32 tensors, as torchvision's, and
    the RPN head's objectness and box deltas per level (float32), as `RPNHead` returns them.

    `precision` is OpenVINO's INFERENCE_PRECISION_HINT: "bf16" (fast on native-bf16 CPUs) or "f32".
    Not thread-safe: one infer request, as one predictor per worker.
    """

    def __init__(
        self,
        backbone: torch.nn.Module,
        rpn_head: torch.nn.Module,
        *,
        precision: str = "bf16",
        threads: int | None = None,
    ):
        module = _BodyFpnAndRpnHead(backbone, rpn_head).eval()
        with torch.no_grad():
            self.names = list(module.fpn(module.body(torch.zeros(1, 3, 64, 64))).keys())
        self._graph = _Compiled(module, torch.zeros(1, 3, 64, 64), (1, 3, -1, -1), precision, threads)
        self.precision = precision

    def __call__(
        self, batch: torch.Tensor
    ) -> tuple[OrderedDict[str, torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """The pyramid, objectness and deltas of `batch` (1, 3, H, W) float32, any memory layout."""
        outputs = self._graph(batch.float().contiguous().numpy())
        count = len(self.names)
        pyramid = OrderedDict(zip(self.names, outputs[:count], strict=True))
        return pyramid, outputs[count : 2 * count], outputs[2 * count :]


class OpenVinoMaskHead:
    """`mask_head(pooled)` -> (K, classes, 2h, 2w) float32 mask logits of `pooled` (K, C, h, w) boxes,
    as torchvision's mask head then predictor; any K but 0. Fastest on `roi_align.py`'s memory, which
    goes in uncopied."""

    def __init__(
        self,
        mask_head: torch.nn.Module,
        mask_predictor: torch.nn.Module,
        output_size: tuple[int, int],
        channels: int,
        *,
        precision: str = "bf16",
        threads: int | None = None,
    ):
        module = _MaskHead(mask_head, mask_predictor).eval()
        height, width = output_size
        example = torch.zeros(2, width, height, channels)
        self._graph = _Compiled(module, example, (-1, width, height, channels), precision, threads)

    def __call__(self, pooled: torch.Tensor) -> torch.Tensor:
        return self._graph(pooled.float().permute(0, 3, 2, 1).contiguous().numpy())[0]


def cache_folder() -> Path:
    """Where converted graphs are kept: `$XDG_CACHE_HOME/annotator/openvino` (default ~/.cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "annotator" / "openvino"


def _cached_graph(module: torch.nn.Module, example: torch.Tensor, shape: tuple[int, ...]):
    """The OpenVINO graph of `module` for inputs like `example`, of `shape` (-1: any size there): read
    from the cache when converted before, else converted and
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
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the converter traces with torch.jit
        graph = ov.convert_model(module, example_input=example, input=[shape])
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
    """A hash of the module's weights, of its kind and of the converter's and torch's versions."""
    ov = _openvino()

    kind = f"{ov.__version__} {torch.__version__} {type(module).__name__} {GRAPH_VERSION}"
    digest = hashlib.sha256(kind.encode())
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]
