"""The CUDA path: skipped where no GPU is visible (as in CI), run on a GPU machine."""
import pytest
import torch

from conftest import FAST, make_cfg

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@cuda
def test_update_on_cuda_matches_cpu_shapes_and_stays_on_device(algd_recipe):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes" / "algd"))
    import utils as recipe
    from tensordict import TensorDict
    from torchrl.data import Bounded

    from algd_components.training import update_step

    cfg = make_cfg("algd", [*FAST, "network.device=cuda"])
    dev = torch.device("cuda")
    actor, q, c = recipe.make_modules(cfg, 5, Bounded(low=-1.0, high=1.0, shape=(2,)), dev)
    loss, updater = recipe.make_loss(cfg, actor, q, c, 1.0, dev)
    opts = recipe.make_optimizers(cfg, actor, q, c)
    B = 32
    batch = TensorDict({
        "observation": torch.randn(B, 5), "action": torch.rand(B, 2),
        "next": {"observation": torch.randn(B, 5), "reward": torch.randn(B, 1), "cost": torch.rand(B, 1),
                 "terminated": torch.zeros(B, 1, dtype=torch.bool)},
    }, batch_size=[B]).to(dev)
    out = update_step(loss, opts, updater, batch, episode_cost=None, episode_cost_limit=10.0)
    assert all(v.device.type == "cuda" and torch.isfinite(v).all() for v in out.values())
    assert loss.dual.value.device.type == "cuda"


@cuda
def test_recipe_runs_on_cuda(algd_recipe, tmp_path):
    cfg = make_cfg("algd", [*FAST, "env.name=SafetyHalfCheetahVelocity-v1", "network.device=cuda"])
    state = algd_recipe.train(cfg, tmp_path / "run")
    assert state["frames"] == 300
