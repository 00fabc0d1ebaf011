"""SAC-Lag, SAC-AugLag and CAL: TorchRL's TanhNormal actor and Q critic with
:class:`~algd_components.SACLagLoss`.

SAC-Lag and SAC-AugLag differ only in the Lagrangian; CAL (Wu et al. 2024) is the same loss
with a UCB cost estimate (``sac.cost_risk_coef``), the rectified multiplier
(``sac.rectification_coef``) and the log-λ Adam dual step — its preset is
``algd_components/conf/cal.yaml`` and docs/recipes.md says what each value follows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import torch
from omegaconf import DictConfig, OmegaConf
from tensordict.nn import NormalParamExtractor
from torchrl.modules import MLP, ProbabilisticActor, ValueOperator

from ..baselines import SACLagLoss
from ..objectives import COST_TARGETS
from ..config import DualConfig, TrainConfig, checked, require
from ..critics import EnsembleCostValue
from ..updates import ForeachSoftUpdate
from .base import Algorithm
from .common import (action_bounds, goal_terminal_keys, tanh_normal_actor, check_cost_weight_decay, check_dual, check_replay_buffer, cost_weight_decay, make_dual, make_lagrangian,
                     released_init_)

ACTIVATIONS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}
CAL_TASKS = ("safety_gym", "mujoco", "ant", "halfcheetah", "humanoid")

__all__ = ["SACConfig", "cal_task_for", "SACTrainConfig", "validate", "validate_cal", "make_policy", "build", "action_bounds",
           "tanh_normal_actor"]


@dataclass
class SACConfig:
    ensemble_size: int = checked(6, ge=1, note="M cost critics")
    cost_risk_coef: float = checked(0.0, ge=0, note="k in mean + k * std")
    rectification_coef: float = checked(0.0, ge=0, note="CAL's c; 0 turns the rectification off")
    actor_hidden: List[int] = checked(default_factory=lambda: [256, 256], ge=1, min_len=1)
    alpha_init: float = checked(1.0, gt=0)
    cost_target: str = checked("mean", choices=COST_TARGETS, note="mean: ensemble mean; member: each its own; max")
    loss_function: str = checked("smooth_l1", choices=("smooth_l1", "l2"), note="the reward critics' TD loss")
    cost_target_draws: int = checked(0, ge=0, note="cost_target=max over this many members drawn with replacement; 0: all")
    # the actor's and reward critics' hidden activation: ReLU as TorchRL's SAC recipe and CAL's code (TorchRL's
    # MLP defaults to Tanh)
    activation: str = checked("relu", choices=tuple(ACTIVATIONS))
    # CAL's per-task constants the sac.* values above came from (cal.yaml's cal_task group); "" for SAC-Lag
    cal_task: str = checked("", choices=("", *CAL_TASKS))
    dual: DualConfig = field(default_factory=DualConfig)


@dataclass
class SACTrainConfig(TrainConfig):
    sac: SACConfig = field(default_factory=SACConfig)


def cal_task_for(env_name: str) -> str:
    """CAL's per-task constants for a task (its README, "Algorithmic configurations"): Safety-Gym
    navigation tasks ``safety_gym``; MuJoCo tasks by robot (``ant``, ``halfcheetah``,
    ``humanoid``), other robots ``mujoco``."""
    from ..envs import get_task

    task = get_task(env_name)
    if task.family == "safety_gym":
        return "safety_gym"
    for robot in ("ant", "halfcheetah", "humanoid"):
        if task.name.lower().startswith((robot, f"safety{robot}")):
            return robot
    return "mujoco"


def _cal_task_value(key: str, env_name: str):
    """``${cal_task:KEY,${env.name}}`` (conf/cal_task/auto.yaml): KEY of the preset
    :func:`cal_task_for` picks, read from that preset's YAML (the one place the values live);
    ``KEY=name`` gives the preset's name."""
    from importlib.resources import files

    from omegaconf import OmegaConf

    try:
        name = cal_task_for(env_name)
    except ValueError:  # an unknown task: its own check names it; the constants are moot
        name = "safety_gym"
    if key == "name":
        return name
    with files("algd_components.conf").joinpath("cal_task", f"{name}.yaml").open() as f:
        return OmegaConf.load(f)[key]


