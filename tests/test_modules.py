"""Actor, ensembles, dual variable, Lagrangian registry and the score-matching loss."""
import pytest
import torch
from tensordict import TensorDict
from torchrl.data import Bounded
from torchrl.envs.utils import ExplorationType, set_exploration_type

import algd_components as A


def make_parts(obs_dim=5, act_dim=3, M=4, risk=1.0):
    actor = A.VESDEActor(obs_dim, act_dim, action_low=-2.0, action_high=torch.tensor([1.0, 2.0, 3.0]))
    q = A.TwinQValue(obs_dim, act_dim, num_cells=(32, 32))
    c = A.EnsembleCostValue(obs_dim, act_dim, num_members=M, num_cells=(32, 32), risk_coef=risk)
    return actor, q, c


# ----------------------------------------------------------------------- actor
def test_actor_actions_inside_bounds_even_for_wild_scores():
    actor, _, _ = make_parts()
    with torch.no_grad():  # push the score network to huge outputs
        actor.policy.score_network.mlp[-1].bias.fill_(1e4)
    td = TensorDict(observation=torch.randn(256, 5), batch_size=[256])
    a = actor(td)["action"]
    low, high = torch.tensor([-2.0] * 3), torch.tensor([1.0, 2.0, 3.0])
    assert ((a >= low) & (a <= high)).all()


def test_actor_reads_bounds_from_spec():
    spec = Bounded(low=-0.5, high=0.25, shape=(2,))
    actor = A.VESDEActor(3, 2, action_spec=spec)
    a = actor(TensorDict(observation=torch.randn(100, 3), batch_size=[100]))["action"]
    assert a.min() >= -0.5 and a.max() <= 0.25


def test_actor_stochastic_by_default_deterministic_under_exploration_type():
    actor, _, _ = make_parts()
    obs = torch.randn(16, 5)
    a1 = actor(TensorDict(observation=obs, batch_size=[16]))["action"]
    a2 = actor(TensorDict(observation=obs, batch_size=[16]))["action"]
    assert not torch.allclose(a1, a2)
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        d1 = actor(TensorDict(observation=obs, batch_size=[16]))["action"]
        d2 = actor(TensorDict(observation=obs, batch_size=[16]))["action"]
    assert torch.equal(d1, d2)
    # deterministic = zero start and no noise
    chain = actor.policy.sample_chain(obs, deterministic=True)
    assert torch.equal(chain[-1], torch.zeros_like(chain[-1]))
    assert torch.equal(actor.policy.squash(chain[0]), d1)


def test_actor_chain_follows_eq2():
    actor, _, _ = make_parts()
    pol = actor.policy
    obs = torch.randn(4, 5)
    g = torch.Generator().manual_seed(0)
    chain = pol.sample_chain(obs, generator=g)
    noise = torch.randn((pol.num_steps + 1, 4, 3), generator=torch.Generator().manual_seed(0))
    u = pol.sigmas[-1] * noise[-1]
    assert torch.allclose(chain[-1], u)
    for tau in range(pol.num_steps, 0, -1):
        d2 = pol.sigmas[tau] ** 2 - pol.sigmas[tau - 1] ** 2
        u = u + d2 * pol.score(obs, u, torch.full((4,), tau)) + d2.sqrt() * noise[tau - 1]
        assert torch.allclose(chain[tau - 1], u, atol=1e-6)


