"""SAC-Lag / SAC-AugLag / CAL / PPO-Lag built from TorchRL's losses and the ALGD parts."""
import csv

import pytest
import torch

from algd_components import train
from tensordict import TensorDict
from tensordict.nn import NormalParamExtractor, TensorDictModule
from torchrl.data import Bounded
from torchrl.modules import MLP, ProbabilisticActor, TanhNormal, ValueOperator

import algd_components as A
from algd_components import functional as F

O, ACT, B = 5, 2, 16


def build(lagrangian, lam=0.8, h=0.05, risk_coef=0.0, rectification_coef=0.0, cost_bias=1.0):
    torch.manual_seed(0)
    net = torch.nn.Sequential(MLP(in_features=O, out_features=2 * ACT, num_cells=[32, 32]), NormalParamExtractor())
    actor = ProbabilisticActor(
        TensorDictModule(net, in_keys=["observation"], out_keys=["loc", "scale"]),
        in_keys=["loc", "scale"], spec=Bounded(-1.0, 1.0, (ACT,)), distribution_class=TanhNormal,
    )
    q = ValueOperator(MLP(in_features=O + ACT, out_features=1, num_cells=[32, 32]), in_keys=["observation", "action"])
    c = A.EnsembleCostValue(O, ACT, num_members=3, num_cells=(32, 32), risk_coef=risk_coef)
    with torch.no_grad():  # push the cost estimate well above h so the penalty is active
        c.net.layers[-1].bias.fill_(cost_bias)
    loss = A.SACLagLoss(actor, q, c, lagrangian, A.DualVariable(init_value=lam), cost_limit=h,
                        rectification_coef=rectification_coef)
    td = TensorDict({
        "observation": torch.randn(B, O), "action": torch.rand(B, ACT) * 2 - 1,
        "next": {"observation": torch.randn(B, O), "reward": torch.randn(B, 1), "cost": torch.rand(B, 1),
                 "terminated": torch.zeros(B, 1, dtype=torch.bool), "done": torch.zeros(B, 1, dtype=torch.bool)},
    }, batch_size=[B])
    return loss, td


def q_member(loss, i, td):
    with loss.qvalue_network_params[i].to_module(loss.qvalue_network):
        return loss.qvalue_network(td.clone())["state_action_value"]


def expected_actor_loss(loss, td, energy_fn):
    """α log π + energy(min_j Q_j, Q̂c), computed by hand on the same reparameterised sample."""
    dist = loss.actor_network.get_dist(td.clone())
    a = dist.rsample()
    logp = dist.log_prob(a)
    x = td.select("observation").clone()
    x["action"] = a
    q = torch.minimum(q_member(loss, 0, x), q_member(loss, 1, x))
    qc = loss.cost_network.estimate(td["observation"], a)
    return (loss._alpha * logp + energy_fn(q, qc).squeeze(-1)).mean()


@pytest.mark.parametrize("kind", ["augmented", "standard"])
def test_sac_lag_actor_uses_the_configured_energy(kind):
    lam, h, rho = 0.8, 0.05, 2.0
    lagrangian = A.AugmentedLagrangian(rho=rho) if kind == "augmented" else A.StandardLagrangian()
    loss, td = build(lagrangian, lam, h)
    torch.manual_seed(7)
    got, _ = loss.actor_loss(td.clone())
    aug = lambda q, qc: F.augmented_lagrangian(q, qc, lam, h, rho)  # noqa: E731
    std = lambda q, qc: F.standard_lagrangian(q, qc, lam, h)  # noqa: E731
    torch.manual_seed(7)
    want_aug = expected_actor_loss(loss, td, aug)
    torch.manual_seed(7)
    want_std = expected_actor_loss(loss, td, std)
    # with Qc well above h the two energies differ by rho/2 (Qc-h)^2 > 0
    assert want_aug - want_std > 0.1
    want = want_aug if kind == "augmented" else want_std
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6), (got, want_aug, want_std)


