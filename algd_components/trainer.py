"""The training loop and the builders every recipe shares.

A recipe supplies two functions — ``validate(cfg)`` for its own config keys and
``build(cfg, obs_dim, action_spec, cost_limit, device) -> Algorithm`` — and
:func:`train_loop` does the rest the same way for every algorithm: env factory,
TorchRL ``Collector``, updates, deterministic evaluation, ``metrics.csv``, TorchRL
loggers, atomic checkpoints and resume.  Off-policy algorithms (the default) store every
batch in the replay buffer and do ``utd_ratio`` updates per frame through
:func:`~algd_components.training.update_step` (or the recipe's ``Algorithm.update``, e.g. a
:class:`~algd_components.training.GraphedUpdate`); an on-policy algorithm sets
``Algorithm.learn`` (e.g. :class:`OnPolicyUpdate`) and learns from each batch as collected.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from numbers import Number
from pathlib import Path
from typing import Callable

import torch
import tqdm
from omegaconf import DictConfig, OmegaConf
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer
from torchrl.record.loggers import get_logger

from .allocator import retain_freed_memory
from .envs import cost_limit_for_critic, get_task, make_env
from .lagrangians import Lagrangian
from .lagrangians import make_lagrangian as _make_lagrangian
from .precision import AUTOCAST_DTYPES, FLOAT32_MATMUL_PRECISIONS, float32_matmul_precision, update_autocast
from .training import (
    ConfigError,
    EpisodeTracker,
    MetricsCSV,
    atomic_save,
    atomic_save_text,
    evaluate,
    pick_device,
    require,
    resolve_checkpoint,
    rng_state,
    set_rng_state,
    update_step,
)

__all__ = ["Algorithm", "OnPolicyUpdate", "train_loop", "train_off_policy", "recipe_main", "load_sibling", "validate_common", "validate_dual", "make_lagrangian",
           "make_envs", "make_batched_env", "make_collector", "make_replay_buffer"]

LOGGER_BACKENDS = ("csv", "tensorboard", "wandb", "")
# the last update's scalars written to metrics.csv (those a loss does not produce stay empty)
LOSS_COLUMNS = ("loss_qvalue", "loss_cost", "loss_actor", "score_loss", "energy", "cost_estimate_batch", "cost_estimate_policy",
                "loss_objective", "loss_critic")


@dataclass
class Algorithm:
    """What a recipe's ``build`` returns: the acting policy, the loss (with ``dual`` and
    ``step_dual``), its target-network updater and its optimisers.  ``learn`` (on-policy
    algorithms): ``learn(batch, episode_cost=, episode_cost_limit=) -> (loss_td, n_updates)``
    called on each collected batch in place of replay-buffer updates."""

    policy: torch.nn.Module
    loss: torch.nn.Module
    target_updater: object
    optimizers: dict
    learn: Callable | None = None
    # off-policy: ``update(batch, episode_cost=, episode_cost_limit=) -> loss_td`` for one replay
    # batch; None means :func:`~algd_components.training.update_step` (e.g. a GraphedUpdate instead)
    update: Callable | None = None


class OnPolicyUpdate:
    """On-policy learning from one collected batch, as TorchRL's PPO recipes do it.

    One dual step on the recent training episodes' mean cost (before the policy moves, as
    OmniSafe's PPO-Lag), ``loss.compute_advantages(batch)`` (no gradient), then ``epochs``
    passes over the batch in shuffled minibatches: sum of the ``loss_*`` entries → backward →
    gradient norm clipped to ``max_grad_norm`` → every optimiser steps.
    """

    def __init__(self, loss, optimizers: dict, epochs: int, minibatch_size: int, max_grad_norm: float | None):
        self.loss, self.optimizers = loss, optimizers
        self.epochs, self.minibatch_size, self.max_grad_norm = epochs, minibatch_size, max_grad_norm

    def __call__(self, batch, episode_cost: float | None = None, episode_cost_limit: float | None = None):
        self.loss.step_dual(None, episode_cost, episode_cost_limit)
        flat = self.loss.compute_advantages(batch).reshape(-1)
        n = 0
        for _ in range(self.epochs):
            for idx in torch.randperm(flat.numel(), device=flat.device).split(self.minibatch_size):
                loss_td = update_step(self.loss, self.optimizers, None, flat[idx],
                                      max_grad_norm=self.max_grad_norm, step_dual=False)
                n += 1
        return loss_td, n


def load_sibling(file: str, name: str):
    """Import ``<dir of file>/<name>.py`` under a name unique to its folder
    (``recipes.<folder>.<name>``), so several recipes' ``utils.py`` can live in one process."""
    import importlib.util
    import sys

    path = Path(file).resolve().parent / f"{name}.py"
    mod_name = f"recipes.{path.parent.name}.{name}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def _num(x) -> bool:
    return isinstance(x, Number) and not isinstance(x, bool) and math.isfinite(x)