def test_actor_gradients_reach_score_network_through_chain():
    actor, _, _ = make_parts()
    td = TensorDict(observation=torch.randn(8, 5), batch_size=[8])
    actor.sample_for_training(td, with_grad=True)
    td["policy_action"].sum().backward()
    grads = [p.grad for p in actor.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    # intermediate quantities are consistent with the schedule
    assert ((td["diffusion_step"] >= 1) & (td["diffusion_step"] <= 5)).all()
    assert torch.equal(td["noise_sigma"].squeeze(-1), actor.policy.sigmas[td["diffusion_step"]])
    assert not td["noisy_action"].requires_grad


def test_actor_no_grad_training_sample():
    actor, _, _ = make_parts()
    td = TensorDict(observation=torch.randn(8, 5), batch_size=[8])
    actor.sample_for_training(td, with_grad=False)
    assert not td["policy_action"].requires_grad


# ----------------------------------------------------------------------- ensembles
def test_ensemble_members_differ_and_batched_call_equals_loop():
    _, q, c = make_parts(M=5)
    obs, act = torch.randn(7, 5), torch.randn(7, 3)
    members = c.members(obs, act)
    assert members.shape == (7, 5, 1)
    looped = torch.stack([c.net.member(i)(torch.cat([obs, act], -1)) for i in range(5)], -2)
    assert torch.allclose(members, looped, atol=1e-6)
    w = c.net.layers[0].weight
    assert all(not torch.allclose(w[0], w[i]) for i in range(1, 5))
    # twin Q: same machinery, min taken
    qm = q.members(obs, act)
    assert torch.allclose(q.estimate(obs, act), torch.minimum(qm[:, 0], qm[:, 1]))


def test_ensemble_tensordict_keys_and_risk():
    _, _, c = make_parts(M=4, risk=1.0)
    td = TensorDict(observation=torch.randn(6, 5), action=torch.randn(6, 3), batch_size=[6])
    c(td)
    m = td["cost_value_members"]
    assert torch.allclose(td["cost_value"], m.mean(-2))
    assert torch.allclose(td["cost_value_risk"], m.mean(-2) + m.std(-2))
    c.risk_coef = 0.0
    c(td)
    assert torch.allclose(td["cost_value_risk"], td["cost_value"])


def test_ensemble_broadcasts_observation_over_mc_samples():
    _, _, c = make_parts(M=3)
    obs, act = torch.randn(4, 5), torch.randn(6, 4, 3)
    out = c.members(obs, act)
    ref = c.members(obs.expand(6, 4, 5), act)
    assert out.shape == (6, 4, 3, 1) and torch.allclose(out, ref)


def test_ensemble_per_layer_weight_decay_groups():
    _, _, c = make_parts()
    groups = c.net.param_groups(weight_decay=[3e-5, 6e-5, 1e-4], lr=3e-4)
    opt = torch.optim.Adam(groups)
    assert [g["weight_decay"] for g in opt.param_groups] == [3e-5, 6e-5, 1e-4]
    assert sum(len(g["params"]) for g in groups) == len(list(c.parameters()))
    with pytest.raises(ValueError, match="weight_decay"):
        c.net.param_groups(weight_decay=[1e-4])


# ----------------------------------------------------------------------- dual
@pytest.mark.parametrize("rule", ["projected", "log_adam", "adam"])
def test_dual_moves_up_when_violated_and_down_not_below_zero(rule):
    dual = A.DualVariable(init_value=0.5, rule=rule, lr=0.1)
    lam0 = dual.value.item()
    dual.step(torch.tensor([12.0, 14.0]), cost_limit=10.0)
    assert dual.value.item() > lam0
    for _ in range(500):
        dual.step(torch.tensor(0.0), cost_limit=10.0)
        assert dual.value.item() >= 0.0
    assert dual.value.item() < lam0
    if rule in ("projected", "adam"):
        assert dual.value.item() == 0.0


@pytest.mark.parametrize("rule", ["projected", "log_adam", "adam"])
def test_dual_never_nan_and_state_dict_round_trip(rule):
    dual = A.DualVariable(init_value=1.0, rule=rule, lr=0.05)
    dual.step(torch.tensor(5.0), 1.0)
    before = dual.value.clone()
    dual.step(torch.tensor(float("nan")), 1.0)
    dual.step(torch.tensor(float("inf")), 1.0)
    assert torch.equal(dual.value, before)
    for _ in range(2000):
        dual.step(torch.tensor(1e30), 1.0)
    assert torch.isfinite(dual.value) and dual.value >= 0
    other = A.DualVariable(init_value=1.0, rule=rule, lr=0.05)
    other.load_state_dict(dual.state_dict())
    dual.step(torch.tensor(0.3), 1.0)
    other.step(torch.tensor(0.3), 1.0)
    assert torch.equal(dual.value, other.value)


def test_dual_log_adam_matches_torch_adam_on_log_lambda():
    dual = A.DualVariable(init_value=0.7, rule="log_adam", lr=0.01)
    log_lam = torch.nn.Parameter(torch.tensor(0.7).log())
    opt = torch.optim.Adam([log_lam], lr=0.01)
    for qc in (3.0, 0.5, 2.0, 1.9, 0.1):
        dual.step(torch.tensor(qc), 1.0)
        opt.zero_grad()
        (log_lam.exp() * (1.0 - torch.tensor(qc))).backward()
        opt.step()
        assert torch.allclose(dual.value, log_lam.exp().detach(), rtol=1e-5)


def test_dual_adam_matches_torch_adam_on_lambda_then_projection():
    """OmniSafe's PPO-Lag multiplier: Adam on -λ (Jc - d), then λ clamped at 0."""
    dual = A.DualVariable(init_value=0.05, rule="adam", lr=0.035)
    lam = torch.nn.Parameter(torch.tensor(0.05))
    opt = torch.optim.Adam([lam], lr=0.035)
    for jc in (40.0, 30.0, 10.0, 0.0, 0.0, 0.0, 50.0):
        dual.step(torch.tensor(jc), 25.0)
        opt.zero_grad()
        (-lam * (torch.tensor(jc) - 25.0)).backward()
        opt.step()
        with torch.no_grad():
            lam.clamp_(min=0.0)
        assert torch.allclose(dual.value, lam.detach(), atol=1e-6), (jc, dual.value, lam)


# ----------------------------------------------------------------------- lagrangians
def test_lagrangian_registry_and_user_class():
    assert isinstance(A.make_lagrangian("augmented", rho=2.0), A.AugmentedLagrangian)
    assert isinstance(A.make_lagrangian({"name": "standard", "rho": 1.0}), A.StandardLagrangian)

    @A.register_lagrangian("test_quadratic_penalty")
    class QuadraticPenalty(A.Lagrangian):
        def __init__(self, weight=1.0):
            super().__init__()
            self.weight = weight

        def forward(self, q, qc, lam, cost_limit):
            return -q + self.weight * torch.relu(qc - cost_limit) ** 2

    lag = A.make_lagrangian({"name": "test_quadratic_penalty", "weight": 3.0})
    assert lag(torch.zeros(1), torch.tensor([2.0]), 0.0, 1.0).item() == 3.0
    lag = A.make_lagrangian({"_target_": "algd_components.AugmentedLagrangian", "rho": 0.5})
    assert lag.rho == 0.5
    with pytest.raises(ValueError, match="unknown lagrangian 'nope'"):
        A.make_lagrangian("nope")
    with pytest.raises(ValueError, match="not an algd_components.Lagrangian"):
        A.make_lagrangian({"_target_": "torch.nn.Identity"})


# ----------------------------------------------------------------------- score loss
def test_score_loss_target_matches_functional_and_only_actor_gets_grads():
    actor, q, c = make_parts()
    lag = A.AugmentedLagrangian(rho=1.0)
    dual = A.DualVariable(init_value=0.3)
    loss = A.AugLagScoreTarget(actor, q, c, lag, dual, cost_limit=2.0, num_samples=6, beta=1.0)
    td = TensorDict(observation=torch.randn(10, 5), batch_size=[10])
    actor.sample_for_training(td, with_grad=False)
    target = loss.score_target(td, generator=torch.Generator().manual_seed(0))

    def energy(u):
        a = actor.policy.squash(u)
        return A.functional.augmented_lagrangian(q.estimate(td["observation"], a), c.estimate(td["observation"], a), 0.3, 2.0, 1.0).squeeze(-1)

    ref = A.functional.mc_score_target(energy, td["noisy_action"], td["noise_sigma"], 6, 1.0, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(target, ref)
    out = loss(td)
    assert set(out.keys()) >= {"loss_score", "score_target_norm"} and torch.isfinite(out["loss_score"])
    out["loss_score"].backward()
    assert all(p.grad is None for p in list(q.parameters()) + list(c.parameters()))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in actor.parameters())


def test_score_loss_set_keys():
    actor, q, c = make_parts()
    loss = A.AugLagScoreTarget(actor, q, c, A.StandardLagrangian(), A.DualVariable(), 1.0)
    loss.set_keys(observation="obs")
    td = TensorDict(obs=torch.randn(4, 5), batch_size=[4])
    out = actor.policy.sample_for_training(td["obs"])
    td.update({k: out[k] for k in ("noisy_action", "diffusion_step", "noise_sigma")})
    assert torch.isfinite(loss(td)["loss_score"])
    assert "obs" in loss.in_keys


def test_score_network_split_first_layer_equals_concatenated_mlp():
    net = A.ScoreNetwork(5, 3, num_steps=4, num_cells=(16, 16), time_embed_dim=8)
    obs, u, step = torch.randn(7, 5), torch.randn(7, 3), torch.randint(1, 5, (7,))
    x = torch.cat([obs, u, net.time_embedding(step - 1)], -1)
    ref = net.mlp(net.activation(net.input_layer(x)))
    assert torch.allclose(net(obs, u, step), ref, atol=1e-6)
