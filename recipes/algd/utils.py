"""Builders for the ALGD recipe: config checks, envs, modules, loss, optimisers, data."""
from __future__ import annotations

import math
from numbers import Number

import torch
from omegaconf import DictConfig, OmegaConf
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer
from torchrl.objectives import SoftUpdate

import algd_components as A
from algd_components.envs import cost_limit_for_critic, get_task, make_env
from algd_components.training import ConfigError, require

LOGGER_BACKENDS = ("csv", "tensorboard", "wandb", "")


def _num(x) -> bool:
    return isinstance(x, Number) and not isinstance(x, bool) and math.isfinite(x)


def _int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def validate_config(cfg: DictConfig) -> None:
    """One clear :class:`ConfigError` per bad value, before anything is built or written."""
    try:
        get_task(cfg.env.name)
    except ValueError as err:
        raise ConfigError(f"env.name: {err}") from None
    c, o, a, n = cfg.collector, cfg.optim, cfg.algd, cfg.network
    checks = [
        (cfg.env.max_episode_steps is None or (_int(cfg.env.max_episode_steps) and cfg.env.max_episode_steps >= 1), "env.max_episode_steps", cfg.env.max_episode_steps, "an integer >= 1 or null"),
        (cfg.env.cost_limit is None or (_num(cfg.env.cost_limit) and cfg.env.cost_limit >= 0), "env.cost_limit", cfg.env.cost_limit, "a number >= 0 or null"),
        (_int(cfg.env.seed), "env.seed", cfg.env.seed, "an integer"),
        (_int(cfg.env.num_envs) and cfg.env.num_envs >= 1, "env.num_envs", cfg.env.num_envs, "an integer >= 1"),
        (cfg.env.vectorize in ("parallel", "serial"), "env.vectorize", cfg.env.vectorize, "'parallel' or 'serial'"),
        (_int(c.total_frames) and c.total_frames >= 1, "collector.total_frames", c.total_frames, "an integer >= 1"),
        (_int(c.init_random_frames) and c.init_random_frames >= 0, "collector.init_random_frames", c.init_random_frames, "an integer >= 0"),
        (_int(c.frames_per_batch) and c.frames_per_batch >= 1, "collector.frames_per_batch", c.frames_per_batch, "an integer >= 1"),
        (_int(o.batch_size) and o.batch_size >= 1, "optim.batch_size", o.batch_size, "an integer >= 1"),
        (_int(cfg.replay_buffer.size) and cfg.replay_buffer.size >= 1, "replay_buffer.size", cfg.replay_buffer.size, "an integer >= 1"),
        (_num(o.utd_ratio) and o.utd_ratio > 0, "optim.utd_ratio", o.utd_ratio, "a number > 0"),
        (_num(o.lr) and o.lr > 0, "optim.lr", o.lr, "a number > 0"),
        (_num(o.cost_lr) and o.cost_lr > 0, "optim.cost_lr", o.cost_lr, "a number > 0"),
        (_num(o.gamma) and 0 < o.gamma <= 1, "optim.gamma", o.gamma, "a number in (0, 1]"),
        (_num(o.cost_gamma) and 0 < o.cost_gamma <= 1, "optim.cost_gamma", o.cost_gamma, "a number in (0, 1]"),
        (_num(o.target_update_polyak) and 0 <= o.target_update_polyak < 1, "optim.target_update_polyak", o.target_update_polyak, "a number in [0, 1)"),
        (_int(a.diffusion_steps) and a.diffusion_steps >= 1, "algd.diffusion_steps", a.diffusion_steps, "an integer >= 1 (K)"),
        (_int(a.mc_samples) and a.mc_samples >= 1, "algd.mc_samples", a.mc_samples, "an integer >= 1 (N)"),
        (_int(a.ensemble_size) and a.ensemble_size >= 1, "algd.ensemble_size", a.ensemble_size, "an integer >= 1 (M)"),
        (_num(a.beta) and a.beta > 0, "algd.beta", a.beta, "a number > 0"),
        (_num(a.sigma_min) and a.sigma_min > 0, "algd.sigma_min", a.sigma_min, "a number > 0"),
        (_num(a.sigma_max) and _num(a.sigma_min) and a.sigma_max >= a.sigma_min, "algd.sigma_max", a.sigma_max, "a number >= algd.sigma_min"),
        (_num(a.score_coef) and a.score_coef >= 0, "algd.score_coef", a.score_coef, "a number >= 0"),
        (_num(a.energy_coef) and a.energy_coef >= 0, "algd.energy_coef", a.energy_coef, "a number >= 0"),
        (_num(a.cost_risk_coef) and a.cost_risk_coef >= 0, "algd.cost_risk_coef", a.cost_risk_coef, "a number >= 0"),
        (a.dual.rule in A.DUAL_RULES, "algd.dual.rule", a.dual.rule, f"one of {list(A.DUAL_RULES)}"),
        (_num(a.dual.lr) and a.dual.lr > 0, "algd.dual.lr", a.dual.lr, "a number > 0"),
        (_num(a.dual.init) and a.dual.init >= 0, "algd.dual.init", a.dual.init, "a number >= 0"),
        (a.dual.source in A.DUAL_SOURCES, "algd.dual.source", a.dual.source, f"one of {list(A.DUAL_SOURCES)}"),
        (cfg.logger.backend in LOGGER_BACKENDS, "logger.backend", cfg.logger.backend, f"one of {list(LOGGER_BACKENDS)}"),
        (_int(cfg.logger.eval_iter) and cfg.logger.eval_iter >= 1, "logger.eval_iter", cfg.logger.eval_iter, "an integer >= 1"),
        (_int(cfg.logger.eval_episodes) and cfg.logger.eval_episodes >= 1, "logger.eval_episodes", cfg.logger.eval_episodes, "an integer >= 1"),
        (_int(cfg.checkpoint.interval) and cfg.checkpoint.interval >= 1, "checkpoint.interval", cfg.checkpoint.interval, "an integer >= 1"),
    ]
    for ok, key, value, allowed in checks:
        require(ok, key, value, allowed)
    require(a.score_coef > 0 or a.energy_coef > 0, "algd.score_coef", a.score_coef, "> 0 when algd.energy_coef is 0 (the actor must have a loss)")
    require(a.dual.rule != "log_adam" or a.dual.init > 0, "algd.dual.init", a.dual.init, "> 0 with algd.dual.rule=log_adam (it stores log lambda)")
    lag = cfg.lagrangian
    if "rho" in lag and lag.get("name") == "augmented":
        require(_num(lag.rho) and lag.rho > 0, "lagrangian.rho", lag.rho, "a number > 0")
    task = get_task(cfg.env.name)
    require(
        a.dual.source != "episode" or task.limit_kind == "episodic",
        "algd.dual.source", a.dual.source, f"'batch' or 'policy' for {task.name}, whose limit is on the discounted cost",
    )


