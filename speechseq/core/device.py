"""Device choice and mixed precision."""

from __future__ import annotations

import sys

import torch

from speechseq.errors import UsageError


def resolve_device(spec: str = "auto", quiet: bool = False) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu, and says which; otherwise ``cpu``/``cuda[:N]``/``mps``."""
    if spec == "auto":
        if torch.cuda.is_available():
            dev = torch.device("cuda")
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            dev = torch.device("mps")
        else:
            dev = torch.device("cpu")
        if not quiet:
            print(f"device: auto chose {dev}", file=sys.stderr)
        return dev
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise UsageError(
            f"--device {spec}: not a device — use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            f"--device {spec}: CUDA is not available on this machine — use --device cpu or auto"
        )
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise UsageError(
            f"--device {spec}: MPS is not available on this machine — use --device cpu or auto"
        )
    return dev


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for ``precision`` (auto|fp32|bf16|fp16): bf16 on GPUs that have it, fp16 otherwise; none on CPU."""
    if precision == "fp32" or device.type == "cpu":
        return None
    if precision == "bf16" or (
        precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
    ):
        return torch.bfloat16
    if precision in ("fp16", "auto"):
        return torch.float16
    raise UsageError(f"precision {precision}: use auto, fp32, bf16 or fp16")