def _int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def make_lagrangian(cfg: DictConfig) -> Lagrangian:
    try:
        return _make_lagrangian(OmegaConf.to_container(cfg.lagrangian, resolve=True))
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


def train_env_factory(cfg: DictConfig, task_name: str, steps: int):
    """A picklable factory of the training env (for a collector's worker process)."""
    from functools import partial

    from torchrl.envs import EnvCreator

    return EnvCreator(partial(make_batched_env, task_name, cfg.env.num_envs, cfg.env.vectorize, cfg.env.seed, steps))


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


def make_collector(cfg: DictConfig, env, actor, device, frames_done: int, env_factory=None):
    """TorchRL's ``Collector`` stepping ``env`` in this process, or, given ``env_factory``
    (``collector.async_collection``), an ``AsyncCollector``: a worker process builds its own env
    with it and collects the next batch while this process runs the updates on the last one
    (the batch then comes from the policy as it was one batch ago)."""
    c = cfg.collector
    kwargs = dict(
        frames_per_batch=c.frames_per_batch,
        total_frames=c.total_frames - frames_done,
        init_random_frames=max(0, c.init_random_frames - frames_done),
        policy_device=device,
        env_device="cpu",
        storing_device=device,
    )
    if env_factory is not None:
        from torchrl.collectors import AsyncCollector

        # one math thread for the worker: on a small machine the updates need the rest
        return AsyncCollector(env_factory, actor, num_threads=1, **kwargs)
    return Collector(env, actor, auto_register_policy_transforms=False, **kwargs)


def make_replay_buffer(cfg: DictConfig, device) -> TensorDictReplayBuffer:
    return TensorDictReplayBuffer(
        storage=LazyTensorStorage(cfg.replay_buffer.size, device=device),
        batch_size=cfg.optim.batch_size,
    )


def resolve_run(cfg: DictConfig, run_dir):
    """``(cfg, checkpoint or None, run_dir)``; on resume the checkpoint's config and folder."""
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
    name = "config_resumed.yaml" if resumed else "config.yaml"
    atomic_save_text(OmegaConf.to_yaml(cfg, resolve=True), run_dir / name)


def restore(ckpt, loss, optimizers, replay_buffer, episodes) -> dict:
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
    losses = state.get("last_losses", {})
    now = time.time()
    return {
        "frames": state["frames"],
        **eval_row,
        "train_episode_return": episodes.mean_return,
        "train_episode_cost": episodes.mean_cost,
        "lambda": lam,
        **{k: losses.get(k) for k in LOSS_COLUMNS},
        "updates": state["updates"],
        "updates_per_s": window["updates"] / window["update_s"] if window["update_s"] else None,
        "frames_per_s": window["frames"] / (now - window["start"]),
        "update_time_fraction": window["update_s"] / (now - window["start"]),
        "wall_time_s": state["wall_time_s"],
    }


def make_logger(cfg: DictConfig, run_dir):
    """A TorchRL logger writing under ``run_dir/logs`` (None for backend '')."""
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


