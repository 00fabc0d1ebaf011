"""Builders the SAC-based recipes share (``recipes/sac_lag`` and ``recipes/cal``): config checks
of the ``sac`` node, TorchRL's TanhNormal actor and Q-value critic, :class:`SACLagLoss`,
optimisers.  The loop is :func:`algd_components.trainer.train_off_policy`.
"""
from __future__ import annotations

import torch
from omegaconf import DictConfig
from tensordict.nn import NormalParamExtractor, TensorDictModule
from torchrl.data import Bounded
from torchrl.modules import MLP, ProbabilisticActor, TanhNormal, ValueOperator
from torchrl.objectives import SoftUpdate

from .baselines import SACLagLoss
from .critics import EnsembleCostValue
from .dual import DualVariable
from .trainer import Algorithm, _int, _num, make_lagrangian, validate_dual
from .training import require

__all__ = ["validate_sac", "build_sac"]


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


def build_sac(cfg: DictConfig, obs_dim: int, action_spec, h: float, device) -> Algorithm:
    act_dim = action_spec.shape[-1]
    s = cfg.sac
    net = torch.nn.Sequential(
        MLP(in_features=obs_dim, out_features=2 * act_dim, num_cells=list(s.actor_hidden)),
        NormalParamExtractor(),
    )
    actor = ProbabilisticActor(
        TensorDictModule(net, in_keys=["observation"], out_keys=["loc", "scale"]),
        in_keys=["loc", "scale"], spec=_bounds(action_spec, act_dim), distribution_class=TanhNormal,
    ).to(device)
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
    return Algorithm(actor, loss, SoftUpdate(loss, eps=o.target_update_polyak), optimizers)
