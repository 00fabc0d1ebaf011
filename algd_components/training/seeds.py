"""S seeds of one off-policy algorithm trained in one process (``env.num_seeds=S``).

Each seed has what a run of its own has — its env (seeded as that run seeds it), its replay
buffer (independent indices), its λ, its run folder with ``config.yaml``, ``metrics.csv``,
``episodes.csv``, ``checkpoint.pt`` and ``policy.pt`` written as if it had run alone (its
config says ``env.seed=s``, ``env.num_seeds=1``), so ``plot``, ``compare``, ``evaluate`` and
``resume`` read each folder unchanged.  What they share is the work: one TorchRL collector steps
the S envs (a ``SerialEnv``) with one vmapped policy call per step, and one vmapped update
trains all S (:mod:`algd_components.stacked`).  The loop is :func:`~algd_components.training.train`'s,
step for step, with a seed dimension.
"""
from __future__ import annotations

import functools
import signal
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import torch
from omegaconf import DictConfig

from .. import algorithms
from ..config import ConfigError, require
from ..envs import make_env
from ..precision import float32_matmul_precision, update_autocast
from ..stacked import StackedLosses, StackedPolicy, StackedUpdate, gather_optimizer_state, scatter_optimizer_state, stack_optimizers
from ..updates import NonFiniteGuard
from .checkpoints import restore_checkpoint
from .factories import make_collector, make_envs, make_replay_buffer
from .loop import TrainingStopped, train_one
from .process import progress_bar_wanted, setup_process
from .record import RunRecord, RunState, Window
from .resume import clean_run_dir, owes_work, resolve_run
from .metrics import EpisodeTracker
from .progress import Progress, expected_updates
from .schedule import UpdateSchedule

__all__ = ["train_seeds", "seed_configs"]


def seed_configs(cfg: DictConfig, seeds: Sequence[int]) -> list[DictConfig]:
    """Each seed's config: ``cfg`` with ``env.seed=s`` and ``env.num_seeds=1`` — what its run
    folder records, so the folder reads (and resumes) as a single-seed run."""
    out = []
    for s in seeds:
        c = cfg.copy()
        c.env.seed, c.env.num_seeds = int(s), 1
        out.append(c)
    return out


def train_seeds(cfg: DictConfig, seeds: Sequence[int], run_dirs: Sequence[str | Path], stop=None) -> list[dict]:
    """Train seed ``seeds[i]`` into ``run_dirs[i]``, all S in one vectorised process; returns
    each seed's final counters.

    ``cfg.resume`` may be null (fresh folders; ``overwrite`` as for one run) or ``"auto"``
    (each folder continues its own checkpoint).  Seeds whose checkpoints stand at different
    frame counts (a kill between two of the S checkpoint writes) cannot share an update: they
    are then finished one after the other as single-seed runs, nothing lost; so are seeds whose
    checkpoints owe work (a signal stopped them inside a batch: the single-seed loop runs the owed
    updates first).  ``stop`` (a :func:`~.interrupt.stop_on_signals` request): at the next update
    every seed's checkpoint is written and :class:`~.loop.TrainingStopped` raised.
    """
    require(len(seeds) == len(run_dirs) and len(seeds) >= 1, "env.num_seeds", len(seeds), "one run folder per seed")
    require(len(set(seeds)) == len(seeds), "env.seed", list(seeds), "distinct seeds")
    stacked = cfg.copy()
    stacked.env.num_seeds = len(seeds)
    algorithms.validate(stacked)  # what S stacked seeds refuse (an explicit resume path, env.num_envs > 1, ...)
    cfgs = seed_configs(cfg, seeds)
    resolved = [resolve_run(c, d) for c, d in zip(cfgs, run_dirs)]
    frames = {ckpt["state"]["frames"] if ckpt is not None else 0 for _, ckpt, _ in resolved}
    owed = any(ckpt is not None and owes_work(ckpt["state"]) for _, ckpt, _ in resolved)
    if len(frames) > 1 or owed:
        why = "owe the updates of a stopped batch" if owed else f"stopped at different frame counts {sorted(frames)}"
        print(f"[algd] seeds {list(seeds)} {why}: finishing each one alone", flush=True)
        return [train_one(_auto(c), d) for c, d in zip(cfgs, run_dirs)]
    cfgs = [c for c, _, _ in resolved]
    ckpts = [ckpt for _, ckpt, _ in resolved]
    run_dirs = [d for _, _, d in resolved]
    total = cfgs[0].collector.total_frames
    if all(ckpt is not None and ckpt["state"]["frames"] >= total for ckpt in ckpts):
        return [dict(ckpt["state"]) for ckpt in ckpts]
    return _train_stacked(cfgs, ckpts, run_dirs, stop)