def validate_common(cfg: DictConfig) -> None:
    """Checks of the keys every recipe shares; one :class:`ConfigError` per bad value."""
    try:
        get_task(cfg.env.name)
    except ValueError as err:
        raise ConfigError(f"env.name: {err}") from None
    e, c, o = cfg.env, cfg.collector, cfg.optim
    checks = [
        (e.max_episode_steps is None or (_int(e.max_episode_steps) and e.max_episode_steps >= 1), "env.max_episode_steps", e.max_episode_steps, "an integer >= 1 or null"),
        (e.cost_limit is None or (_num(e.cost_limit) and e.cost_limit >= 0), "env.cost_limit", e.cost_limit, "a number >= 0 or null"),
        (_int(e.seed), "env.seed", e.seed, "an integer"),
        (_int(e.num_envs) and e.num_envs >= 1, "env.num_envs", e.num_envs, "an integer >= 1"),
        (e.vectorize in ("parallel", "serial"), "env.vectorize", e.vectorize, "'parallel' or 'serial'"),
        (_int(c.total_frames) and c.total_frames >= 1, "collector.total_frames", c.total_frames, "an integer >= 1"),
        (_int(c.init_random_frames) and c.init_random_frames >= 0, "collector.init_random_frames", c.init_random_frames, "an integer >= 0"),
        (_int(c.frames_per_batch) and c.frames_per_batch >= 1, "collector.frames_per_batch", c.frames_per_batch, "an integer >= 1"),
        (isinstance(c.async_collection, bool), "collector.async_collection", c.async_collection, "true or false"),
        (isinstance(cfg.system.retain_freed_memory, bool), "system.retain_freed_memory", cfg.system.retain_freed_memory, "true or false"),
        (cfg.system.float32_matmul_precision in FLOAT32_MATMUL_PRECISIONS, "system.float32_matmul_precision", cfg.system.float32_matmul_precision, f"one of {list(FLOAT32_MATMUL_PRECISIONS)}"),
        (cfg.system.autocast is None or cfg.system.autocast in AUTOCAST_DTYPES, "system.autocast", cfg.system.autocast, f"null or one of {list(AUTOCAST_DTYPES)}"),
        (_int(o.batch_size) and o.batch_size >= 1, "optim.batch_size", o.batch_size, "an integer >= 1"),
        (_int(cfg.replay_buffer.size) and cfg.replay_buffer.size >= 1, "replay_buffer.size", cfg.replay_buffer.size, "an integer >= 1"),
        (_num(o.utd_ratio) and o.utd_ratio > 0, "optim.utd_ratio", o.utd_ratio, "a number > 0"),
        (_num(o.lr) and o.lr > 0, "optim.lr", o.lr, "a number > 0"),
        (_num(o.cost_lr) and o.cost_lr > 0, "optim.cost_lr", o.cost_lr, "a number > 0"),
        (_num(o.gamma) and 0 < o.gamma <= 1, "optim.gamma", o.gamma, "a number in (0, 1]"),
        (_num(o.cost_gamma) and 0 < o.cost_gamma <= 1, "optim.cost_gamma", o.cost_gamma, "a number in (0, 1]"),
        (_num(o.target_update_polyak) and 0 <= o.target_update_polyak < 1, "optim.target_update_polyak", o.target_update_polyak, "a number in [0, 1)"),
        (cfg.logger.backend in LOGGER_BACKENDS, "logger.backend", cfg.logger.backend, f"one of {list(LOGGER_BACKENDS)}"),
        (_int(cfg.logger.eval_iter) and cfg.logger.eval_iter >= 1, "logger.eval_iter", cfg.logger.eval_iter, "an integer >= 1"),
        (_int(cfg.logger.eval_episodes) and cfg.logger.eval_episodes >= 1, "logger.eval_episodes", cfg.logger.eval_episodes, "an integer >= 1"),
        (_int(cfg.checkpoint.interval) and cfg.checkpoint.interval >= 1, "checkpoint.interval", cfg.checkpoint.interval, "an integer >= 1"),
    ]
    for ok, key, value, allowed in checks:
        require(ok, key, value, allowed)
    lag = cfg.lagrangian
    if "rho" in lag and lag.get("name") == "augmented":
        require(_num(lag.rho) and lag.rho > 0, "lagrangian.rho", lag.rho, "a number > 0")


def validate_dual(cfg: DictConfig, node: DictConfig, prefix: str) -> None:
    """Checks of a dual-variable config node (``rule``, ``lr``, ``init``, ``source``)."""
    from .dual import DUAL_RULES
    from .objectives import DUAL_SOURCES

    require(node.rule in DUAL_RULES, f"{prefix}.rule", node.rule, f"one of {list(DUAL_RULES)}")
    require(_num(node.lr) and node.lr > 0, f"{prefix}.lr", node.lr, "a number > 0")
    require(_num(node.init) and node.init >= 0, f"{prefix}.init", node.init, "a number >= 0")
    require(node.rule != "log_adam" or node.init > 0, f"{prefix}.init", node.init, f"> 0 with {prefix}.rule=log_adam (it stores log lambda)")
    require(node.source in DUAL_SOURCES, f"{prefix}.source", node.source, f"one of {list(DUAL_SOURCES)}")
    task = get_task(cfg.env.name)
    require(node.source != "episode" or task.limit_kind == "episodic", f"{prefix}.source", node.source,
            f"'batch' or 'policy' for {task.name}, whose limit is on the discounted cost")


