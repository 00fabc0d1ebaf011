"""Reduced-precision arithmetic for the updates (``system.float32_matmul_precision``,
``system.autocast``).

Two different levers, both off by default (the recipes train in float32):

* :func:`float32_matmul_precision` — tensors stay float32; only the *products* inside
  ``mm``/``bmm``/``addmm`` may run at lower precision with float32 accumulation.  It is
  ``torch.set_float32_matmul_precision`` scoped to a ``with`` block: ``"high"`` or
  ``"medium"`` give TF32 products on CUDA GPUs since Ampere; on a CPU with AMX,
  ``"medium"`` makes oneDNN run float32 products as bfloat16 (faster matmuls there; measured
  in ``docs/performance.md``), ``"high"`` changes nothing there.
* :func:`update_autocast` — ``torch.autocast``: the ops autocast lists (the products among
  them) run in bfloat16 on bfloat16 copies of their inputs, a cast of every weight per call.

Neither changes what is stored: parameters, optimiser state, replay buffer and checkpoints
stay float32.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

__all__ = ["FLOAT32_MATMUL_PRECISIONS", "AUTOCAST_DTYPES", "float32_matmul_precision", "update_autocast"]

FLOAT32_MATMUL_PRECISIONS = ("highest", "high", "medium")
# float16 would need a gradient scaler; bfloat16 has float32's exponent range
AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16}


@contextlib.contextmanager
def float32_matmul_precision(precision: str) -> Iterator[None]:
    """``torch.set_float32_matmul_precision(precision)`` for the block, restored after it
    (the setting is process-wide; a training run must not leave it changed)."""
    if precision not in FLOAT32_MATMUL_PRECISIONS:
        raise ValueError(f"float32 matmul precision {precision!r} is not one of {list(FLOAT32_MATMUL_PRECISIONS)}")
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def update_autocast(device: torch.device, dtype: str | None) -> contextlib.AbstractContextManager:
    """``torch.autocast(device.type, dtype)`` for ``dtype="bfloat16"``; a no-op for ``None``."""
    if dtype is None:
        return contextlib.nullcontext()
    if dtype not in AUTOCAST_DTYPES:
        raise ValueError(f"autocast dtype {dtype!r} is not one of {[None, *AUTOCAST_DTYPES]}")
    return torch.autocast(torch.device(device).type, dtype=AUTOCAST_DTYPES[dtype])