def test_sac_lag_full_loss_trains_and_steps_dual():
    loss, td = build(A.AugmentedLagrangian(rho=1.0))
    out = loss(td)
    for k in ("loss_actor", "loss_qvalue", "loss_alpha", "loss_cost", "cost_estimate_batch", "cost_estimate_policy"):
        assert torch.isfinite(out[k]).all(), k
    sum(v for k, v in out.items() if k.startswith("loss_")).backward()
    cost_grads = [p.grad for p in loss.cost_network_params.values(True, True)]
    assert all(g is not None for g in cost_grads)
    lam0 = loss.dual.value.item()
    loss.step_dual(out)  # the cost estimate (~1) is above h = 0.05: λ goes up
    assert loss.dual.value.item() > lam0


def test_sac_lag_actor_loss_leaves_critics_alone():
    loss, td = build(A.AugmentedLagrangian(rho=1.0))
    out = loss(td)
    out["loss_actor"].backward()
    assert all(p.grad is None for p in loss.cost_network_params.values(True, True))
    assert all(p.grad is None for p in loss.qvalue_network_params.values(True, True))
    assert any(p.grad is not None for p in loss.actor_network_params.values(True, True))


# ------------------------------------------------------------------------------ CAL
def test_rectified_multiplier_is_the_augmented_lagrangian_gradient_and_cals_rectification():
    lam, c, h = torch.tensor(0.7), 10.0, 0.3
    for j in (0.0, 0.25, 0.3, 0.31, 2.0):
        jc = torch.tensor(j, requires_grad=True)
        term = (torch.clamp(lam + c * (jc - h), min=0) ** 2 - lam**2) / (2 * c)  # eq. (9)'s penalty on Jc
        (grad,) = torch.autograd.grad(term, jc)
        got = F.rectified_multiplier(lam, c, torch.tensor(j), h)
        assert torch.allclose(got, grad), (j, got, grad)
        # CAL's code: lam - clamp(c * mean(h - Qc), max=lam)
        assert torch.allclose(got, lam - torch.clamp(c * (h - torch.tensor(j)), max=lam))
    assert F.rectified_multiplier(lam, c, torch.tensor(0.0), h) == 0  # far under budget: no penalty gradient
    with pytest.raises(ValueError, match="penalty"):
        F.rectified_multiplier(lam, 0.0, torch.tensor(0.0), h)


@pytest.mark.parametrize("cost_bias", [1.0, -1.0])
def test_cal_actor_uses_ucb_cost_and_rectified_multiplier_from_buffer_actions(cost_bias):
    lam, h, c, k = 0.8, 0.05, 10.0, 0.5
    loss, td = build(A.StandardLagrangian(), lam, h, risk_coef=k, rectification_coef=c, cost_bias=cost_bias)
    torch.manual_seed(7)
    got, meta = loss.actor_loss(td.clone())
    members = loss.cost_network.members(td["observation"], td["action"]).detach()  # buffer actions
    ucb = members.mean(-2) + k * members.std(-2)
    mult = torch.clamp(lam + c * (ucb.mean() - h), min=0)
    assert (mult > 0) == (cost_bias > 0)  # one case with the penalty on, one with it rectified to 0
    seen = {}

    def energy(q, qc):
        seen["qc"] = qc.detach().mean()
        return -q + mult * (qc - h)

    torch.manual_seed(7)
    want = expected_actor_loss(loss, td, energy)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6), (got, want)
    # the policy's cost estimate (dual source "policy") is the UCB at the actor loss's own sample
    assert torch.allclose(meta["cost_estimate_policy"], seen["qc"], rtol=1e-5)
    assert torch.allclose(meta["actor_multiplier"], mult)
    calls, inside = [], {}
    net_forward = loss.cost_network.net.forward
    loss.cost_network.net.forward = lambda *a: calls.append(a[1].shape) or net_forward(*a)
    actor_loss = loss.actor_loss

    def recording_actor_loss(td_in, batch_cost_estimate=None):
        inside["rng"] = torch.get_rng_state()
        result = actor_loss(td_in, batch_cost_estimate=batch_cost_estimate)
        inside["loss"], inside["meta"] = result[0].detach(), result[1]
        return result

    loss.actor_loss = recording_actor_loss
    out = loss(td)
    assert torch.allclose(out["actor_multiplier"], mult)
    assert torch.equal(out["cost_estimate_policy"], inside["meta"]["cost_estimate_policy"])  # returned, not stored
    # the ensemble ran once per action set (buffer, policy, next-state): forward handed the
    # cost loss's estimate on the buffer actions to the actor loss ...
    assert len(calls) == 3, calls
    # ... which equals what actor_loss alone computes from the same random state
    del loss.actor_loss
    torch.set_rng_state(inside["rng"])
    assert torch.allclose(inside["loss"], loss.actor_loss(td.clone())[0], rtol=1e-5, atol=1e-6)
    assert set(out.keys()) == set(loss.out_keys)


