"""system.float32_matmul_precision and system.autocast: reduced-precision updates, scoped to them."""
import math

import pytest
import torch

from algd_components.training.checkpoints import read_checkpoint

from helpers import FAST, make_cfg
from algd_components import train
from algd_components.training import loop as trainer
from algd_components.critics import EnsembleCostValue
from algd_components.precision import float32_matmul_precision, update_autocast


def _relative_error(precision: str) -> float:
    torch.manual_seed(0)
    a, b = torch.randn(512, 256), torch.randn(256, 256)
    with float32_matmul_precision(precision):
        out = a @ b
    exact = a.double() @ b.double()
    return ((out.double() - exact).abs().max() / exact.abs().max()).item()


def test_precision_is_restored_after_the_block_and_after_an_error():
    assert torch.get_float32_matmul_precision() == "highest"
    with float32_matmul_precision("medium"):
        assert torch.get_float32_matmul_precision() == "medium"
    assert torch.get_float32_matmul_precision() == "highest"
    with pytest.raises(RuntimeError, match="boom"), float32_matmul_precision("high"):
        raise RuntimeError("boom")
    assert torch.get_float32_matmul_precision() == "highest"
    with pytest.raises(ValueError, match="'low'"), float32_matmul_precision("low"):
        pass


# which kernel "medium" picks is the machine's: on the project's AMD EPYC (avx512_bf16) it stays
# float32 (6e-7 off, 2026-12-02), on its Intel Xeons (AMX) it rounds to bfloat16; so a benchmark (`make bench`)
@pytest.mark.perf
def test_medium_precision_rounds_the_products_to_bfloat16_where_the_cpu_has_it():
    highest = _relative_error("highest")
    assert highest < 1e-5
    medium = _relative_error("medium")
    if medium == highest:
        pytest.skip("this CPU has no reduced-precision float32 products (oneDNN without bf16 support)")
    # bfloat16 keeps 8 significant bits: products rounded to it err by ~1e-3 relative
    assert 1e-4 < medium < 2e-2


def test_autocast_runs_products_in_bfloat16_and_none_is_a_no_op():
    net = EnsembleCostValue(5, 2, num_members=3, num_cells=(16, 16))
    obs, act = torch.randn(4, 5), torch.randn(4, 2)
    with update_autocast(torch.device("cpu"), "bfloat16"):
        assert net.members(obs, act).dtype == torch.bfloat16
    with update_autocast(torch.device("cpu"), None):
        assert net.members(obs, act).dtype == torch.float32
    assert next(net.parameters()).dtype == torch.float32
    with pytest.raises(ValueError, match="'float16'"):
        update_autocast(torch.device("cpu"), "float16")


def test_recipe_updates_run_under_the_configured_precision_and_leave_it_restored(tmp_path, monkeypatch):
    seen = []
    real_update_step = trainer.update_step

    def spy(*args, **kwargs):
        seen.append((torch.get_float32_matmul_precision(), torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return real_update_step(*args, **kwargs)

    monkeypatch.setattr(trainer, "update_step", spy)
    cfg = make_cfg("algd", [*FAST, "env.name=SafetyHalfCheetahVelocity-v1",
                            "system.float32_matmul_precision=medium", "system.autocast=bfloat16"])
    state = train(cfg, tmp_path / "run")
    assert len(seen) == state["updates"] > 0
    assert set(seen) == {("medium", True, torch.bfloat16)}
    # evaluation and collection ran outside: the process-wide setting is back to its default
    assert torch.get_float32_matmul_precision() == "highest" and not torch.is_autocast_enabled("cpu")
    assert all(math.isfinite(v) for v in state["last_losses"].values())
    ckpt = read_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert all(v.dtype != torch.bfloat16 for v in ckpt["loss"].values())  # parameters stay float32

