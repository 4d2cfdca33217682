"""Where tensors run: CUDA with mixed precision when present, the CPU otherwise, one code path.

Training and labelling both call these, so the GPU path is the CPU path plus three switches
(device, autocast dtype, gradient scaler) and is exercised by every CPU test.
"""

from __future__ import annotations

import contextlib

import torch

from adme.errors import AdmeError, UsageError


def resolve_device(name: str = "auto") -> torch.device:
    """Turn `auto`, `cpu`, `cuda` or `cuda:N` into a device; fail clearly if CUDA is absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AdmeError(f"--device {name}: no CUDA GPU is available on this machine")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise UsageError(f"--device {name}: not a device ({exc})") from exc


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed-precision dtype for this device: bf16 where supported, fp16 otherwise, none on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast context for forward passes; a no-op on the CPU (fp32 there is exact and fast)."""
    dtype = amp_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler that is active only for fp16 (bf16 and fp32 need none)."""
    return torch.amp.GradScaler(device.type, enabled=amp_dtype(device) == torch.float16)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Move a batch; pinned host memory lets the copy overlap compute on CUDA."""
    non_blocking = device.type == "cuda"
    return {k: v.to(device, non_blocking=non_blocking) for k, v in batch.items()}


def pin_memory(device: torch.device) -> bool:
    """Whether DataLoaders should pin host memory (only worth it when copying to a GPU)."""
    return device.type == "cuda"