# ----------------------------------------------------------------------- the recipe
def test_sac_lag_recipe_runs_and_writes_standard_outputs(tmp_path):
    import csv
    import math

    from helpers import FAST_SAC, make_cfg
    from algd_components.training import METRIC_COLUMNS

    for lag in ("standard", "augmented"):
        # the continuous speed cost (every step costs > 0) against budget 0: λ must rise
        cfg = make_cfg("sac_lag", [*FAST_SAC, "env.name=HalfCheetah-v4", f"lagrangian={lag}", "env.cost_limit=0"])
        out = tmp_path / lag
        state = train(cfg, out)
        assert state["frames"] == 300
        rows = list(csv.DictReader(open(out / "metrics.csv")))
        assert list(rows[0].keys()) == METRIC_COLUMNS
        assert all(math.isfinite(float(r[k])) for r in rows for k in ("loss_actor", "loss_qvalue", "loss_cost", "lambda"))
        lams = [float(r["lambda"]) for r in rows]
        assert 1.0 < lams[0] < lams[-1], (lag, lams)  # from its init (1.0), up at every evaluation
        assert (out / "checkpoint.pt").is_file()


def test_sac_lag_bad_config(tmp_path):
    from helpers import FAST_SAC, make_cfg
    from algd_components import ConfigError

    with pytest.raises(ConfigError, match=r"sac\.alpha_init"):
        train(make_cfg("sac_lag", [*FAST_SAC, "sac.alpha_init=0"]), tmp_path / "bad")


def test_cal_recipe_runs_and_writes_standard_outputs(tmp_path):
    import csv

    from helpers import FAST_SAC, make_cfg
    from algd_components import ConfigError
    from algd_components.training import METRIC_COLUMNS

    cfg = make_cfg("cal", [*FAST_SAC, "env.name=SafetyHalfCheetahVelocity-v1", "env.cost_limit=0"])
    # CAL's HalfCheetah constants, chosen from env.name (cal_task=auto): c = 1000 (FAST_SAC sets M = 2)
    assert (cfg.sac.cal_task, cfg.sac.cost_risk_coef, cfg.sac.rectification_coef, cfg.sac.dual.rule) == \
        ("halfcheetah", 0.5, 1000.0, "log_adam")
    state = train(cfg, tmp_path / "cal")
    assert state["frames"] == 300
    rows = list(csv.DictReader(open(tmp_path / "cal" / "metrics.csv")))
    assert list(rows[0].keys()) == METRIC_COLUMNS
    assert float(rows[-1]["lambda"]) != 0.6931  # the dual variable moved
    with pytest.raises(ConfigError, match=r"sac\.rectification_coef"):
        train(make_cfg("cal", [*FAST_SAC, "sac.rectification_coef=0"]), tmp_path / "bad")
    with pytest.raises(ConfigError, match=r"lagrangian"):
        train(make_cfg("cal", [*FAST_SAC, "lagrangian=augmented"]), tmp_path / "bad2")


