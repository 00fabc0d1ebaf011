"""The switches behind algd=code / algd=paper and CAL's presets, each on a hand-built batch."""
import pytest
import torch
import torch.nn.functional as F
from tensordict import TensorDict

import algd_components as A
from algd_components import compose_config
from algd_components.algorithms import algd as algd_algo
from algd_components.algorithms import sac as sac_algo
from algd_components.updates import ForeachSoftUpdate
from helpers import FAST, FAST_SAC
from torchrl.data import Bounded

O, ACT, B, M = 5, 3, 16, 4


def parts(M=M):
    torch.manual_seed(0)
    actor = A.VESDEActor(O, ACT, num_cells=(16, 16))
    q = A.TwinQValue(O, ACT, num_cells=(16, 16))
    c = A.EnsembleCostValue(O, ACT, num_members=M, num_cells=(16, 16), risk_coef=1.0)
    return actor, q, c


def batch():
    td = TensorDict({"observation": torch.randn(B, O), "action": torch.rand(B, ACT) * 2 - 1,
                     "next": {"observation": torch.randn(B, O), "reward": torch.randn(B, 1), "cost": torch.rand(B, 1),
                              "terminated": torch.tensor([[False]] * (B - 3) + [[True]] * 3)}}, batch_size=[B])
    td["next", "goal_terminated"] = td["next", "terminated"].clone()  # the default task is Safety-Gym's
    return td


def test_mean_score_reduction_is_f_mse_loss_and_sum_is_the_squared_norm():
    actor, q, c = parts()
    td = TensorDict(observation=torch.randn(B, O), batch_size=[B])
    actor.sample_for_training(td, with_grad=False)
    for reduction in ("mean", "sum"):
        loss = A.AugLagScoreTarget(actor, q, c, A.AugmentedLagrangian(), A.DualVariable(), 0.5, num_samples=3,
                                   reduction=reduction)
        torch.manual_seed(1)
        target = loss.score_target(td)
        pred = actor.policy.score(td["observation"], td["noisy_action"], td["diffusion_step"])
        torch.manual_seed(1)
        got = loss(td)["loss_score"]
        want = F.mse_loss(pred, target) if reduction == "mean" else (pred - target).square().sum(-1).mean()
        assert torch.allclose(got, want, rtol=1e-6), (reduction, got, want)
    assert torch.allclose(F.mse_loss(pred, target) * ACT, (pred - target).square().sum(-1).mean(), rtol=1e-5)


@pytest.mark.parametrize("mode", ["member", "mean", "max"])
def test_cost_target_modes(mode):
    actor, q, c = parts()
    loss = A.ALGDLoss(actor, q, c, A.AugmentedLagrangian(), A.DualVariable(), 0.5, num_samples=2, cost_target=mode)
    with torch.no_grad():  # targets apart from the online critics, members apart from each other
        loss.target_cost_network_params.apply_(lambda p: p.add_(0.3 * torch.randn_like(p)))
    td = batch()
    nxt = td["next"]
    next_action = torch.rand(B, ACT) * 2 - 1
    not_done = 1.0 - nxt["terminated"].float()
    y = loss.cost_target(nxt["observation"], next_action, nxt["cost"], not_done)
    with loss.target_cost_network_params.to_module(loss.cost_network):
        by_member = [loss.cost_network.net.member(i)(torch.cat([nxt["observation"], next_action], -1)) for i in range(M)]
    expect = {"member": [nxt["cost"] + 0.99 * not_done * v for v in by_member],
              "mean": [nxt["cost"] + 0.99 * not_done * torch.stack(by_member).mean(0)] * M,
              "max": [nxt["cost"] + 0.99 * not_done * torch.stack(by_member).max(0).values] * M}[mode]
    if mode == "member":
        assert y.shape == (B, M, 1)
        for i in range(M):  # member i's target comes from target member i
            assert torch.allclose(y[:, i], expect[i], atol=1e-6), i
        assert not torch.allclose(y[:, 0], y[:, 1])
    else:
        assert y.shape == (B, 1) and torch.allclose(y, expect[0], atol=1e-6)
    members = loss.cost_network.members(td["observation"], td["action"])
    want = sum(((members[:, i] - expect[i]) ** 2).mean() for i in range(M))
    assert torch.allclose(loss.cost_loss(members, y), want, rtol=1e-5)


def test_target_network_moves_only_every_kth_update():
    actor, q, c = parts()
    loss = A.ALGDLoss(actor, q, c, A.AugmentedLagrangian(), A.DualVariable(), 0.5, num_samples=2)
    updater = ForeachSoftUpdate(loss, eps=0.9, interval=3)
    snap = lambda: {k: v.clone() for k, v in loss.target_qvalue_network_params.items(True, True)}  # noqa: E731
    moved = []
    for _ in range(7):
        with torch.no_grad():
            for p in loss.qvalue_network_params.values(True, True):
                p.add_(0.1)
        before = snap()
        updater.step()
        moved.append(any(not torch.equal(before[k], v) for k, v in snap().items()))
    assert moved == [True, False, False, True, False, False, True]
    with pytest.raises(ValueError, match="interval"):
        ForeachSoftUpdate(loss, eps=0.9, interval=0)


