"""Builders of the baseline recipes: the SAC-based ones (``recipes/sac_lag`` and ``recipes/cal``
share the ``sac`` node, TorchRL's TanhNormal actor and Q-value critic, :class:`SACLagLoss`) and
PPO-Lag (``recipes/ppo_lag``, :class:`PPOLagLoss`).  The loop is
:func:`algd_components.trainer.train_loop`.
"""
from __future__ import annotations

import torch
from omegaconf import DictConfig
from tensordict.nn import NormalParamExtractor, TensorDictModule
from torchrl.data import Bounded
from torchrl.modules import MLP, ProbabilisticActor, TanhNormal, ValueOperator

from .baselines import PPOLagLoss, SACLagLoss
from .critics import EnsembleCostValue
from .dual import DualVariable
from .trainer import Algorithm, OnPolicyUpdate, _int, _num, make_lagrangian, validate_dual
from .training import ForeachSoftUpdate, require

__all__ = ["build_ppo_lag", "build_sac", "validate_ppo", "validate_sac"]


def validate_sac(cfg: DictConfig) -> None:
    s = cfg.sac
    require(_int(s.ensemble_size) and s.ensemble_size >= 1, "sac.ensemble_size", s.ensemble_size, "an integer >= 1 (M)")
    require(_num(s.cost_risk_coef) and s.cost_risk_coef >= 0, "sac.cost_risk_coef", s.cost_risk_coef, "a number >= 0")
    require(_num(s.alpha_init) and s.alpha_init > 0, "sac.alpha_init", s.alpha_init, "a number > 0")
    require(_num(s.rectification_coef) and s.rectification_coef >= 0, "sac.rectification_coef", s.rectification_coef,
            "a number >= 0 (CAL's c; 0 turns the rectification off)")
    validate_dual(cfg, s.dual, "sac.dual")


def _bounds(action_spec, act_dim: int) -> Bounded:
    # a batched env's spec is [n_envs, d] with identical rows: the actor acts per row
    low = action_spec.space.low.reshape(-1, act_dim)[0]
    high = action_spec.space.high.reshape(-1, act_dim)[0]
    return Bounded(low=low, high=high, shape=(act_dim,))


def _tanh_normal_actor(net, bounds: Bounded, **kwargs) -> ProbabilisticActor:
    # TanhNormal squashes to [-1, 1] unless told the bounds (the spec alone does not tell it)
    return ProbabilisticActor(
        TensorDictModule(net, in_keys=["observation"], out_keys=["loc", "scale"]),
        in_keys=["loc", "scale"], spec=bounds, distribution_class=TanhNormal,
        distribution_kwargs={"low": bounds.space.low, "high": bounds.space.high}, **kwargs,
    )


def build_sac(cfg: DictConfig, obs_dim: int, action_spec, h: float, device) -> Algorithm:
    act_dim = action_spec.shape[-1]
    s = cfg.sac
    net = torch.nn.Sequential(
        MLP(in_features=obs_dim, out_features=2 * act_dim, num_cells=list(s.actor_hidden)),
        NormalParamExtractor(),
    )
    actor = _tanh_normal_actor(net, _bounds(action_spec, act_dim)).to(device)
    qvalue = ValueOperator(
        MLP(in_features=obs_dim + act_dim, out_features=1, num_cells=list(cfg.network.critic_hidden)),
        in_keys=["observation", "action"],
    ).to(device)
    cost = EnsembleCostValue(obs_dim, act_dim, num_members=s.ensemble_size, num_cells=list(cfg.network.critic_hidden),
                              risk_coef=s.cost_risk_coef).to(device)
    dual = DualVariable(init_value=float(s.dual.init), rule=s.dual.rule, lr=float(s.dual.lr)).to(device)
    loss = SACLagLoss(actor, qvalue, cost, make_lagrangian(cfg), dual, h, cost_gamma=cfg.optim.cost_gamma,
                      dual_source=s.dual.source, rectification_coef=float(s.rectification_coef), alpha_init=float(s.alpha_init))
    loss.make_value_estimator(gamma=cfg.optim.gamma)
    o = cfg.optim
    optimizers = {
        "actor": torch.optim.Adam(loss.actor_network_params.values(True, True), lr=o.lr),
        "qvalue": torch.optim.Adam(loss.qvalue_network_params.values(True, True), lr=o.lr),
        "alpha": torch.optim.Adam([loss.log_alpha], lr=o.lr),
        "cost": torch.optim.Adam(cost.net.param_groups(weight_decay=list(o.cost_weight_decay)), lr=o.cost_lr),
    }
    return Algorithm(actor, loss, ForeachSoftUpdate(loss, eps=o.target_update_polyak), optimizers)


