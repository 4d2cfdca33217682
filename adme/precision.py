"""What `--precision` means: one table of choices, resolved per device.

Torch-free at import, so the CLI validates the option without loading torch; adme/inference.py
applies the resolved choice where it loads a model.
"""

from __future__ import annotations

from adme.errors import AdmeError

# auto: the fastest measured choice for the device; full: the model exactly as trained (fp32 on
# the CPU, adme's usual mixed precision on a GPU); int8: dynamic int8 Linear layers (CPU);
# bf16: bf16 autocast (CPU)
PRECISIONS = ("auto", "full", "int8", "bf16")


def check_precision(precision: str) -> str:
    """PRECISION when it is one of PRECISIONS, else a one-line AdmeError naming them."""
    if precision not in PRECISIONS:
        raise AdmeError(f"--precision {precision}: not one of {', '.join(PRECISIONS)}")
    return precision


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AMX or AVX512-BF16).

    Without it bf16 is emulated and slower than fp32, so `auto` takes int8 there (whose
    per-batch activation scales make a paragraph's probabilities depend on its batch). The checks
    are torch's private helpers: a torch without them counts as no native bf16.
    """
    import torch

    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def int8_kernels() -> bool:
    """Whether this torch build has a quantised engine for dynamic int8 Linear layers."""
    import torch

    return any(e != "none" for e in torch.backends.quantized.supported_engines)


def cpu_auto(bf16: bool, int8: bool) -> str:
    """What `auto` is on a CPU with native bf16 (`bf16`) and int8 kernels (`int8`)."""
    if bf16:
        return "bf16"
    return "int8" if int8 else "full"


def resolve_precision(precision: str, device) -> str:
    """`full`, `int8` or `bf16`: what `precision` means on `device` (a torch.device).

    On a GPU only `auto`/`full` are accepted and both mean the unchanged GPU path. On the CPU
    `auto` (cpu_auto) is bf16 autocast where the CPU has native bf16 (on an AMX Xeon ~1.9x
    int8's speed; without it bf16 is emulated, 6x slower than fp32) and dynamic int8 Linear
    layers otherwise (full on a torch build without int8 kernels); both gave the full model's
    label on every paragraph of the shipped sample (benchmarks/RESULTS.md; benchmarks/label.py
    prints the agreement with the speed).
    """
    check_precision(precision)
    if device.type != "cpu":
        if precision in ("auto", "full"):
            return "full"
        raise AdmeError(
            f"--precision {precision}: a CPU option; on {device} adme runs the model in its "
            "usual mixed precision (use auto or full)"
        )
    if precision == "auto":
        return cpu_auto(native_bf16(), int8_kernels())
    if precision == "int8" and not int8_kernels():
        raise AdmeError("--precision int8: this torch build has no quantised engine (use full)")
    return precision
