"""ALGD (Augmented Lagrangian-Guided Diffusion) on Safety-Gymnasium and velocity-constrained MuJoCo.

    python recipes/algd/train.py env.name=SafetyHalfCheetahVelocity-v1 collector.total_frames=20000

Builders live in utils.py; the config in config.yaml (see docs/recipes.md).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import hydra
import torch
import tqdm
from omegaconf import DictConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
import utils  # noqa: E402

from algd_components.compile import compile_modules  # noqa: E402
from algd_components.training import ConfigError, EpisodeTracker, MetricsCSV, evaluate, pick_device, update_step  # noqa: E402


def train(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train ALGD as ``cfg`` says; write config.yaml, metrics.csv and checkpoint.pt to ``run_dir``.

    With ``cfg.resume`` set, everything but ``collector.total_frames`` comes from the
    checkpoint and the run continues in the checkpoint's directory.
    """
    cfg, ckpt, run_dir = utils.resolve_run(cfg, run_dir)
    utils.validate_config(cfg)
    device = pick_device(cfg.network.device)
    torch.manual_seed(cfg.env.seed)
    train_env, eval_env, task, max_steps, h = utils.make_envs(cfg)
    actor, qvalue, cost = utils.make_modules(cfg, train_env.observation_spec["observation"].shape[-1], train_env.action_spec, device)
    loss, target_updater = utils.make_loss(cfg, actor, qvalue, cost, h, device)
    if cfg.compile.compile:
        compile_modules(loss, mode=cfg.compile.mode)
    optimizers = utils.make_optimizers(cfg, actor, qvalue, cost)
    replay_buffer = utils.make_replay_buffer(cfg, device)
    episodes = EpisodeTracker()
    state = utils.restore(ckpt, loss, optimizers, replay_buffer, episodes)  # counters; fresh run: zeros
    utils.save_config(cfg, run_dir, resumed=ckpt is not None)
    metrics = MetricsCSV(run_dir / "metrics.csv", resume_frames=state["frames"] if ckpt else None)
    logger = utils.make_logger(cfg, run_dir)
    collector = utils.make_collector(cfg, train_env, actor, device, state["frames"])
    episode_limit = cfg.env.cost_limit if cfg.env.cost_limit is not None else task.cost_limit
    every = lambda n: (state["frames"] // n + 1) * n  # noqa: E731  next multiple of n
    next_eval, next_ckpt = every(cfg.logger.eval_iter), every(cfg.checkpoint.interval)
    window = {"frames": 0, "updates": 0, "update_s": 0.0, "start": time.time()}
    run_start = time.time() - state["wall_time_s"]
    pbar = tqdm.tqdm(total=cfg.collector.total_frames, initial=state["frames"], disable=not cfg.progress_bar, unit="frame")
    try:
        for data in collector:
            replay_buffer.extend(data.reshape(-1))
            episodes.update(data)
            state["frames"] += data.numel()
            window["frames"] += data.numel()
            pbar.update(data.numel())
            if state["frames"] >= cfg.collector.init_random_frames:
                t0 = time.time()
                for _ in range(max(1, round(data.numel() * cfg.optim.utd_ratio))):
                    loss_td = update_step(loss, optimizers, target_updater, replay_buffer.sample(),
                                          episode_cost=episodes.mean_cost, episode_cost_limit=episode_limit)
                    window["updates"] += 1
                    state["updates"] += 1
                window["update_s"] += time.time() - t0
                state["last_losses"] = {k: v.item() for k, v in loss_td.items()}
            collector.update_policy_weights_()
            state["wall_time_s"] = time.time() - run_start
            done = state["frames"] >= cfg.collector.total_frames
            if state["frames"] >= next_eval or done:
                next_eval = every(cfg.logger.eval_iter)
                eval_env.set_seed(cfg.env.seed + 10_000 + state["frames"])  # evaluation independent of history
                row = evaluate(eval_env, actor, cfg.logger.eval_episodes, max_steps, cfg.optim.cost_gamma)
                row = utils.metrics_row(state, row, episodes, window, float(loss.dual.value))
                metrics.write(row)
                utils.log_scalars(logger, row)
                pbar.set_postfix(ret=f"{row['eval_return']:.1f}", cost=f"{row['eval_cost']:.1f}", lam=f"{row['lambda']:.3g}")
                window = {"frames": 0, "updates": 0, "update_s": 0.0, "start": time.time()}
            if state["frames"] >= next_ckpt or done:
                next_ckpt = every(cfg.checkpoint.interval)
                utils.save_checkpoint(run_dir, cfg, loss, optimizers, replay_buffer, episodes, state)
    finally:  # worker processes of a ParallelEnv must not outlive an error
        pbar.close()
        collector.shutdown()
        eval_env.close()
    return state


@hydra.main(config_path=".", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    try:
        train(cfg, HydraConfig.get().runtime.output_dir)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
