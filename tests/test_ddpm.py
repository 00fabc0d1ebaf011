"""ALGD with a DDPM actor: the score/ε conversion, the VP score target in closed form, the
actor's TensorDict contract, and a training run by config."""
import csv
import math

import pytest
import torch
from tensordict import TensorDict
from torchrl.envs.utils import ExplorationType, set_exploration_type

import algd_components as A
from algd_components import functional as F
from algd_components import compose_config, train
from helpers import FAST


def test_score_eps_conversion_is_the_vp_identity_and_round_trips():
    alpha_bar = torch.tensor([[0.9], [0.5]])
    x0, eps = torch.randn(2, 3), torch.randn(2, 3)
    xt = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * eps
    # the score of N(sqrt(ᾱ) x0, (1-ᾱ) I) at xt is -(xt - sqrt(ᾱ) x0)/(1-ᾱ) = -ε/sqrt(1-ᾱ)
    score = -(xt - alpha_bar.sqrt() * x0) / (1 - alpha_bar)
    assert torch.allclose(F.vp_eps_to_score(eps, alpha_bar), score, atol=1e-5)
    assert torch.allclose(F.vp_score_to_eps(F.vp_eps_to_score(eps, alpha_bar), alpha_bar), eps, atol=1e-6)


@pytest.mark.parametrize("kind", ["posterior", "code"])
def test_vp_score_target_matches_the_closed_form_for_a_gaussian_boltzmann_policy(kind):
    """L(a) = |a - μ|² / (2 s²), β = 1: p_0 = N(μ, s² I).  The VP-smoothed score at level ᾱ is
    -(x - sqrt(ᾱ) μ) / (ᾱ s² + 1 - ᾱ) (posterior proposal, exact); the released code's proposal
    estimates the VE-smoothed score with σ² = 1 - ᾱ (+1e-8): -(x - μ) / (s² + 1 - ᾱ)."""
    torch.manual_seed(0)
    mu, s2 = torch.tensor([0.3, -0.5]), 0.4
    alpha_bar = torch.tensor([[0.95], [0.6], [0.3]])
    x = torch.tensor([[0.1, 0.2], [-0.4, 0.8], [1.0, -1.0]])
    energy = lambda a: ((a - mu) ** 2).sum(-1) / (2 * s2)  # noqa: E731
    centre, std, scale = F.vp_proposal(x, alpha_bar, kind)
    est = scale * F.mc_score_target(energy, centre, std, num_samples=400_000, beta=1.0)
    if kind == "posterior":
        exact = -(x - alpha_bar.sqrt() * mu) / (alpha_bar * s2 + 1 - alpha_bar)
    else:
        exact = -(x - mu) / (s2 + 1 - alpha_bar + 1e-8)
    assert torch.allclose(est, exact, atol=2e-2, rtol=2e-2), (est, exact)


def test_ddpm_actor_contract():
    actor = A.DDPMActor(5, 3, action_low=-2.0, action_high=torch.tensor([1.0, 2.0, 3.0]), num_cells=(16, 16))
    obs = torch.randn(64, 5)
    a1 = actor(TensorDict(observation=obs, batch_size=[64]))["action"]
    a2 = actor(TensorDict(observation=obs, batch_size=[64]))["action"]
    assert a1.shape == (64, 3) and not torch.equal(a1, a2)  # stochastic by default
    assert ((a1 >= torch.tensor([-2.0] * 3)) & (a1 <= torch.tensor([1.0, 2.0, 3.0]))).all()
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        d1 = actor(TensorDict(observation=obs, batch_size=[64]))["action"]
        d2 = actor(TensorDict(observation=obs, batch_size=[64]))["action"]
    assert torch.equal(d1, d2)  # deterministic mode: from zeros, no noise, repeatable
    td = TensorDict(observation=obs[:8], batch_size=[8])
    actor.sample_for_training(td)
    pol = actor.policy
    assert torch.allclose(td["noise_sigma"], (1 - pol.alpha_bar(td["diffusion_step"])).sqrt())
    td["policy_action"].sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in actor.parameters())
    # the score the loss trains is the ε-network's output through the conversion
    eps = pol.eps(td["observation"], td["noisy_action"], td["diffusion_step"])
    assert torch.allclose(pol.score(td["observation"], td["noisy_action"], td["diffusion_step"]),
                          F.vp_eps_to_score(eps, pol.alpha_bar(td["diffusion_step"])))
    # built on TorchRL's DiffusionActor: its network and schedule
    from torchrl.modules import DiffusionActor
    assert isinstance(pol.ddpm, DiffusionActor) and len(pol.schedule[2]) == pol.num_steps


def test_reverse_step_is_torchrls_ddpm_step():
    """Deterministically, the chain equals TorchRL DiffusionActor's own reverse chain (same
    network, schedule and zero start), squashed."""
    actor = A.DDPMActor(4, 2, num_cells=(16,), num_steps=6)
    obs = torch.randn(5, 4)
    from tensordict.nn import InteractionType, set_interaction_type
    with set_interaction_type(InteractionType.DETERMINISTIC):
        theirs = actor.policy.ddpm(TensorDict(observation=obs, batch_size=[5]))["action"]
    ours = actor.policy.sample_chain(obs, deterministic=True)[0]
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_algd_with_a_ddpm_actor_trains_by_config_and_loads(tmp_path):
    for preset in ("code", "paper"):
        out = tmp_path / preset
        # algd=paper's eps variant is accepted only at a temperature within its chain's reach (test_ddpm_released)
        extra = ["algd.beta=0.05"] if preset == "paper" else []
        state = train(compose_config("algd", [*FAST, "env.name=SafetyHopperVelocity-v1", "algd.actor=ddpm",
                                              f"algd={preset}", *extra]), out)
        assert state["frames"] == 300
        rows = list(csv.DictReader(open(out / "metrics.csv")))
        assert all(math.isfinite(float(r["loss_actor"])) and math.isfinite(float(r["score_loss"])) for r in rows)
        policy = A.load_policy(out)
        assert isinstance(policy.policy, A.DDPMActor) and policy.policy.policy.proposal_kind == (
            "code" if preset == "code" else "posterior")
        assert policy.policy.policy.variant == ("released" if preset == "code" else "eps")
