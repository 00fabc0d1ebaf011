"""Measuring an update: FLOPs, dispatched ops (counted and timed one by one by wall clock),
the matrix products alone, the machine's dense matmul rate and its CPU.

What ``benchmarks/`` and docs/performance.md use (benchmark tooling: it lives beside the
benchmarks, not in the installed package); usable on any callable, e.g. one
:func:`algd_components.updates.update_step` of your own loss.  ``tests/test_op_timing.py``
imports it through pytest's ``pythonpath`` (pyproject.toml).
"""
from __future__ import annotations

import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from algd_components.runs import ISA_FLAGS, cpu_description  # noqa: F401  the machine a figure was measured on


class _NoModuleTracker:
    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


class GlobalFlopCounter(FlopCounterMode):
    """``torch.utils.flop_counter.FlopCounterMode`` (same op registry and formulas) without
    its per-module attribution, whose module tracker cannot walk ``TensorDictParams``."""

    def __init__(self):
        super().__init__(display=False)
        self.mod_tracker = _NoModuleTracker()

    def by_op(self) -> dict[str, float]:
        return {str(k): v for k, v in self.get_flop_counts().get("Global", {}).items()}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn, device, repeats: int, warmup: int) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), times


def matmul_gflops(device: torch.device, dtype=torch.float32, n: int = 2048, repeats: int = 10, shape=None) -> float:
    """Dense matmul rate (GFLOP/s) of ``[n, k] × [k, m]`` (default ``n = k = m = 2048``):
    the machine's practical ceiling for MLP work."""
    n, k, m = shape or (n, n, n)
    a = torch.randn(n, k, device=device, dtype=dtype)
    b = torch.randn(k, m, device=device, dtype=dtype)
    ms, _ = median_ms(lambda: torch.mm(a, b), device, repeats, 3)
    return 2 * n * k * m / (ms * 1e-3) / 1e9


_PRODUCT_OPS = ("aten.mm.", "aten.addmm.", "aten.bmm.", "aten.baddbmm.")


def record_products(fn) -> list[tuple]:
    """The matrix products ``fn`` runs (forward and backward), as the dispatcher sees them:
    one ``(op, args)`` per call, every tensor argument replaced by its
    ``(shape, stride, dtype, device)`` so that the same products can be replayed."""
    from torch.utils._python_dispatch import TorchDispatchMode

    calls = []

    def spec(a):
        return ("tensor", tuple(a.shape), tuple(a.stride()), a.dtype, a.device) if isinstance(a, torch.Tensor) else a

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if str(func).startswith(_PRODUCT_OPS):
                calls.append((func, [spec(a) for a in args], {k: spec(v) for k, v in (kwargs or {}).items()}))
            return func(*args, **(kwargs or {}))

    with Record():
        fn()
    return calls


def replay_products(calls):
    """A function running the recorded products in order on fresh random operands with the
    recorded shapes and layouts (transposed and broadcast views included), each call on its
    own operands, as in the update where every product meets newly written data."""
    def make(s):
        if not (isinstance(s, tuple) and s and s[0] == "tensor"):
            return s
        _, shape, stride, dtype, device = s
        size = 1 + sum((n - 1) * st for n, st in zip(shape, stride)) if all(shape) else 0
        return torch.randn(size, dtype=dtype, device=device).as_strided(shape, stride)

    prepared = [(func, [make(a) for a in args], {k: make(v) for k, v in kwargs.items()}) for func, args, kwargs in calls]

    def run():
        for func, args, kwargs in prepared:
            func(*args, **kwargs)
    return run


def count_dispatched_ops(fn) -> tuple[int, int]:
    """``(all, compute)``: the aten ops ``fn`` dispatches (forward and backward, as a
    ``TorchDispatchMode`` sees them), and those that are not views — on a GPU each of the
    latter is at least one kernel launched from the host."""
    from torch.utils._python_dispatch import TorchDispatchMode

    counts = [0, 0]

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            counts[0] += 1
            if not _is_view_like(func):
                counts[1] += 1
            return func(*args, **(kwargs or {}))

    with Count():
        fn()
    return counts[0], counts[1]


_VIEW_LIKE = {"aten::detach", "aten::_unsafe_view", "aten::reshape", "aten::alias", "aten::lift_fresh"}


def _is_view_like(func) -> bool:
    """A view, or an op that only makes one (no kernel of its own)."""
    return bool(func.is_view or func.name() in _VIEW_LIKE)


PRODUCT_OPS = ("aten::bmm", "aten::baddbmm", "aten::mm", "aten::addmm")


def time_dispatched_ops(fn) -> list[tuple[str, bool, tuple, float]]:
    """Wall-clock time of every aten op ``fn`` dispatches on the CPU (forward and backward):
    ``(name without overload, is_view, shape of its first tensor argument, seconds)`` per call,
    in order.

    Each op is timed with ``time.perf_counter`` around the call alone, so what the timing mode
    itself costs falls between ops, not inside them.  CPU only: on a GPU an op returns when
    its kernel is queued.  Why not ``torch.profiler`` alone: inside an update it has charged
    element-wise ops several times their wall-clock time (docs/performance.md, "Where the time
    goes on this machine").
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    records = []
    clock = time.perf_counter

    class Time(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            first = next((a for a in args if isinstance(a, torch.Tensor)), None)
            if first is not None and first.device.type != "cpu":
                raise ValueError(f"time_dispatched_ops times CPU ops only, got a tensor on {first.device}")
            t0 = clock()
            out = func(*args, **(kwargs or {}))
            elapsed = clock() - t0
            records.append((func._schema.name, _is_view_like(func),
                            tuple(first.shape) if first is not None else (), elapsed))
            return out

    with Time():
        fn()
    return records
