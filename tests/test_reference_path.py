"""The optimised ALGD update equals a plain reference implementation on the same seed."""
import pytest
import torch
from tensordict import TensorDict

import algd_components as A
from reference_algd import reference_losses


def build(energy_coef, score_coef, M=3, N=4, score_reduction="sum", cost_target="mean", into_chain=False,
          chain_space="pre_squash"):
    torch.manual_seed(0)
    o, a = 5, 2
    actor = A.VESDEActor(o, a, action_low=-1.0, action_high=torch.tensor([1.0, 2.0]), num_cells=(16, 16),
                         chain_space=chain_space)
    q = A.TwinQValue(o, a, num_cells=(16, 16))
    c = A.EnsembleCostValue(o, a, num_members=M, num_cells=(16, 16), risk_coef=1.0)
    loss = A.ALGDLoss(actor, q, c, A.AugmentedLagrangian(rho=1.5), A.DualVariable(init_value=0.4), cost_limit=0.2,
                      num_samples=N, energy_coef=energy_coef, score_coef=score_coef, score_reduction=score_reduction,
                      cost_target=cost_target, score_grad_into_chain=into_chain)
    B = 8
    td = TensorDict({
        "observation": torch.randn(B, o), "action": torch.rand(B, a),
        "next": {"observation": torch.randn(B, o), "reward": torch.randn(B, 1), "cost": torch.rand(B, 1),
                 "terminated": torch.tensor([[False]] * 6 + [[True]] * 2)},
    }, batch_size=[B])
    # make the targets differ from the online critics, as after some updates
    with torch.no_grad():
        loss.target_qvalue_network_params.apply_(lambda p: p.add_(0.05 * torch.randn_like(p)))
        loss.target_cost_network_params.apply_(lambda p: p.add_(0.05 * torch.randn_like(p)))
    return loss, td


def grads(module):
    return {n: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for n, p in module.named_parameters()}


@pytest.mark.parametrize("energy_coef, score_coef, score_reduction, cost_target, into_chain, space",
                         [(1.0, 0.1, "mean", "member", True, "pre_squash"), (0.0, 1.0, "sum", "mean", False, "pre_squash"),
                          (1.0, 0.1, "sum", "mean", False, "pre_squash"), (0.0, 1.0, "sum", "mean", True, "pre_squash"),
                          (1.0, 0.1, "mean", "member", True, "action"), (0.0, 1.0, "sum", "mean", False, "action")],
                         ids=["algd=code", "algd=paper", "code-coefficients-paper-reductions", "paper-score-into-chain",
                              "algd=code-action-space", "algd=paper-action-space"])
def test_optimised_update_matches_reference(energy_coef, score_coef, score_reduction, cost_target, into_chain, space):
    loss, td = build(energy_coef, score_coef, score_reduction=score_reduction, cost_target=cost_target,
                     into_chain=into_chain, chain_space=space)
    torch.manual_seed(123)
    fast = loss(td)
    total = fast["loss_qvalue"] + fast["loss_cost"] + fast["loss_actor"]
    loss.zero_grad()
    total.backward()
    g_fast = grads(loss)

    torch.manual_seed(123)
    ref = reference_losses(loss, td)
    loss.zero_grad()
    (ref["loss_qvalue"] + ref["loss_cost"] + ref["loss_actor"]).backward()
    g_ref = grads(loss)

    for k in ("loss_qvalue", "loss_cost", "loss_actor", "score_loss"):
        assert torch.allclose(fast[k], ref[k].detach(), rtol=1e-4, atol=1e-5), (k, fast[k], ref[k])
    for n in g_fast:
        assert torch.allclose(g_fast[n], g_ref[n], rtol=1e-3, atol=1e-5), n
    # what is compared is not zeros: each trained part (actor, reward critics, cost critics) gets a gradient
    for part in ("actor", "qvalue_network_params", "cost_network_params"):
        assert any(g.abs().sum() > 0 for n, g in g_ref.items() if n.startswith(part)), part


def test_compiled_score_target_matches_eager():
    """compile.compile=true: the Monte-Carlo energy and action gradient run as one compiled
    graph; the same draws give the same loss and gradients as the eager path."""
    from algd_components.compile import compile_modules

    loss, td = build(energy_coef=1.0, score_coef=0.1)
    torch.manual_seed(5)
    eager = loss(td)
    loss.zero_grad()
    (eager["loss_qvalue"] + eager["loss_cost"] + eager["loss_actor"]).backward()
    g_eager = grads(loss)

    compile_modules(loss)
    assert loss.score_loss.compiled_energy_and_grad is not None
    torch.manual_seed(5)
    compiled = loss(td)
    loss.zero_grad()
    (compiled["loss_qvalue"] + compiled["loss_cost"] + compiled["loss_actor"]).backward()
    g_compiled = grads(loss)
    for k in ("loss_qvalue", "loss_cost", "loss_actor", "score_loss", "score_target_norm"):
        assert torch.allclose(compiled[k], eager[k], rtol=1e-4, atol=1e-5), (k, compiled[k], eager[k])
    for n in g_eager:
        assert torch.allclose(g_compiled[n], g_eager[n], rtol=1e-3, atol=1e-5), n

    # a deep copy with different critics computes its own target, not the original's
    import copy

    twin = copy.deepcopy(loss)
    with torch.no_grad():
        twin.score_loss.cost_network.net.layers[0].weight.add_(0.5)
    sample = twin.actor.policy.sample_for_training(td["observation"], with_grad=False)
    td_score = TensorDict({"observation": td["observation"], **{k: sample[k] for k in ("noisy_action", "noise_sigma", "diffusion_step")}},
                          batch_size=td.batch_size)
    gen = lambda: torch.Generator().manual_seed(9)  # noqa: E731
    compiled_target = twin.score_loss.score_target(td_score, generator=gen())
    twin.score_loss.compiled_energy_and_grad = None
    assert torch.allclose(compiled_target, twin.score_loss.score_target(td_score, generator=gen()), rtol=1e-4, atol=1e-5)


