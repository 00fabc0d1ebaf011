"""PPO-Lag (on-policy): TanhNormal actor, value and cost-value MLPs, :class:`~algd_components.PPOLagLoss`,
learning from each collected batch through :class:`~algd_components.training.OnPolicyUpdate`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import torch
from omegaconf import DictConfig
from tensordict.nn import NormalParamExtractor
from torchrl.modules import MLP, ValueOperator

from ..baselines import PPOLagLoss
from ..config import DualConfig, TrainConfig, checked, require
from ..updates import OnPolicyUpdate
from .base import Algorithm
from .common import action_bounds, check_dual, make_dual, tanh_normal_actor

__all__ = ["PPOConfig", "PPOTrainConfig", "validate", "make_policy", "build"]


@dataclass
class PPOConfig:
    actor_hidden: List[int] = checked(default_factory=lambda: [64, 64], ge=1, min_len=1)
    critic_hidden: List[int] = checked(default_factory=lambda: [64, 64], ge=1, min_len=1)
    epochs: int = checked(10, ge=1)
    minibatch_size: int = checked(64, ge=1)
    clip_epsilon: float = checked(0.2, gt=0)
    gae_lambda: float = checked(0.95, ge=0, le=1)
    entropy_coef: float = checked(0.0, ge=0)
    critic_coef: float = checked(0.5, gt=0)
    max_grad_norm: Optional[float] = checked(0.5, gt=0)
    dual: DualConfig = field(default_factory=lambda: DualConfig(rule="adam", lr=0.035, init=0.001, source="episode"))


@dataclass
class PPOTrainConfig(TrainConfig):
    ppo: PPOConfig = field(default_factory=PPOConfig)


def validate(cfg: DictConfig) -> None:
    p = cfg.ppo
    require(cfg.env.num_seeds == 1, "env.num_seeds", cfg.env.num_seeds,
            "1 for on-policy PPO-Lag (stacked seeds train the off-policy algorithms; run seeds with algd-compare --jobs)")
    require(cfg.collector.init_random_frames == 0, "collector.init_random_frames", cfg.collector.init_random_frames,
            "0 for on-policy PPO-Lag (random-action frames carry no log-probabilities to learn from)")
    require(cfg.lagrangian.get("name") == "standard", "lagrangian", cfg.lagrangian.get("name", cfg.lagrangian),
            "'standard' for PPO-Lag (its penalty is the advantage form (A_r - lambda A_c) / (1 + lambda))")
    require(p.dual.source == "episode", "ppo.dual.source", p.dual.source, "'episode' (PPO-Lag steps lambda on episode costs)")
    require(not cfg.collector.async_collection, "collector.async_collection", cfg.collector.async_collection,
            "false for an on-policy algorithm (it learns from each batch of its current policy)")
    check_dual(cfg, p.dual, "ppo.dual")


def make_policy(cfg: DictConfig, obs_dim: int, action_spec):
    act_dim = action_spec.shape[-1]
    net = torch.nn.Sequential(
        MLP(in_features=obs_dim, out_features=2 * act_dim, num_cells=list(cfg.ppo.actor_hidden), activation_class=torch.nn.Tanh),
        NormalParamExtractor(),
    )
    return tanh_normal_actor(net, action_bounds(action_spec, act_dim), return_log_prob=True)


def build(cfg: DictConfig, obs_dim: int, action_spec, h: float, device) -> Algorithm:
    p, o = cfg.ppo, cfg.optim
    actor = make_policy(cfg, obs_dim, action_spec).to(device)

    def value_net(out_key):
        mlp = MLP(in_features=obs_dim, out_features=1, num_cells=list(p.critic_hidden), activation_class=torch.nn.Tanh)
        return ValueOperator(mlp, in_keys=["observation"], out_keys=[out_key]).to(device)

    loss = PPOLagLoss(actor, value_net("state_value"), value_net("cost_state_value"), make_dual(p.dual, device),
                      gamma=o.gamma, lmbda=p.gae_lambda, cost_gamma=o.cost_gamma, cost_lmbda=p.gae_lambda,
                      clip_epsilon=float(p.clip_epsilon), entropy_coeff=float(p.entropy_coef),
                      critic_coeff=float(p.critic_coef))
    optimizers = {"ppo": torch.optim.Adam(loss.parameters(), lr=o.lr)}
    learn = OnPolicyUpdate(loss, optimizers, p.epochs, p.minibatch_size, p.max_grad_norm)
    return Algorithm(actor, loss, None, optimizers, learn=learn)