def _auto(cfg: DictConfig) -> DictConfig:
    c = cfg.copy()
    c.resume = "auto"
    return c


def _train_stacked(cfgs: list[DictConfig], ckpts: list, run_dirs: list[Path], stop=None) -> list[dict]:
    cfg, S = cfgs[0], len(cfgs)
    spec = algorithms.get(cfg.algo)
    for c in cfgs:
        algorithms.validate(c)
    for c, ckpt, d in zip(cfgs, ckpts, run_dirs):
        d.mkdir(parents=True, exist_ok=True)
        clean_run_dir(d, overwrite=c.overwrite and ckpt is None)
    setup_process(cfg)
    device = algorithms.common.pick_device(cfg.network.device)
    eval_envs, algos = [], []
    for c in cfgs:  # each seed's env and modules, drawn as its single-seed run draws them
        torch.manual_seed(c.env.seed)
        train_env, eval_env, task, max_steps, h = make_envs(c)
        obs_dim, action_spec = train_env.observation_spec["observation"].shape[-1], train_env.action_spec
        train_env.close()  # the collector's SerialEnv builds the S train envs itself
        eval_envs.append(eval_env)
        algos.append(spec.build(c, obs_dim, action_spec, h, device))
        if algos[-1].learn is not None or algos[-1].update is not None:
            raise ConfigError(f"env.num_seeds={S} is not allowed for algo={cfg.algo!r}: stacked seeds train "
                              "off-policy algorithms with the standard update (use env.num_seeds=1)")
    buffers = [make_replay_buffer(c, device) for c in cfgs]
    trackers = [EpisodeTracker() for _ in cfgs]
    states = [RunState(**restore_checkpoint(ckpt, a.loss, a.optimizers, rb, ep)) if ckpt else RunState()
              for ckpt, a, rb, ep in zip(ckpts, algos, buffers, trackers)]
    stack = StackedLosses([a.loss for a in algos])
    optimizers = stack_optimizers(stack, algos[0].optimizers)
    if ckpts[0] is not None:  # the seeds' restored optimiser moments into the stacked optimisers
        for name, opt in optimizers.items():
            gather_optimizer_state(opt, [a.optimizers[name] for a in algos])
    update = StackedUpdate(stack, optimizers, algos[0].target_updater)
    records = [RunRecord(c, d, ckpt, st.frames) for c, d, ckpt, st in zip(cfgs, run_dirs, ckpts, states)]
    frames0 = states[0].frames
    from torchrl.envs import SerialEnv

    envs = SerialEnv(S, [functools.partial(make_env, task.name, seed=c.env.seed, max_episode_steps=max_steps)
                         for c in cfgs])
    batched = cfg.copy()  # the collector counts frames over all S envs
    batched.collector.frames_per_batch = cfg.collector.frames_per_batch * S
    batched.collector.total_frames = cfg.collector.total_frames * S
    batched.collector.init_random_frames = cfg.collector.init_random_frames * S
    collector = make_collector(batched, envs, StackedPolicy(stack, algos[0].policy), device, frames0 * S,
                               trust_policy=True)  # the stacked policy holds no parameters of its own
    guard, guard_from = NonFiniteGuard(), states[0].updates + 1
    schedule = UpdateSchedule.from_config(cfg, max_steps, states[0].epoch_updates)
    every = lambda n: (states[0].frames // n + 1) * n  # noqa: E731
    next_eval, next_ckpt = every(cfg.logger.eval_iter), every(cfg.checkpoint.interval)
    windows = [Window() for _ in cfgs]
    run_start = time.time() - states[0].wall_time_s
    progress = Progress(f"{cfg.algo} {task.name} seeds {cfgs[0].env.seed}-{cfgs[-1].env.seed}", cfg.collector.total_frames,
                        expected_updates(schedule, frames0, cfg.collector.total_frames, cfg.collector.frames_per_batch,
                                         cfg.replay_buffer.size, states[0].updates) if cfg.progress_bar else None,
                        frames0, states[0].updates, enabled=cfg.progress_bar, every_s=cfg.progress_every_s,
                        bar=progress_bar_wanted())
    finished = False

    def save_all() -> None:
        stack.scatter()  # each seed's own modules and optimisers now hold its trained values
        for name, opt in optimizers.items():
            scatter_optimizer_state(opt, [a.optimizers[name] for a in algos])
        for a, rb, ep, state, record in zip(algos, buffers, trackers, states, records):
            record.save(a.loss, a.optimizers, rb, ep, state, a.policy, obs_dim, action_spec)

    def stopped() -> TrainingStopped:
        progress.set_phase("saving")
        save_all()
        owed = f", {states[0].pending_updates} updates owed (run first on resume)" if states[0].pending_updates else ""
        folders = ", ".join(str(d) for d in run_dirs)
        return TrainingStopped(f"{signal.Signals(stop.signum).name}: seeds {[c.env.seed for c in cfgs]} stopped at "
                               f"{states[0].frames} frames and {states[0].updates} updates{owed}; checkpoints and "
                               f"policies saved in {folders}; the same command with resume=auto continues them (algd-compare's "
                               "does so itself)", stop.exit_code)

    try:
        for data in collector:  # [S, T]: seed s's frames in row s
            t = data.shape[-1]
            for s in range(S):
                trackers[s].update(data[s])
                buffers[s].extend(data[s].reshape(-1))
                states[s].frames += t
                windows[s].frames += t
            progress.add_frames(t)
            progress.set_phase("updating")
            t0 = time.time()
            n = schedule.updates(states[0].frames - t, t, len(buffers[0]))  # every seed has seen the same frames
            for state in states:
                state.epoch_updates = schedule.epoch_updates
            made = 0
            if n:
                with float32_matmul_precision(cfg.system.float32_matmul_precision), update_autocast(device, cfg.system.autocast):
                    for i in range(n):
                        if stop is not None and stop.requested:  # the rest is owed, run first on resume
                            for state in states:
                                state.pending_updates = n - i
                            break
                        loss_td = update(torch.stack([rb.sample() for rb in buffers]), guard=guard)
                        progress.add_update()
                        made = i + 1
            if guard.tripped():  # the guard watches the stack: it cannot tell which seed, so all stop
                err = records[0].diverged(guard, guard_from, states[0].frames)
                raise type(err)(f"seeds {[c.env.seed for c in cfgs]}, trained as one, all stopped: {err} "
                                f"(each seed's folder holds its own checkpoint of the same frames)")
            if made:
                dt = time.time() - t0
                last = {k: v.tolist() for k, v in loss_td.items() if v.dim() == 1}
                for s, (state, window) in enumerate(zip(states, windows)):
                    window.updates += made
                    state.updates += made
                    window.update_s += dt / S  # each seed's share of the stacked update's time
                    state.last_losses = {k: v[s] for k, v in last.items()}
            wall = time.time() - run_start
            for state in states:
                state.wall_time_s = wall
            done = states[0].frames >= cfg.collector.total_frames
            evaluate_now, save_now = states[0].frames >= next_eval or done, states[0].frames >= next_ckpt or done
            if stop is not None and stop.requested:  # the evaluation due here runs on resume, after the owed updates
                for state in states:
                    state.eval_due = evaluate_now
                raise stopped()
            if evaluate_now or save_now:
                stack.scatter()  # each seed's own modules now hold its trained values
            if evaluate_now:
                progress.set_phase("evaluating")
                next_eval = every(cfg.logger.eval_iter)
                for s, (a, record) in enumerate(zip(algos, records)):
                    eval_row, eval_episodes = record.evaluate(eval_envs[s], a.policy, task, max_steps, h, states[s].frames)
                    row = record.write_evaluation(states[s], eval_row, eval_episodes, trackers[s],
                                                  float(a.loss.dual.value), windows[s])
                    windows[s] = Window()
                progress.evaluated(row["eval_return"], row["eval_cost"], row["lambda"])
            if save_now:
                progress.set_phase("saving")
                next_ckpt = every(cfg.checkpoint.interval)
                save_all()
            if stop is not None and stop.requested:  # a signal during the evaluation or the checkpoints
                raise stopped()
            progress.set_phase("collecting")
        finished = True
    finally:
        progress.close(finished)
        collector.shutdown()
        for env in eval_envs:
            env.close()
    return [asdict(state) for state in states]
