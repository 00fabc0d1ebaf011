"""The CUDA path: skipped where no GPU is visible (as in CI), run on a GPU machine."""
import pytest
import torch

from algd_components import train

from helpers import FAST, make_cfg
from algd_components.algorithms import algd as algd_algo

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@cuda
def test_update_on_cuda_matches_cpu_shapes_and_stays_on_device():
    from tensordict import TensorDict
    from torchrl.data import Bounded

    from algd_components.updates import update_step

    from algd_components.algorithms import algd as recipe

    cfg = make_cfg("algd", [*FAST, "network.device=cuda"])
    dev = torch.device("cuda")
    actor, q, c = recipe.make_modules(cfg, 5, Bounded(low=-1.0, high=1.0, shape=(2,)), dev)
    loss, updater = recipe.make_loss(cfg, actor, q, c, 1.0, dev)
    opts = recipe.make_optimizers(cfg, actor, q, c)
    B = 32
    batch = TensorDict({
        "observation": torch.randn(B, 5), "action": torch.rand(B, 2),
        "next": {"observation": torch.randn(B, 5), "reward": torch.randn(B, 1), "cost": torch.rand(B, 1),
                 "terminated": torch.zeros(B, 1, dtype=torch.bool), "goal_terminated": torch.zeros(B, 1, dtype=torch.bool)},
    }, batch_size=[B]).to(dev)
    out = update_step(loss, opts, updater, batch, episode_cost=None, episode_cost_limit=10.0)
    assert all(v.device.type == "cuda" and torch.isfinite(v).all() for v in out.values())
    assert loss.dual.value.device.type == "cuda"


@cuda
def test_recipe_runs_on_cuda(tmp_path):
    cfg = make_cfg("algd", [*FAST, "env.name=SafetyHalfCheetahVelocity-v1", "network.device=cuda"])
    state = train(cfg, tmp_path / "run")
    assert state["frames"] == 300


# --- Host syncs, checked on any device -------------------------------------------------
# On CUDA an op whose result the host must read (`.item()`, `float(t)`, `if t:`, `nonzero`,
# boolean-mask indexing) blocks the CPU until the GPU queue drains, which serialises the
# update's kernels with Python.  Those ops reach the dispatcher as the aten ops below on
# every device, so a dispatch mode on CPU sees them exactly where a GPU run would stall.
_HOST_SYNC_OPS = {"aten._local_scalar_dense.default", "aten.nonzero.default", "aten.masked_select.default",
                  "aten.is_nonzero.default", "aten.item.default", "aten.unique.default", "aten._unique2.default"}


def _host_syncs(fn) -> list[str]:
    from torch.utils._python_dispatch import TorchDispatchMode

    seen = []

    class RecordSyncs(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            indices = args[1] if str(func).startswith(("aten.index.", "aten.index_put")) else ()
            bool_mask = any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices)
            if str(func) in _HOST_SYNC_OPS or bool_mask:
                seen.append(str(func))
            return func(*args, **(kwargs or {}))

    with RecordSyncs():
        fn()
    return seen


def test_host_sync_probe_sees_item_branch_and_mask():
    t = torch.tensor([1.0, -2.0])
    assert _host_syncs(lambda: t.sum().item())
    assert _host_syncs(lambda: bool(t.sum() > 0))
    assert _host_syncs(lambda: t[t > 0])
    assert not _host_syncs(lambda: torch.where(t > 0, t, 0.0).clamp(min=0).sum())


def _update_batch(b: int, obs_dim: int, act_dim: int):
    from tensordict import TensorDict

    td = TensorDict({
        "observation": torch.randn(b, obs_dim), "action": torch.rand(b, act_dim) * 2 - 1,
        "next": {"observation": torch.randn(b, obs_dim), "reward": torch.randn(b, 1),
                 "cost": (torch.rand(b, 1) < 0.3).float(), "terminated": torch.rand(b, 1) < 0.1},
    }, batch_size=[b])
    td["next", "goal_terminated"] = td["next", "terminated"].clone()  # the default task is Safety-Gym's
    return td