OmegaConf.register_new_resolver("cal_task", _cal_task_value, replace=True)


def validate(cfg: DictConfig) -> None:
    check_dual(cfg, cfg.sac.dual, "sac.dual")
    check_cost_weight_decay(cfg)
    check_replay_buffer(cfg)


def validate_cal(cfg: DictConfig) -> None:
    """What makes a SAC config CAL rather than SAC-Lag."""
    validate(cfg)
    s = cfg.sac
    require(s.rectification_coef > 0, "sac.rectification_coef", s.rectification_coef,
            "a number > 0 for CAL (0 is SAC-Lag: use algo=sac_lag)")
    require(cfg.lagrangian.get("name") == "standard", "lagrangian", cfg.lagrangian.get("name", cfg.lagrangian),
            "'standard' for CAL (the rectified multiplier already is the augmented-Lagrangian gradient)")


def make_policy(cfg: DictConfig, obs_dim: int, action_spec) -> ProbabilisticActor:
    act_dim = action_spec.shape[-1]
    net = torch.nn.Sequential(
        MLP(in_features=obs_dim, out_features=2 * act_dim, num_cells=list(cfg.sac.actor_hidden),
            activation_class=ACTIVATIONS[cfg.sac.get("activation", "tanh")]),  # .get: policy files from before the key
        NormalParamExtractor(),
    )
    return tanh_normal_actor(net, action_bounds(action_spec, act_dim))


def build(cfg: DictConfig, obs_dim: int, action_spec, h: float, device) -> Algorithm:
    act_dim = action_spec.shape[-1]
    s, o = cfg.sac, cfg.optim
    actor = make_policy(cfg, obs_dim, action_spec).to(device)
    qvalue = ValueOperator(
        MLP(in_features=obs_dim + act_dim, out_features=1, num_cells=list(cfg.network.critic_hidden),
            activation_class=ACTIVATIONS[s.activation]),
        in_keys=["observation", "action"],
    ).to(device)
    cost = EnsembleCostValue(obs_dim, act_dim, num_members=s.ensemble_size, num_cells=list(cfg.network.critic_hidden),
                             risk_coef=s.cost_risk_coef).to(device)
    released = cfg.network.init == "released"
    if released:
        released_init_(actor, cost_ensemble=cost)
    loss = SACLagLoss(actor, qvalue, cost, make_lagrangian(cfg), make_dual(s.dual, device), h, cost_gamma=o.cost_gamma,
                      dual_source=s.dual.source, rectification_coef=float(s.rectification_coef),
                      cost_target=s.cost_target, cost_target_draws=s.cost_target_draws, alpha_init=float(s.alpha_init), loss_function=s.loss_function)
    if released:  # SACLoss holds the twin critics as stacked parameters: initialise those (the target
        with torch.no_grad():  # updater, made below, copies every source into its target: SoftUpdate.init_)
            for p in loss.qvalue_network_params.values(True, True):
                if p.dim() >= 3:
                    for member in p:
                        torch.nn.init.xavier_uniform_(member)
                else:
                    p.zero_()
    loss.make_value_estimator(gamma=o.gamma)
    goal_terminal_keys(cfg, loss)
    optimizers = {
        "actor": torch.optim.Adam(loss.actor_network_params.values(True, True), lr=o.lr),
        "qvalue": torch.optim.Adam(loss.qvalue_network_params.values(True, True), lr=o.lr),
        "alpha": torch.optim.Adam([loss.log_alpha], lr=o.lr),
        "cost": torch.optim.Adam(cost.net.param_groups(weight_decay=cost_weight_decay(cfg)), lr=o.cost_lr),
    }
    return Algorithm(actor, loss, ForeachSoftUpdate(loss, eps=o.target_update_polyak, interval=o.target_update_interval),
                     optimizers)