def train_loop(
    cfg: DictConfig,
    run_dir: str | Path,
    validate: Callable[[DictConfig], None],
    build: Callable[..., Algorithm],
) -> dict:
    """Train as ``cfg`` says; write config.yaml, metrics.csv and checkpoint.pt to ``run_dir``.

    With ``cfg.resume`` set, everything but ``collector.total_frames`` comes from the
    checkpoint and the run continues in the checkpoint's directory.
    """
    cfg, ckpt, run_dir = resolve_run(cfg, run_dir)
    validate_common(cfg)
    validate(cfg)
    if cfg.system.retain_freed_memory:
        retain_freed_memory()
    device = pick_device(cfg.network.device)
    torch.manual_seed(cfg.env.seed)
    train_env, eval_env, task, max_steps, h = make_envs(cfg)
    algo = build(cfg, train_env.observation_spec["observation"].shape[-1], train_env.action_spec, h, device)
    loss, optimizers = algo.loss, algo.optimizers
    use_async = cfg.collector.async_collection
    require(not (use_async and algo.learn is not None), "collector.async_collection", use_async,
            "false for an on-policy algorithm (it learns from each batch of its current policy)")
    replay_buffer = make_replay_buffer(cfg, device)
    episodes = EpisodeTracker()
    state = restore(ckpt, loss, optimizers, replay_buffer, episodes)  # counters; fresh run: zeros
    save_config(cfg, run_dir, resumed=ckpt is not None)
    metrics = MetricsCSV(run_dir / "metrics.csv", resume_frames=state["frames"] if ckpt else None)
    logger = make_logger(cfg, run_dir)
    if use_async:
        train_env.close()  # the worker builds its own
        collector = make_collector(cfg, None, algo.policy, device, state["frames"], train_env_factory(cfg, task.name, max_steps))
    else:
        collector = make_collector(cfg, train_env, algo.policy, device, state["frames"])
    episode_limit = cfg.env.cost_limit if cfg.env.cost_limit is not None else task.cost_limit

    def learn_off_policy(data, **dual_kwargs):
        """``utd_ratio`` updates per new frame from the replay buffer, once past the random frames."""
        replay_buffer.extend(data.reshape(-1))
        if state["frames"] < cfg.collector.init_random_frames:
            return None, 0
        n = max(1, round(data.numel() * cfg.optim.utd_ratio))
        for _ in range(n):
            loss_td = one_update(replay_buffer.sample(), **dual_kwargs)
        return loss_td, n

    one_update = algo.update or functools.partial(update_step, loss, optimizers, algo.target_updater)
    learn = algo.learn or learn_off_policy
    every = lambda n: (state["frames"] // n + 1) * n  # noqa: E731  next multiple of n
    next_eval, next_ckpt = every(cfg.logger.eval_iter), every(cfg.checkpoint.interval)
    window = {"frames": 0, "updates": 0, "update_s": 0.0, "start": time.time()}
    run_start = time.time() - state["wall_time_s"]
    pbar = tqdm.tqdm(total=cfg.collector.total_frames, initial=state["frames"], disable=not cfg.progress_bar, unit="frame")
    try:
        for data in collector:
            episodes.update(data)
            state["frames"] += data.numel()
            window["frames"] += data.numel()
            pbar.update(data.numel())
            t0 = time.time()
            with float32_matmul_precision(cfg.system.float32_matmul_precision), update_autocast(device, cfg.system.autocast):
                loss_td, n = learn(data, episode_cost=episodes.mean_cost, episode_cost_limit=episode_limit)
            if n:
                window["updates"] += n
                state["updates"] += n
                window["update_s"] += time.time() - t0
                state["last_losses"] = {k: v.item() for k, v in loss_td.items() if v.numel() == 1}
            collector.update_policy_weights_()
            state["wall_time_s"] = time.time() - run_start
            done = state["frames"] >= cfg.collector.total_frames
            if state["frames"] >= next_eval or done:
                next_eval = every(cfg.logger.eval_iter)
                eval_env.set_seed(cfg.env.seed + 10_000 + state["frames"])  # evaluation independent of history
                row = evaluate(eval_env, algo.policy, cfg.logger.eval_episodes, max_steps, cfg.optim.cost_gamma)
                row = metrics_row(state, row, episodes, window, float(loss.dual.value))
                metrics.write(row)
                log_scalars(logger, row)
                pbar.set_postfix(ret=f"{row['eval_return']:.1f}", cost=f"{row['eval_cost']:.1f}", lam=f"{row['lambda']:.3g}")
                window = {"frames": 0, "updates": 0, "update_s": 0.0, "start": time.time()}
            if state["frames"] >= next_ckpt or done:
                next_ckpt = every(cfg.checkpoint.interval)
                save_checkpoint(run_dir, cfg, loss, optimizers, replay_buffer, episodes, state)
    finally:  # worker processes of a ParallelEnv must not outlive an error
        pbar.close()
        collector.shutdown()
        eval_env.close()
    return state


train_off_policy = train_loop  # the name the off-policy recipes were written against


def recipe_main(file: str, validate: Callable[[DictConfig], None], build: Callable[..., Algorithm]) -> None:
    """A recipe's command line: Hydra reads ``config.yaml`` beside ``file``, the run goes to
    Hydra's output directory, and a bad value ends it with one line and exit status 2."""
    import sys

    import hydra
    from hydra.core.hydra_config import HydraConfig

    @hydra.main(config_path=str(Path(file).resolve().parent), config_name="config", version_base="1.3")
    def main(cfg: DictConfig) -> None:
        try:
            train_loop(cfg, HydraConfig.get().runtime.output_dir, validate, build)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    main()
