"""``time_dispatched_ops`` of benchmarks/profiling.py (importable here through pytest's ``pythonpath``),
the wall-clock account behind docs/performance.md's "Where the time goes": each aten op timed alone,
forward and backward."""
import time

import pytest
import torch
from profiling import PRODUCT_OPS, time_dispatched_ops

SLEEP_S = 0.03


@torch.library.custom_op("algd_test::sleep", mutates_args=())
def _sleep(x: torch.Tensor) -> torch.Tensor:
    time.sleep(SLEEP_S)
    return x.clone()


@_sleep.register_fake
def _(x):
    return torch.empty_like(x)


def _step():
    a = torch.randn(64, 64, requires_grad=True)
    torch.nn.functional.silu(a @ a.t()).sum().backward()
    torch.ops.algd_test.sleep(a.detach())


def test_each_op_is_named_flagged_and_shaped():
    records = time_dispatched_ops(_step)
    names = [r[0] for r in records]
    for op in ("aten::mm", "aten::silu", "aten::silu_backward", "aten::sum", "algd_test::sleep"):
        assert op in names, names
    assert names.count("aten::mm") == 3  # forward, and the two input gradients of a @ aᵀ
    assert "aten::mm" in PRODUCT_OPS
    flags = {name: is_view for name, is_view, _, _ in records}
    assert flags["aten::t"] and not flags["aten::silu"]
    assert dict((r[0], r[2]) for r in records)["aten::silu"] == (64, 64)


@pytest.mark.perf
def test_each_op_is_timed_alone():
    """A wall-clock threshold: a benchmark check (make bench), not part of make test."""
    t0 = time.perf_counter()
    records = time_dispatched_ops(_step)
    outer = time.perf_counter() - t0
    # the sleeping op carries its own time, and only it
    sleep_s = sum(r[3] for r in records if r[0] == "algd_test::sleep")
    others_s = sum(r[3] for r in records if r[0] != "algd_test::sleep")
    assert SLEEP_S <= sleep_s < SLEEP_S + 0.02, sleep_s
    assert others_s < SLEEP_S / 2, others_s
    assert sleep_s + others_s <= outer


def test_refuses_non_cpu_tensors():
    x = torch.empty(3, device="meta")
    with pytest.raises(ValueError, match="CPU ops only, got a tensor on meta"):
        time_dispatched_ops(lambda: x + 1)