def test_compare_runs_algorithms_and_writes_figure_and_table(tmp_path):
    from helpers import FAST_COMMON
    from algd_components.compare import main

    shared = [*FAST_COMMON, "collector.total_frames=200", "collector.init_random_frames=100", "logger.eval_iter=100",
              "checkpoint.interval=100", "optim.batch_size=16"]
    rc = main(["--algos", "algd", "sac_auglag", "--tasks", "SafetyHalfCheetahVelocity-v1", "--seeds", "0",
               "--out", str(tmp_path), "--set", *shared])
    assert rc == 0
    assert (tmp_path / "comparison.png").stat().st_size > 10_000
    table = (tmp_path / "summary.md").read_text()
    assert "| SafetyHalfCheetahVelocity-v1 | algd |" in table and "| SafetyHalfCheetahVelocity-v1 | sac_auglag |" in table
    rows = {r["algorithm"]: r for r in csv.DictReader(open(tmp_path / "summary.csv"))}
    lam = [float(r["lambda"]) for r in csv.DictReader(open(tmp_path / "algd" / "SafetyHalfCheetahVelocity-v1" / "seed0" / "metrics.csv"))]
    assert rows["algd"]["final_lambda"] == f"{lam[-1]:.2f} ± 0.00" and rows["algd"]["largest_lambda"] == f"{max(lam):.2f} ± 0.00"
    # finished runs are not run again
    mtime = (tmp_path / "algd" / "SafetyHalfCheetahVelocity-v1" / "seed0" / "metrics.csv").stat().st_mtime
    assert main(["--algos", "algd", "--tasks", "SafetyHalfCheetahVelocity-v1", "--seeds", "0",
                 "--out", str(tmp_path), "--set", *shared]) == 0
    assert (tmp_path / "algd" / "SafetyHalfCheetahVelocity-v1" / "seed0" / "metrics.csv").stat().st_mtime == mtime
    assert main(["--algos", "nope", "--out", str(tmp_path)]) == 2


# --------------------------------------------------------------------------- PPO-Lag
def build_ppo(lam=0.5, T=24):
    torch.manual_seed(0)
    net = torch.nn.Sequential(MLP(in_features=O, out_features=2 * ACT, num_cells=[32, 32]), NormalParamExtractor())
    actor = ProbabilisticActor(
        TensorDictModule(net, in_keys=["observation"], out_keys=["loc", "scale"]), in_keys=["loc", "scale"],
        spec=Bounded(-1.0, 1.0, (ACT,)), distribution_class=TanhNormal, return_log_prob=True,
    )
    v = ValueOperator(MLP(in_features=O, out_features=1, num_cells=[32]), in_keys=["observation"])
    vc = ValueOperator(MLP(in_features=O, out_features=1, num_cells=[32]), in_keys=["observation"],
                       out_keys=["cost_state_value"])
    loss = A.PPOLagLoss(actor, v, vc, A.DualVariable(lam, rule="adam", lr=0.035), gamma=0.9, lmbda=0.8,
                        cost_gamma=0.95, cost_lmbda=0.7)
    obs = torch.randn(T + 1, O)
    done = torch.zeros(T, 1, dtype=torch.bool)
    done[10] = True  # an episode ends (terminated) inside the rollout
    td = TensorDict({"observation": obs[:-1], "next": {
        "observation": obs[1:], "reward": torch.randn(T, 1), "cost": torch.rand(T, 1),
        "done": done, "terminated": done.clone()}}, [T])
    with torch.no_grad():
        actor(td)
    return loss, td, v, vc


def _gae_by_hand(r, v, v_next, done, gamma, lmbda):
    adv, running = torch.zeros_like(r), torch.zeros(1)
    for t in reversed(range(r.shape[0])):
        nd = 1.0 - done[t].float()
        delta = r[t] + gamma * nd * v_next[t] - v[t]
        running = delta + gamma * lmbda * nd * running
        adv[t] = running
    return adv


def test_ppo_lag_advantage_is_penalised_gae_of_reward_and_cost():
    lam = 0.5
    loss, td, v, vc = build_ppo(lam)
    loss.compute_advantages(td)
    with torch.no_grad(), loss.critic_network_params.to_module(loss.critic_network):
        val = v(td.select("observation").clone())["state_value"]
        val_next = v(td["next"].select("observation").clone())["state_value"]
        cval = vc(td.select("observation").clone())["cost_state_value"]
        cval_next = vc(td["next"].select("observation").clone())["cost_state_value"]
    done = td["next", "done"]
    a_r = _gae_by_hand(td["next", "reward"], val, val_next, done, 0.9, 0.8)
    a_c = _gae_by_hand(td["next", "cost"], cval, cval_next, done, 0.95, 0.7)  # the cost's own γ and λ
    assert torch.allclose(td["cost_advantage"], a_c, atol=1e-5)
    assert torch.allclose(td["cost_value_target"], a_c + cval, atol=1e-5)
    want = ((a_r - a_r.mean()) / a_r.std() - lam * (a_c - a_c.mean())) / (1 + lam)
    assert torch.allclose(td["advantage"], want, atol=1e-4)