@pytest.mark.parametrize("overrides,max_grad_norm", [
    (["algd=code", "algd.dual.source=batch"], None),
    (["algd=code", "algd.dual.source=policy"], None),
    (["algd=code", "algd.dual.source=episode"], None),
    (["algd=paper"], None),
    (["lagrangian=standard"], None),
    ([], 1.0),  # gradient clipping, as the on-policy update uses it
])
def test_algd_update_step_has_no_host_syncs(overrides, max_grad_norm):
    """A whole ALGD update as the recipe runs it (losses, backward, optimiser steps, target
    update, dual step) issues no op that makes the host wait for the device.  (The SAC-family
    baselines are not held to this: TorchRL's ``TanhNormal`` reads its bounds on the host
    each time it is built, docs/performance.md.)"""
    from torchrl.data import Bounded

    from algd_components.updates import update_step

    cfg = make_cfg("algd", [*FAST, *overrides])
    algo = algd_algo.build(cfg, 5, Bounded(low=-1.0, high=1.0, shape=(2,)), 1.0, torch.device("cpu"))
    torch.manual_seed(0)
    kwargs = {"episode_cost": 3.0, "episode_cost_limit": 10.0}
    run = lambda: update_step(algo.loss, algo.optimizers, algo.target_updater, _update_batch(32, 5, 2),  # noqa: E731
                              max_grad_norm=max_grad_norm, **kwargs)
    run()  # lazy initialisation (first-call buffers) is allowed to read the host once
    lam0 = algo.loss.dual.value.clone()
    assert _host_syncs(run) == []
    assert not torch.equal(algo.loss.dual.value, lam0)  # the dual step did run inside the probe

    # What compile.cudagraphs captures (all but the dual step) also builds no tensor from host
    # data (`torch.tensor(x)` inside the update: a pageable host-to-device copy on a GPU, which
    # a CUDA graph cannot record).
    from torch.utils._python_dispatch import TorchDispatchMode

    fresh = []

    class RecordHostData(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if str(func).startswith("aten.lift_fresh"):
                fresh.append(str(func))
            return func(*args, **(kwargs or {}))

    with RecordHostData():
        update_step(algo.loss, algo.optimizers, algo.target_updater, _update_batch(32, 5, 2), max_grad_norm=max_grad_norm, step_dual=False)
    assert fresh == []


# --- The whole update as one CUDA graph (compile.cudagraphs=true) ------------------------
def _algd_update_parts(utils, overrides, device):
    """ALGD's loss, target updater and optimisers as its builders make them (``utils``:
    :mod:`algd_components.algorithms.algd`)."""
    from torchrl.data import Bounded

    cfg = make_cfg("algd", [*FAST, *overrides])
    torch.manual_seed(0)
    actor, q, c = utils.make_modules(cfg, 5, Bounded(low=-1.0, high=1.0, shape=(2,)), device)
    loss, updater = utils.make_loss(cfg, actor, q, c, 1.0, device)
    return cfg, loss, updater, utils.make_optimizers(cfg, actor, q, c)


@pytest.mark.parametrize("source", ["batch", "episode"])
def test_graphed_update_splits_the_update_without_changing_it(source):
    """GraphedUpdate = the captured part (update_step without the dual step, fed only
    ``loss.in_keys``) + the dual step after it.  Without CUDA its CudaGraphModule runs the
    function as is, so here it must reproduce update_step exactly: same losses, parameters
    and λ, update after update (a loss that read a key outside ``in_keys`` would fail here)."""
    from tensordict import TensorDict

    from algd_components.updates import GraphedUpdate, update_step

    cpu = torch.device("cpu")
    _, loss_a, upd_a, opt_a = _algd_update_parts(algd_algo, [f"algd.dual.source={source}"], cpu)
    _, loss_b, upd_b, opt_b = _algd_update_parts(algd_algo, [f"algd.dual.source={source}"], cpu)
    graphed = GraphedUpdate(loss_b, opt_b, upd_b, warmup=2)
    lam0 = loss_b.dual.value.clone()
    kwargs = {"episode_cost": 3.0, "episode_cost_limit": 10.0}
    torch.manual_seed(1)
    batches = [_update_batch(32, 5, 2).set("index", torch.arange(32)) for _ in range(4)]  # extra key: not an input
    for i, batch in enumerate(batches):
        torch.manual_seed(100 + i)
        out_a = update_step(loss_a, opt_a, upd_a, batch, **kwargs)
        torch.manual_seed(100 + i)
        out_b = graphed(batch, **kwargs)
        assert set(out_a.keys(True, True)) == set(out_b.keys(True, True))
        for k in out_a.keys(True, True):
            torch.testing.assert_close(out_a[k], out_b[k], rtol=0, atol=0, msg=f"update {i}: {k}")
    pa, pb = TensorDict.from_module(loss_a), TensorDict.from_module(loss_b)
    for k in pa.keys(True, True):
        torch.testing.assert_close(pa[k], pb[k], rtol=0, atol=0, msg=k)
    assert torch.equal(loss_a.dual.value, loss_b.dual.value)
    assert not torch.equal(loss_b.dual.value, lam0)  # the dual step ran


def test_graphed_update_steps_the_targets_outside_the_graph(monkeypatch):
    """A CUDA graph replays whichever branch it was captured in, and the target update's
    ``interval`` (every 2nd update under algd=code, the default) is decided on the host: so
    the function handed to CudaGraphModule must not step the targets, and GraphedUpdate
    steps them once per update after the replay, every ``interval``-th time."""
    import tensordict.nn

    from algd_components.updates import GraphedUpdate

    captured = []

    class RecordingCudaGraphModule:  # stands in for the capture: records what would be captured, runs it
        def __init__(self, module, **kwargs):
            captured.append(module)
            self.module = module

        def __call__(self, batch):
            return self.module(batch)

    monkeypatch.setattr(tensordict.nn, "CudaGraphModule", RecordingCudaGraphModule)
    cfg, loss, updater, opts = _algd_update_parts(algd_algo, [], torch.device("cpu"))
    assert cfg.optim.target_update_interval == 2  # the default preset
    graphed = GraphedUpdate(loss, opts, updater)
    batch = _update_batch(32, 5, 2)
    captured[0](batch.select(*loss.in_keys))
    assert updater.calls == 0  # the captured part holds no target step
    targets = lambda: [t.clone() for t in updater.pairs()[1]]  # noqa: E731
    moved = []
    for _ in range(4):
        before = targets()
        graphed(batch, episode_cost=3.0, episode_cost_limit=10.0)
        moved.append(not all(torch.equal(a, b) for a, b in zip(before, targets())))
    assert updater.calls == 4 and moved == [True, False, True, False]


def test_graphed_update_hides_only_the_no_cuda_notice(monkeypatch):
    """Building the CudaGraphModule silences its "no CUDA, passing through" notice and
    nothing else: its other notices (it takes TensorDicts out of PyTree for the whole
    process) must still reach the user."""
    import warnings

    import tensordict.nn

    from algd_components.updates import GraphedUpdate

    class NoisyCudaGraphModule:
        def __init__(self, module, **kwargs):
            warnings.warn("This module is instantiated on a machine without CUDA device available. We permit ...")
            warnings.warn("Tensordict is registered in PyTree. This is incompatible with CudaGraphModule.")
            self.module = module

    monkeypatch.setattr(tensordict.nn, "CudaGraphModule", NoisyCudaGraphModule)
    _, loss, updater, opts = _algd_update_parts(algd_algo, [], torch.device("cpu"))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        GraphedUpdate(loss, opts, updater)
    messages = [str(w.message) for w in seen]
    assert not any("without CUDA" in m for m in messages), messages
    assert any("registered in PyTree" in m for m in messages), messages


@cuda
def test_graphed_update_captures_and_replays_on_cuda():
    from algd_components.updates import GraphedUpdate

    dev = torch.device("cuda")
    cfg, loss, updater, opts = _algd_update_parts(algd_algo, ["network.device=cuda", "compile.cudagraphs=true"], dev)
    assert all(g["capturable"] for o in opts.values() for g in o.param_groups)
    graphed = GraphedUpdate(loss, opts, updater, warmup=2)
    before = {k: p.detach().clone() for k, p in loss.named_parameters()}
    lam0 = loss.dual.value.clone()
    outs = [graphed(_update_batch(32, 5, 2).to(dev), episode_cost=3.0, episode_cost_limit=10.0) for _ in range(6)]
    assert graphed.graphed.counter > 2  # captured, then replayed
    assert all(torch.isfinite(v).all() for out in outs for v in out.values())
    assert not torch.equal(outs[-1]["loss_qvalue"], outs[-2]["loss_qvalue"])  # replays see new batches
    moved = [k for k, p in loss.named_parameters() if p.requires_grad and not torch.equal(p, before[k])]
    assert moved and not torch.equal(loss.dual.value, lam0)


@cuda
def test_recipe_runs_with_cudagraphs(tmp_path):
    cfg = make_cfg("algd", [*FAST, "env.name=SafetyHalfCheetahVelocity-v1", "network.device=cuda", "compile.cudagraphs=true"])
    state = train(cfg, tmp_path / "run")
    assert state["frames"] == 300
