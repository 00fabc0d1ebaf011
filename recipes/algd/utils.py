"""ALGD builders: its config checks, modules, loss and optimisers.

Everything the recipes share (envs, collector, replay buffer, the loop, checkpoints) is in
:mod:`algd_components.trainer`.
"""
from __future__ import annotations

import torch
from omegaconf import DictConfig

import algd_components as A
from algd_components.compile import compile_modules
from algd_components.trainer import Algorithm, _int, _num, make_lagrangian, validate_dual
from algd_components.training import ForeachSoftUpdate, GraphedUpdate, pick_device, require


def validate_algd(cfg: DictConfig) -> None:
    """One clear :class:`~algd_components.training.ConfigError` per bad ``algd.*`` value."""
    a = cfg.algd
    checks = [
        (_int(a.diffusion_steps) and a.diffusion_steps >= 1, "algd.diffusion_steps", a.diffusion_steps, "an integer >= 1 (K)"),
        (_int(a.mc_samples) and a.mc_samples >= 1, "algd.mc_samples", a.mc_samples, "an integer >= 1 (N)"),
        (_int(a.ensemble_size) and a.ensemble_size >= 1, "algd.ensemble_size", a.ensemble_size, "an integer >= 1 (M)"),
        (_num(a.beta) and a.beta > 0, "algd.beta", a.beta, "a number > 0"),
        (_num(a.sigma_min) and a.sigma_min > 0, "algd.sigma_min", a.sigma_min, "a number > 0"),
        (_num(a.sigma_max) and _num(a.sigma_min) and a.sigma_max >= a.sigma_min, "algd.sigma_max", a.sigma_max, "a number >= algd.sigma_min"),
        (_num(a.score_coef) and a.score_coef >= 0, "algd.score_coef", a.score_coef, "a number >= 0"),
        (_num(a.energy_coef) and a.energy_coef >= 0, "algd.energy_coef", a.energy_coef, "a number >= 0"),
        (_num(a.cost_risk_coef) and a.cost_risk_coef >= 0, "algd.cost_risk_coef", a.cost_risk_coef, "a number >= 0"),
    ]
    for ok, key, value, allowed in checks:
        require(ok, key, value, allowed)
    require(a.score_coef > 0 or a.energy_coef > 0, "algd.score_coef", a.score_coef, "> 0 when algd.energy_coef is 0 (the actor must have a loss)")
    validate_dual(cfg, a.dual, "algd.dual")
    validate_compile(cfg)


COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def validate_compile(cfg: DictConfig) -> None:
    c = cfg.compile
    require(isinstance(c.compile, bool), "compile.compile", c.compile, "true or false")
    require(c.mode in COMPILE_MODES, "compile.mode", c.mode, f"one of {list(COMPILE_MODES)} (null: torch.compile's default)")
    require(isinstance(c.cudagraphs, bool), "compile.cudagraphs", c.cudagraphs, "true or false")
    if c.cudagraphs:
        device = pick_device(cfg.network.device)
        require(device.type == "cuda", "compile.cudagraphs", c.cudagraphs,
                f"false on {device} (CUDA graphs record GPU kernels; use network.device=cuda on a GPU machine)")
        require(c.mode != "reduce-overhead", "compile.mode", c.mode,
                "not 'reduce-overhead' with compile.cudagraphs=true (the whole update is already one CUDA graph)")
        require(cfg.system.autocast is None, "system.autocast", cfg.system.autocast,
                "null with compile.cudagraphs=true (autocast's weight-cast cache does not survive graph replay)")


def make_modules(cfg: DictConfig, obs_dim: int, action_spec, device):
    act_dim = action_spec.shape[-1]
    a, n = cfg.algd, cfg.network
    actor = A.VESDEActor(
        obs_dim, act_dim, action_spec=action_spec, num_steps=a.diffusion_steps,
        sigma_min=a.sigma_min, sigma_max=a.sigma_max, num_cells=list(n.actor_hidden), time_embed_dim=n.time_embed_dim,
    )
    qvalue = A.TwinQValue(obs_dim, act_dim, num_cells=list(n.critic_hidden))
    cost = A.EnsembleCostValue(obs_dim, act_dim, num_members=a.ensemble_size, num_cells=list(n.critic_hidden), risk_coef=a.cost_risk_coef)
    return actor.to(device), qvalue.to(device), cost.to(device)


def make_loss(cfg: DictConfig, actor, qvalue, cost, h: float, device):
    a = cfg.algd
    dual = A.DualVariable(init_value=float(a.dual.init), rule=a.dual.rule, lr=float(a.dual.lr)).to(device)
    loss = A.ALGDLoss(
        actor, qvalue, cost, make_lagrangian(cfg), dual, h,
        num_samples=a.mc_samples, beta=float(a.beta), gamma=cfg.optim.gamma, cost_gamma=cfg.optim.cost_gamma,
        score_coef=float(a.score_coef), energy_coef=float(a.energy_coef), dual_source=a.dual.source,
    )
    target_updater = ForeachSoftUpdate(loss, eps=cfg.optim.target_update_polyak)
    return loss, target_updater


def make_optimizers(cfg: DictConfig, actor, qvalue, cost) -> dict[str, torch.optim.Optimizer]:
    o = cfg.optim
    # capturable: Adam keeps its step count on the device, as a CUDA graph needs
    kw = {"fused": True, "capturable": bool(cfg.compile.get("cudagraphs", False))}
    return {
        "actor": torch.optim.Adam(actor.parameters(), lr=o.lr, **kw),
        "qvalue": torch.optim.Adam(qvalue.parameters(), lr=o.lr, **kw),
        "cost": torch.optim.Adam(cost.net.param_groups(weight_decay=list(o.cost_weight_decay)), lr=o.cost_lr, **kw),
    }


def build_algd(cfg: DictConfig, obs_dim: int, action_spec, h: float, device) -> Algorithm:
    actor, qvalue, cost = make_modules(cfg, obs_dim, action_spec, device)
    loss, target_updater = make_loss(cfg, actor, qvalue, cost, h, device)
    if cfg.compile.compile:
        compile_modules(loss, mode=cfg.compile.mode)
    optimizers = make_optimizers(cfg, actor, qvalue, cost)
    update = GraphedUpdate(loss, optimizers, target_updater) if cfg.compile.cudagraphs else None
    return Algorithm(actor, loss, target_updater, optimizers, update=update)