def make_lagrangian(cfg: DictConfig) -> A.Lagrangian:
    try:
        return A.make_lagrangian(OmegaConf.to_container(cfg.lagrangian, resolve=True))
    except (ValueError, TypeError) as err:
        raise ConfigError(f"lagrangian: {err}") from None


def make_envs(cfg: DictConfig):
    """Train env, eval env, the task spec, the episode length and the critic budget h."""
    task = get_task(cfg.env.name)
    steps = cfg.env.max_episode_steps or task.max_episode_steps
    train_env = make_batched_env(task.name, cfg.env.num_envs, cfg.env.vectorize, cfg.env.seed, steps)
    eval_env = make_env(task.name, seed=cfg.env.seed + 10_000, max_episode_steps=steps)
    h = cost_limit_for_critic(task, cfg.optim.cost_gamma, steps, cfg.env.cost_limit)
    return train_env, eval_env, task, steps, h


def make_batched_env(name: str, num_envs: int, vectorize: str, seed: int, steps: int):
    """One env, or ``num_envs`` copies in a TorchRL ``ParallelEnv`` (worker processes) or
    ``SerialEnv`` (one process); worker ``i`` is seeded ``seed + i``."""
    from torchrl.envs import EnvCreator, ParallelEnv, SerialEnv

    if num_envs == 1:
        return make_env(name, seed=seed, max_episode_steps=steps)
    batched = (ParallelEnv if vectorize == "parallel" else SerialEnv)(
        num_envs, EnvCreator(lambda: make_env(name, max_episode_steps=steps))
    )
    batched.set_seed(seed)
    return batched


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
    target_updater = SoftUpdate(loss, eps=cfg.optim.target_update_polyak)
    return loss, target_updater


def make_optimizers(cfg: DictConfig, actor, qvalue, cost) -> dict[str, torch.optim.Optimizer]:
    o = cfg.optim
    return {
        "actor": torch.optim.Adam(actor.parameters(), lr=o.lr, fused=True),
        "qvalue": torch.optim.Adam(qvalue.parameters(), lr=o.lr, fused=True),
        "cost": torch.optim.Adam(cost.net.param_groups(weight_decay=list(o.cost_weight_decay)), lr=o.cost_lr, fused=True),
    }


def make_collector(cfg: DictConfig, env, actor, device, frames_done: int) -> Collector:
    c = cfg.collector
    return Collector(
        env,
        actor,
        frames_per_batch=c.frames_per_batch,
        total_frames=c.total_frames - frames_done,
        init_random_frames=max(0, c.init_random_frames - frames_done),
        policy_device=device,
        env_device="cpu",
        storing_device=device,
        auto_register_policy_transforms=False,
    )


def make_replay_buffer(cfg: DictConfig, device) -> TensorDictReplayBuffer:
    return TensorDictReplayBuffer(
        storage=LazyTensorStorage(cfg.replay_buffer.size, device=device),
        batch_size=cfg.optim.batch_size,
    )