def test_code_preset_is_the_released_code_and_paper_preset_the_text():
    spec = Bounded(low=-1.0, high=1.0, shape=(ACT,))
    code = compose_config("algd", FAST)
    paper = compose_config("algd", [*FAST, "algd=paper"])
    algo = algd_algo.build(code, O, spec, 0.5, torch.device("cpu"))
    loss = algo.loss
    assert loss.dual.value.item() == pytest.approx(0.6931)  # λ starts at the configured value
    assert (loss.score_loss.reduction, loss.cost_target_mode, algo.target_updater.interval) == ("mean", "member", 2)
    assert all(g["weight_decay"] == 0.0 for g in algo.optimizers["cost"].param_groups)  # no decay term
    # released initialisation: zero biases; the cost ensemble's weights inside two std of 1/(2 sqrt(in))
    assert all(torch.all(m.bias == 0) for m in algo.policy.modules() if isinstance(m, torch.nn.Linear))
    first = loss.cost_network.net.layers[0]
    assert torch.all(first.bias == 0) and first.weight.abs().max() <= 2 / (2 * first.in_features ** 0.5) + 1e-6
    algo = algd_algo.build(paper, O, spec, 0.5, torch.device("cpu"))
    assert algo.loss.dual.value.item() == 1.0
    assert (algo.loss.score_loss.reduction, algo.loss.cost_target_mode, algo.target_updater.interval) == ("sum", "mean", 1)
    assert [g["weight_decay"] for g in algo.optimizers["cost"].param_groups] == [3e-5, 6e-5, 1e-4]
    with pytest.raises(A.ConfigError, match="optim.target_update_interval"):
        compose_config("algd", ["optim.target_update_interval=0"])


def test_code_preset_update_with_weight_decay_off_has_no_decay_term():
    """With weight decay off an Adam step on zero gradients leaves the cost critics unchanged."""
    spec = Bounded(low=-1.0, high=1.0, shape=(ACT,))
    algo = algd_algo.build(compose_config("algd", FAST), O, spec, 0.5, torch.device("cpu"))
    opt = algo.optimizers["cost"]
    params = [p for g in opt.param_groups for p in g["params"]]
    before = [p.clone() for p in params]
    for p in params:
        p.grad = torch.zeros_like(p)
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, params))


def test_cal_presets_follow_the_cal_code():
    cal = compose_config("cal", FAST_SAC[:-2])  # without the test's ensemble size and widths
    assert (cal.sac.ensemble_size, cal.sac.cost_target, cal.sac.loss_function) == (4, "member", "l2")
    assert (cal.optim.cost_lr, cal.optim.target_update_interval, cal.sac.dual.init) == (3e-4, 2, 0.6931)
    humanoid = compose_config("cal", ["cal_task=humanoid"])
    assert (humanoid.sac.cost_risk_coef, humanoid.sac.rectification_coef, humanoid.sac.cost_target) == (0.0, 1000.0, "max")
    assert compose_config("cal", ["cal_task=ant"]).sac.rectification_coef == 100.0
    assert compose_config("sac_lag").sac.loss_function == "smooth_l1"
    algo = sac_algo.build(compose_config("cal", FAST_SAC), O, Bounded(low=-1.0, high=1.0, shape=(ACT,)), 0.5, "cpu")
    assert algo.loss.cost_target_mode == "member" and algo.loss.loss_function == "l2"
    out = algo.loss(batch().set("next", batch()["next"].set("done", torch.zeros(B, 1, dtype=torch.bool))))
    assert torch.isfinite(out["loss_cost"]) and torch.isfinite(out["loss_qvalue"])


def test_cal_released_init_starts_targets_at_their_critics_without_torchrls_warning(recwarn):
    """network.init=released re-initialises CAL's twin critics; the target updater made after it copies them
    into the targets. Writing the targets before that made TorchRL warn 'No target network updater' at
    every `algd-train algo=cal` start."""
    algo = sac_algo.build(compose_config("cal", FAST_SAC), O, Bounded(low=-1.0, high=1.0, shape=(ACT,)), 0.5, "cpu")
    assert not [w for w in recwarn if "No target network updater" in str(w.message)]
    sources, targets = algo.target_updater.pairs()
    assert all(torch.equal(s, t) for s, t in zip(sources, targets))
    q = [p for p in algo.loss.qvalue_network_params.values(True, True) if p.dim() >= 3]
    assert q and all(torch.count_nonzero(p) for p in q)  # the Xavier-initialised weights, not zeros