# ------------------------------------------------------------------------------ PPO-Lag
def validate_ppo(cfg: DictConfig) -> None:
    p = cfg.ppo
    checks = [
        (_int(p.epochs) and p.epochs >= 1, "ppo.epochs", p.epochs, "an integer >= 1"),
        (_int(p.minibatch_size) and p.minibatch_size >= 1, "ppo.minibatch_size", p.minibatch_size, "an integer >= 1"),
        (_num(p.clip_epsilon) and p.clip_epsilon > 0, "ppo.clip_epsilon", p.clip_epsilon, "a number > 0"),
        (_num(p.gae_lambda) and 0 <= p.gae_lambda <= 1, "ppo.gae_lambda", p.gae_lambda, "a number in [0, 1]"),
        (_num(p.entropy_coef) and p.entropy_coef >= 0, "ppo.entropy_coef", p.entropy_coef, "a number >= 0"),
        (_num(p.critic_coef) and p.critic_coef > 0, "ppo.critic_coef", p.critic_coef, "a number > 0"),
        (p.max_grad_norm is None or (_num(p.max_grad_norm) and p.max_grad_norm > 0), "ppo.max_grad_norm",
         p.max_grad_norm, "a number > 0 or null"),
        (cfg.collector.init_random_frames == 0, "collector.init_random_frames", cfg.collector.init_random_frames,
         "0 for on-policy PPO-Lag (random-action frames carry no log-probabilities to learn from)"),
        (cfg.lagrangian.get("name") == "standard", "lagrangian", cfg.lagrangian.get("name", cfg.lagrangian),
         "'standard' for PPO-Lag (its penalty is the advantage form (A_r - lambda A_c) / (1 + lambda))"),
    ]
    for ok, key, value, allowed in checks:
        require(ok, key, value, allowed)
    require(p.dual.source == "episode", "ppo.dual.source", p.dual.source, "'episode' (PPO-Lag steps lambda on episode costs)")
    validate_dual(cfg, p.dual, "ppo.dual")


def build_ppo_lag(cfg: DictConfig, obs_dim: int, action_spec, h: float, device) -> Algorithm:
    """PPO-Lag: TanhNormal actor, value and cost-value MLPs, :class:`PPOLagLoss`, one Adam over all
    three, and :class:`~algd_components.trainer.OnPolicyUpdate` as ``Algorithm.learn``."""
    act_dim = action_spec.shape[-1]
    p, o = cfg.ppo, cfg.optim
    net = torch.nn.Sequential(
        MLP(in_features=obs_dim, out_features=2 * act_dim, num_cells=list(p.actor_hidden), activation_class=torch.nn.Tanh),
        NormalParamExtractor(),
    )
    actor = _tanh_normal_actor(net, _bounds(action_spec, act_dim), return_log_prob=True).to(device)

    def value_net(out_key):
        mlp = MLP(in_features=obs_dim, out_features=1, num_cells=list(p.critic_hidden), activation_class=torch.nn.Tanh)
        return ValueOperator(mlp, in_keys=["observation"], out_keys=[out_key]).to(device)

    dual = DualVariable(init_value=float(p.dual.init), rule=p.dual.rule, lr=float(p.dual.lr)).to(device)
    loss = PPOLagLoss(actor, value_net("state_value"), value_net("cost_state_value"), dual,
                      gamma=o.gamma, lmbda=p.gae_lambda, cost_gamma=o.cost_gamma, cost_lmbda=p.gae_lambda,
                      clip_epsilon=float(p.clip_epsilon), entropy_coeff=float(p.entropy_coef),
                      critic_coeff=float(p.critic_coef))
    optimizers = {"ppo": torch.optim.Adam(loss.parameters(), lr=o.lr)}
    learn = OnPolicyUpdate(loss, optimizers, p.epochs, p.minibatch_size, p.max_grad_norm)
    return Algorithm(actor, loss, None, optimizers, learn=learn)