# --------------------------------------------------------------------- run bookkeeping
def resolve_run(cfg: DictConfig, run_dir):
    """``(cfg, checkpoint or None, run_dir)``; on resume the checkpoint's config and folder."""
    from pathlib import Path

    from algd_components.training import resolve_checkpoint

    if not cfg.resume:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        return cfg, None, run_dir
    path = resolve_checkpoint(cfg.resume)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise ConfigError(f"resume={cfg.resume!r}: {path} is not a readable checkpoint ({type(err).__name__}: {err})") from None
    total = cfg.collector.total_frames
    # the checkpoint's values win; keys added to config.yaml since it was written take their defaults
    cfg = _fill_missing(OmegaConf.create(ckpt["config"]), cfg)
    cfg.collector.total_frames = total
    require(_int(total) and total > ckpt["state"]["frames"], "collector.total_frames", total,
            f"an integer above the checkpoint's {ckpt['state']['frames']} frames when resuming")
    return cfg, ckpt, path.parent


def _fill_missing(saved: DictConfig, current: DictConfig) -> DictConfig:
    """Add to ``saved`` the keys it lacks from ``current``; the Lagrangian node is taken
    whole from ``saved`` (its keys depend on the class it builds)."""
    for key in current:
        if key not in saved:
            saved[key] = current[key]
        elif key != "lagrangian" and OmegaConf.is_dict(saved[key]) and OmegaConf.is_dict(current[key]):
            _fill_missing(saved[key], current[key])
    return saved


def save_config(cfg: DictConfig, run_dir, resumed: bool) -> None:
    from algd_components.training import atomic_save_text

    name = "config_resumed.yaml" if resumed else "config.yaml"
    atomic_save_text(OmegaConf.to_yaml(cfg, resolve=True), run_dir / name)


def restore(ckpt, loss, optimizers, replay_buffer, episodes) -> dict:
    from algd_components.training import set_rng_state

    if ckpt is None:
        return {"frames": 0, "updates": 0, "wall_time_s": 0.0, "last_losses": {}}
    loss.load_state_dict(ckpt["loss"])
    for name, opt in optimizers.items():
        opt.load_state_dict(ckpt["optimizers"][name])
    if "replay_buffer" in ckpt:
        load_replay_buffer_contents(replay_buffer, ckpt["replay_buffer"])
    episodes.load_state_dict(ckpt["episodes"])
    set_rng_state(ckpt["rng"])
    return dict(ckpt["state"])


def save_checkpoint(run_dir, cfg, loss, optimizers, replay_buffer, episodes, state) -> None:
    from algd_components.training import atomic_save, rng_state

    blob = {
        "config": OmegaConf.to_container(cfg, resolve=True),
        "loss": loss.state_dict(),
        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        "episodes": episodes.state_dict(),
        "state": dict(state),
        "rng": rng_state(),
    }
    if cfg.checkpoint.replay_buffer:
        blob["replay_buffer"] = replay_buffer_contents(replay_buffer)
    atomic_save(blob, run_dir / "checkpoint.pt")


def metrics_row(state, eval_row, episodes, window, lam) -> dict:
    import time

    losses = state.get("last_losses", {})
    now = time.time()
    return {
        "frames": state["frames"],
        **eval_row,
        "train_episode_return": episodes.mean_return,
        "train_episode_cost": episodes.mean_cost,
        "lambda": lam,
        **{k: losses.get(k) for k in ("loss_qvalue", "loss_cost", "loss_actor", "score_loss", "energy", "cost_estimate_batch", "cost_estimate_policy")},
        "updates": state["updates"],
        "updates_per_s": window["updates"] / window["update_s"] if window["update_s"] else None,
        "frames_per_s": window["frames"] / (now - window["start"]),
        "update_time_fraction": window["update_s"] / (now - window["start"]),
        "wall_time_s": state["wall_time_s"],
    }


def make_logger(cfg: DictConfig, run_dir):
    """A TorchRL logger writing under ``run_dir/logs`` (None for backend '')."""
    from torchrl.record.loggers import get_logger

    if not cfg.logger.backend:
        return None
    try:
        return get_logger(cfg.logger.backend, logger_name=str(run_dir / "logs"), experiment_name=cfg.logger.exp_name)
    except ImportError as err:
        raise ConfigError(f"logger.backend={cfg.logger.backend!r} needs a package that is not installed ({err}); use 'csv'") from None


def log_scalars(logger, row: dict) -> None:
    if logger is None:
        return
    for k, v in row.items():
        if k != "frames" and v is not None and _num(v):
            logger.log_scalar(k, v, step=row["frames"])


def replay_buffer_contents(replay_buffer) -> dict:
    """The filled part of the buffer and the write cursor (the storage's state_dict would
    hold all ``replay_buffer.size`` preallocated rows)."""
    n = len(replay_buffer)
    return {"data": replay_buffer.storage[:n].clone() if n else None, "cursor": replay_buffer._writer._cursor}


def load_replay_buffer_contents(replay_buffer, contents: dict) -> None:
    if contents["data"] is not None:
        replay_buffer.extend(contents["data"].to(replay_buffer.storage.device))
    # the round-robin writer's position, so later writes land where they would have
    replay_buffer._writer._cursor = contents["cursor"]
