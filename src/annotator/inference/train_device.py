"""Where training runs and in what precision: the device choice and mixed precision, kept small.

CPU: bf16 autocast only where the CPU has native bf16 (avx512_bf16 or AMX): elsewhere bf16 is emulated
and slower than float32. CUDA: bf16 autocast where the GPU supports it, else fp16 autocast with a
gradient scaler (fp16's range is too narrow for gradients without it). The loss and the optimizer step
stay in float32 either way.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from annotator.core.predictor import Device
from annotator.io.errors import DatasetError


def pick_device(name: str, *, cuda_available: bool | None = None) -> torch.device:
    """`auto`: CUDA when there is one, else the CPU; `cuda` without one is an error naming the way out."""
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    device = Device(name)
    if device is Device.AUTO:
        return torch.device("cuda" if available else "cpu")
    if device is Device.CUDA and not available:
        raise DatasetError(None, "--device cuda: no CUDA device is available (use --device cpu or auto)")
    return torch.device(device.value)


@dataclass(frozen=True)
class Precision:
    """The autocast dtype (None: float32 throughout) on a device, and whether gradients are scaled."""

    device_type: str
    dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, clip: float) -> None:
        optimizer.zero_grad(set_to_none=True)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, clip)
            self.scaler.step(optimizer)
            self.scaler.update()
            return
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()

    def describe(self) -> str:
        if self.dtype is None:
            return "fp32"
        name = "bf16" if self.dtype == torch.bfloat16 else "fp16"
        return f"{name} autocast" + (" with gradient scaling" if self.scaler is not None else "")


def precision_for(
    choice: str, device: torch.device, *, native_cpu_bf16: bool | None = None, cuda_bf16: bool | None = None
) -> Precision:
    """The precision `choice` (auto, fp32, bf16, fp16) means on `device`."""
    kind = device.type
    if choice == "fp32":
        return Precision(kind, None)
    if kind == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported() if cuda_bf16 is None else cuda_bf16
        if choice == "bf16" or (choice == "auto" and bf16_ok):
            return Precision(kind, torch.bfloat16)
        return Precision(kind, torch.float16, torch.amp.GradScaler("cuda"))
    if choice == "fp16":
        raise DatasetError(None, "precision fp16 needs a CUDA device; on a CPU use bf16 or fp32")
    if native_cpu_bf16 is None:
        from annotator.inference.predictor import cpu_has_native_bf16

        native_cpu_bf16 = cpu_has_native_bf16()
    if choice == "bf16" or native_cpu_bf16:
        return Precision(kind, torch.bfloat16)
    return Precision(kind, None)
