"""ALGD (and LGD, its standard-Lagrangian ablation): config schema and builders.

The actor is a :class:`~algd_components.VESDEActor`; the loss :class:`~algd_components.ALGDLoss`
(twin reward critic, cost ensemble, Monte-Carlo score target, dual variable).  The YAML
presets ``algd=code`` (the authors' released code) and ``algd=paper`` (the paper's text)
live in ``algd_components/conf/algd/``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import torch
from omegaconf import DictConfig

from ..actor import CHAIN_SPACES, DDPM_VARIANTS, DDPMActor, VESDEActor
from ..functional import VP_PROPOSALS, vp_score_displacement
from ..compile import compile_modules
from ..config import NetworkConfig, TrainConfig, checked, require, DualConfig
from ..critics import EnsembleCostValue, TwinQValue
from ..objectives import COST_TARGETS, SCORE_REDUCTIONS, ALGDLoss
from ..updates import ForeachSoftUpdate, GraphedUpdate
from .base import Algorithm
from .common import (goal_terminal_keys, check_cost_weight_decay, check_dual, check_memory, check_replay_buffer, cost_weight_decay, make_dual,
                     make_lagrangian, pick_device, released_init_)

__all__ = ["ALGDConfig", "ALGDNetworkConfig", "CompileConfig", "ALGDTrainConfig", "validate", "make_policy", "build"]

COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class ALGDConfig:
    """The ALGD node (paper Tables 3-4; presets ``algd=code`` / ``algd=paper``).  ``actor``:
    the noise process — ``vesde`` (the paper's VE-SDE) or ``ddpm`` (variance-preserving, on
    TorchRL's DiffusionActor; the released code's ALGD_DDPM agent)."""

    actor: str = checked("vesde", choices=("vesde", "ddpm"))
    ddpm_beta_start: float = checked(1e-4, gt=0, lt=1, note="linear beta schedule of actor=ddpm")
    ddpm_beta_end: float = checked(0.02, gt=0, lt=1)
    vp_proposal: str = checked("posterior", choices=VP_PROPOSALS,
                               note="actor=ddpm's Monte-Carlo proposal: posterior (derived) or code (released)")
    # actor=ddpm's network and sampler: eps (one eps network, phi = -eps/sqrt(1-alphabar)) or released (the
    # authors' DDPM.py: trunk + eps and score heads, guidance 0.05 phi/|phi| per step, posterior-variance noise)
    ddpm_variant: str = checked("eps", choices=DDPM_VARIANTS)

    diffusion_steps: int = checked(5, ge=1, note="K")
    sigma_min: float = checked(0.01, gt=0)
    sigma_max: float = checked(1.0, gt=0)
    # what the VE-SDE score network sees and where its Monte-Carlo target is taken: pre_squash (the chain's own
    # variable, energy of tanh(u)) or action (the released code: squashed input, action-space target, unclipped)
    chain_space: str = checked("pre_squash", choices=CHAIN_SPACES)
    mc_samples: int = checked(6, ge=1, note="N")
    ensemble_size: int = checked(6, ge=1, note="M")
    beta: float = checked(1.0, gt=0)
    score_coef: float = checked(1.0, ge=0)
    energy_coef: float = checked(0.0, ge=0)
    cost_risk_coef: float = checked(0.0, ge=0, note="k in mean + k * std")
    score_reduction: str = checked("sum", choices=SCORE_REDUCTIONS, note="sum: the paper; mean: F.mse_loss, the code")
    cost_target: str = checked("mean", choices=COST_TARGETS, note="mean: ensemble mean; member: each its own target")
    # the score loss's gradient also flows through a^tau into the chain (the released code); false: a^tau detached
    score_grad_into_chain: bool = False
    dual: DualConfig = field(default_factory=DualConfig)


@dataclass
class ALGDNetworkConfig(NetworkConfig):
    actor_hidden: List[int] = checked(default_factory=lambda: [128, 128, 128], ge=1, min_len=1, note="score network")
    time_embed_dim: int = checked(16, ge=1)


@dataclass
class CompileConfig:
    compile: bool = False  # torch.compile the Monte-Carlo energy + action gradient
    mode: Optional[str] = checked(None, choices=COMPILE_MODES)
    cudagraphs: bool = False  # GPU only: replay each update as one CUDA graph


@dataclass
class ALGDTrainConfig(TrainConfig):
    algd: ALGDConfig = field(default_factory=ALGDConfig)
    network: ALGDNetworkConfig = field(default_factory=ALGDNetworkConfig)
    compile: CompileConfig = field(default_factory=CompileConfig)


def validate(cfg: DictConfig) -> None:
    """Checks across ``algd.*`` / ``compile.*`` keys (each key's own range is in the schema)."""
    a = cfg.algd
    require(a.sigma_max >= a.sigma_min, "algd.sigma_max", a.sigma_max, f"a number >= algd.sigma_min ({a.sigma_min})")
    require(a.ddpm_beta_end >= a.ddpm_beta_start, "algd.ddpm_beta_end", a.ddpm_beta_end,
            f"a number >= algd.ddpm_beta_start ({a.ddpm_beta_start})")
    require(a.score_coef > 0 or a.energy_coef > 0, "algd.score_coef", a.score_coef,
            "> 0 when algd.energy_coef is 0 (the actor must have a loss)")
    require(a.chain_space == "pre_squash" or a.actor == "vesde", "algd.chain_space", a.chain_space,
            "'pre_squash' with algd.actor=ddpm (the action-space chain is the VE-SDE actor's)")
    require(a.chain_space == "pre_squash" or not cfg.compile.compile, "algd.chain_space", a.chain_space,
            "'pre_squash' with compile.compile=true (the compiled pass is the pre-squash energy)")
    if a.actor == "ddpm" and a.ddpm_variant == "eps":  # the bandit test in tests/test_ddpm_released.py
        reach = vp_score_displacement(torch.linspace(a.ddpm_beta_start, a.ddpm_beta_end, a.diffusion_steps).tolist())
        require(a.energy_coef == 0, "algd.ddpm_variant", a.ddpm_variant,
                "'released' with algd.energy_coef > 0: the eps variant's score, -eps/sqrt(1-alphabar_t), weighs eps "
                "errors by up to 1/(1-alphabar_1) and pins eps against the pathwise term (docs/components.md, DDPM)")
        require(a.beta <= reach, "algd.beta", a.beta,
                f"<= {reach:.4g} with algd.actor=ddpm algd.ddpm_variant=eps: its chain moves a sample by only "
                f"sum_t beta_t/sqrt(alpha_t) = {reach:.4g} times the score -grad L_A/beta, so at a larger beta the "
                "policy barely depends on the state (or use algd.ddpm_variant=released)")
    check_dual(cfg, a.dual, "algd.dual")
    check_cost_weight_decay(cfg)
    check_replay_buffer(cfg)
    check_memory(cfg, update_memory_bytes(cfg), "optim.batch_size",
                 "the critics' activations on optim.batch_size x algd.mc_samples actions, (algd.ensemble_size + 2) members")
    c = cfg.compile
    for key, value in (("compile.compile", c.compile), ("compile.cudagraphs", c.cudagraphs)):
        require(cfg.env.num_seeds == 1 or not value, key, value,
                f"false with env.num_seeds={cfg.env.num_seeds} (the stacked seeds' vmapped update is not compiled)")
    if c.cudagraphs:
        device = pick_device(cfg.network.device)
        require(device.type == "cuda", "compile.cudagraphs", c.cudagraphs,
                f"false on {device} (CUDA graphs record GPU kernels; use network.device=cuda on a GPU machine)")
        require(c.mode != "reduce-overhead", "compile.mode", c.mode,
                "not 'reduce-overhead' with compile.cudagraphs=true (the whole update is already one CUDA graph)")
        require(cfg.system.autocast is None, "system.autocast", cfg.system.autocast,
                "null with compile.cudagraphs=true (autocast's weight-cast cache does not survive graph replay)")


def update_memory_bytes(cfg: DictConfig) -> float:
    """Peak memory of one update, dominated by the score target's Monte-Carlo pass: the twin
    critic and the cost ensemble (``M + 2`` members) on ``N·B`` actions, every hidden
    activation kept for the action gradient.  10 bytes per unit per sample fits the peak
    resident memory measured at batch 4096 and 8192 (N=6, M=6; docs/recipes.md)."""
    a = cfg.algd
    return 10.0 * cfg.optim.batch_size * a.mc_samples * (a.ensemble_size + 2) * sum(cfg.network.critic_hidden)


def make_policy(cfg: DictConfig, obs_dim: int, action_spec) -> VESDEActor | DDPMActor:
    a, n = cfg.algd, cfg.network
    if a.get("actor", "vesde") == "ddpm":  # .get: policy files written before the key existed
        return DDPMActor(obs_dim, action_spec.shape[-1], action_spec=action_spec, num_steps=a.diffusion_steps,
                         beta_start=a.ddpm_beta_start, beta_end=a.ddpm_beta_end, num_cells=list(n.actor_hidden),
                         proposal=a.vp_proposal, variant=a.get("ddpm_variant", "eps"), time_embed_dim=n.time_embed_dim)
    return VESDEActor(
        obs_dim, action_spec.shape[-1], action_spec=action_spec, num_steps=a.diffusion_steps,
        sigma_min=a.sigma_min, sigma_max=a.sigma_max, num_cells=list(n.actor_hidden), time_embed_dim=n.time_embed_dim,
        chain_space=a.get("chain_space", "pre_squash"),  # .get: policy files written before the key existed
    )


def make_modules(cfg: DictConfig, obs_dim: int, action_spec, device):
    """Actor, twin reward critic and cost ensemble, on ``device``."""
    act_dim = action_spec.shape[-1]
    a, n = cfg.algd, cfg.network
    actor = make_policy(cfg, obs_dim, action_spec)
    qvalue = TwinQValue(obs_dim, act_dim, num_cells=list(n.critic_hidden))
    cost = EnsembleCostValue(obs_dim, act_dim, num_members=a.ensemble_size, num_cells=list(n.critic_hidden),
                             risk_coef=a.cost_risk_coef)
    if n.init == "released":
        released_init_(actor, qvalue, cost_ensemble=cost)
    return actor.to(device), qvalue.to(device), cost.to(device)


def make_loss(cfg: DictConfig, actor, qvalue, cost, h: float, device):
    """:class:`ALGDLoss` with its dual variable, and the target-network updater."""
    a = cfg.algd
    loss = ALGDLoss(
        actor, qvalue, cost, make_lagrangian(cfg), make_dual(a.dual, device), h,
        num_samples=a.mc_samples, beta=float(a.beta), gamma=cfg.optim.gamma, cost_gamma=cfg.optim.cost_gamma,
        score_coef=float(a.score_coef), energy_coef=float(a.energy_coef), dual_source=a.dual.source,
        score_reduction=a.score_reduction, cost_target=a.cost_target,
        score_grad_into_chain=bool(a.get("score_grad_into_chain", False)),
    )
    return loss, ForeachSoftUpdate(loss, eps=cfg.optim.target_update_polyak, interval=cfg.optim.target_update_interval)


def make_optimizers(cfg: DictConfig, actor, qvalue, cost) -> dict[str, torch.optim.Optimizer]:
    o = cfg.optim
    # capturable: Adam keeps its step count on the device, as a CUDA graph needs
    kw = {"fused": True, "capturable": bool(cfg.compile.cudagraphs)}
    return {
        "actor": torch.optim.Adam(actor.parameters(), lr=o.lr, **kw),
        "qvalue": torch.optim.Adam(qvalue.parameters(), lr=o.lr, **kw),
        "cost": torch.optim.Adam(cost.net.param_groups(weight_decay=cost_weight_decay(cfg)), lr=o.cost_lr, **kw),
    }


def build(cfg: DictConfig, obs_dim: int, action_spec, h: float, device) -> Algorithm:
    actor, qvalue, cost = make_modules(cfg, obs_dim, action_spec, device)
    loss, target_updater = make_loss(cfg, actor, qvalue, cost, h, device)
    goal_terminal_keys(cfg, loss)
    if cfg.compile.compile:
        compile_modules(loss, mode=cfg.compile.mode)
    optimizers = make_optimizers(cfg, actor, qvalue, cost)
    update = GraphedUpdate(loss, optimizers, target_updater) if cfg.compile.cudagraphs else None
    return Algorithm(actor, loss, target_updater, optimizers, update=update)