def test_ppo_lag_losses_reach_their_networks_and_dual_uses_episode_costs():
    loss, td, _, vc = build_ppo(0.5)
    loss.compute_advantages(td)
    out = loss(td)
    assert {"loss_objective", "loss_critic", "loss_cost", "lambda"} <= set(out.keys())
    out["loss_cost"].backward()  # the cost-value loss trains the cost critic only
    assert all(p.grad is not None for p in vc.parameters())
    assert all(p.grad is None for p in loss.actor_network_params.values(True, True))
    lam0 = loss.dual.value.item()
    loss.step_dual(None, episode_cost=None, episode_cost_limit=25.0)  # no finished episode yet: no step
    assert loss.dual.value.item() == lam0
    loss.step_dual(None, episode_cost=40.0, episode_cost_limit=25.0)
    assert loss.dual.value.item() > lam0


def test_ppo_lag_recipe_runs_resumes_and_writes_standard_outputs(tmp_path):
    import csv

    from helpers import FAST_COMMON, make_cfg
    from algd_components import ConfigError
    from algd_components.training import METRIC_COLUMNS

    fast = [*FAST_COMMON, "collector.init_random_frames=0", "collector.frames_per_batch=100", "ppo.epochs=2",
            "ppo.minibatch_size=50", "env.name=SafetyHopperVelocity-v1", "env.max_episode_steps=40"]
    state = train(make_cfg("ppo_lag", fast), tmp_path / "ppo")
    assert state["frames"] == 300 and state["updates"] == 3 * 2 * 2
    rows = list(csv.DictReader(open(tmp_path / "ppo" / "metrics.csv")))
    assert list(rows[0].keys()) == METRIC_COLUMNS
    assert all(r["loss_objective"] and r["loss_critic"] and r["loss_cost"] for r in rows)
    # episodes of <= 40 steps finish; their cost is far under the limit of 25, so λ leaves 0.001 for 0
    assert float(rows[-1]["lambda"]) != 0.001
    state = train(make_cfg("ppo_lag", [*fast, "collector.total_frames=500", f"resume={tmp_path / 'ppo'}"]),
                  tmp_path / "unused")
    assert state["frames"] == 500
    for bad, key in (("collector.init_random_frames=100", r"collector\.init_random_frames"),
                     ("ppo.dual.source=batch", r"ppo\.dual\.source"), ("ppo.epochs=0", r"ppo\.epochs")):
        with pytest.raises(ConfigError, match=key):
            train(make_cfg("ppo_lag", [*fast, bad]), tmp_path / "bad")


def test_async_collection_overlaps_a_worker_and_is_refused_on_policy(tmp_path):
    import csv

    from helpers import FAST_COMMON, FAST_SAC, make_cfg
    from algd_components import ConfigError

    cfg = make_cfg("sac_lag", [*FAST_SAC, "env.name=SafetyHopperVelocity-v1", "collector.async_collection=true"])
    state = train(cfg, tmp_path / "async")
    assert state["frames"] == 300 and state["updates"] == 250  # utd 1 from frame 100 on, as in-process
    rows = list(csv.DictReader(open(tmp_path / "async" / "metrics.csv")))
    assert [int(r["frames"]) for r in rows] == [150, 300]  # logger.eval_iter=150
    with pytest.raises(ConfigError, match=r"collector\.async_collection"):
        train(make_cfg("ppo_lag", [*FAST_COMMON, "collector.init_random_frames=0",
                                   "collector.async_collection=true"]), tmp_path / "bad")
    with pytest.raises(ConfigError, match=r"collector\.async_collection"):
        train(make_cfg("sac_lag", [*FAST_SAC, "collector.async_collection=maybe"]), tmp_path / "bad2")