def _loss_with_targets(algo):
    if algo == "algd":
        return build(1.0, 0.1)[0]
    from helpers import FAST_SAC, make_cfg
    from torchrl.data import Bounded

    from algd_components.algorithms.sac import build as build_sac

    torch.manual_seed(0)
    return build_sac(make_cfg("sac_lag", FAST_SAC), 5, Bounded(low=-1.0, high=1.0, shape=(2,)), 0.2, "cpu").loss


@pytest.mark.parametrize("algo", ["algd", "sac"])
def test_foreach_soft_update_equals_torchrl_soft_update(algo):
    """ForeachSoftUpdate (one foreach lerp) moves every target exactly as TorchRL's
    SoftUpdate does, for ALGDLoss and for SACLagLoss (TorchRL's SACLoss underneath)."""
    from torchrl.objectives import SoftUpdate

    from algd_components.updates import ForeachSoftUpdate

    # two builds from one seed, not a deep copy: TensorDict's deepcopy clones the *_params
    # without the memo, so a copied loss's modules would no longer share them
    loss_a, loss_b = _loss_with_targets(algo), _loss_with_targets(algo)
    upd_a, upd_b = SoftUpdate(loss_a, eps=0.9), ForeachSoftUpdate(loss_b, eps=0.9)
    before = {k: v.clone() for k, v in loss_a.state_dict().items()}
    for _ in range(3):
        with torch.no_grad():  # the online networks move between steps, as after optimiser steps
            for pa, pb in zip(loss_a.parameters(), loss_b.parameters()):
                noise = torch.randn_like(pa)
                pa.add_(noise), pb.add_(noise)
        upd_a.step(), upd_b.step()
    sa, sb = loss_a.state_dict(), loss_b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    moved = [k for k in sa if k.startswith("target_") and not torch.equal(sa[k], before[k])]
    assert len(moved) >= 6, moved  # every critic layer's weight and bias


def test_cached_detached_critics_follow_steps_loading_and_casts():
    """The policy's energy reads the critics through detached views built once (as TorchRL's
    SACLoss does): optimiser steps and load_state_dict must show through them, and a cast
    must rebuild them."""
    loss, td = build(1.0, 0.1)
    caches = lambda: ((loss._cached_detached_qvalue_params, loss.qvalue_network_params),  # noqa: E731
                      (loss._cached_detached_cost_params, loss.cost_network_params))

    def assert_current():
        for cache, live in caches():
            assert not any(t.requires_grad for t in cache.values(True, True))
            for key, value in live.items(True, True):
                assert torch.equal(cache.get(key), value), key

    first = [c for c, _ in caches()]
    opt = torch.optim.Adam(loss.parameters(), lr=0.1)
    out = loss(td)
    (out["loss_qvalue"] + out["loss_cost"] + out["loss_actor"]).backward()
    opt.step()
    assert all(c is f for (c, _), f in zip(caches(), first))  # the same cached views ...
    assert_current()  # ... showing the stepped parameters
    other, _ = build(0.0, 1.0)
    with torch.no_grad():
        other.qvalue_network_params.apply_(lambda p: p.add_(1.0))
    loss.load_state_dict(other.state_dict())
    assert_current()
    loss.to(torch.float64)
    assert all(t.dtype == torch.float64 for c, _ in caches() for t in c.values(True, True))
    assert_current()


def _graph_leaves(tensor):
    """Every leaf tensor that back-propagating ``tensor`` would accumulate a gradient into."""
    leaves, seen, stack = [], set(), [tensor.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if hasattr(fn, "variable"):
            leaves.append(fn.variable)
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return leaves


@pytest.mark.parametrize("algo", ["algd", "sac"])
def test_frozen_critics_build_no_weight_gradients(algo):
    """The actor's loss reads the critics with their parameters detached: its graph must end
    in the actor's parameters (and log α) only.  A frozen pass that wrapped the detached
    weights in fresh Parameters (TensorDict's ``to_module`` does by default) would make
    backward compute weight gradients nobody uses — 0.22 GFLOP per ALGD update at N=4, M=4."""
    if algo == "algd":
        loss, td = build(1.0, 0.1)
        actor_loss = loss(td)["loss_actor"]
        allowed = {id(p) for p in loss.actor.parameters()}
    else:
        loss = _loss_with_targets(algo)
        actor_loss = loss.actor_loss(TensorDict({"observation": torch.randn(8, 5)}, batch_size=[8]))[0]
        allowed = {id(p) for p in loss.actor_network_params.values(True, True)} | {id(loss.log_alpha)}
    leaves = _graph_leaves(actor_loss)
    assert leaves and all(id(leaf) in allowed for leaf in leaves), [tuple(leaf.shape) for leaf in leaves if id(leaf) not in allowed]
