"""The training loop every algorithm shares (one seed; :mod:`.seeds` is S stacked seeds).

:func:`train_one` builds what the config names — envs, the algorithm (through the registry),
TorchRL ``Collector``, replay buffer — then collects, learns, evaluates and checkpoints
until ``collector.total_frames``.  Off-policy algorithms store every batch in the replay
buffer and do the updates :class:`~algd_components.training.schedule.UpdateSchedule` gives each
batch; on-policy ones set ``Algorithm.learn``.
"""
from __future__ import annotations

import functools
import signal
import time
from dataclasses import asdict
from pathlib import Path

import torch
from omegaconf import DictConfig

from .. import algorithms
from ..envs import make_env
from ..precision import float32_matmul_precision, update_autocast
from ..updates import NonFiniteGuard, update_step
from .checkpoints import POLICY_FILE, resolve_checkpoint, restore_checkpoint
from .factories import make_collector, make_envs, make_replay_buffer, train_env_factory
from .interrupt import stop_on_signals
from .metrics import EpisodeTracker, record_video
from .process import progress_bar_wanted, setup_process
from .progress import Progress, expected_updates
from .record import RunRecord, RunState, Window, run_cost_limit
from .resume import clean_run_dir, owes_work, resolve_run
from .run_lock import run_lock
from .schedule import UpdateSchedule

__all__ = ["TrainingStopped", "train_one", "startup_line", "end_line", "schedule_text"]


def schedule_text(cfg: DictConfig) -> str:
    """The update schedule in words (``training/schedule.py``)."""
    c, o = cfg.collector, cfg.optim
    if o.get("update_cap", 0):
        return (f"released schedule: {round(o.utd_ratio)} updates after every env step (cap {o.update_cap:g} x steps "
                f"in the first epoch), after {c.init_random_frames} warm-up frames")
    every = "every env step" if c.frames_per_batch == 1 else f"every {c.frames_per_batch} frames"
    return f"{o.utd_ratio:g} updates per frame, run after {every}"


def startup_line(cfg: DictConfig, run_dir: Path, task: str, device, state_frames: int = 0) -> str:
    """One line saying where the run goes and what it is: folder, algorithm (and CAL's
    per-task preset), task, update schedule, device and threads."""
    algo = cfg.algo + (f" (cal_task={cfg.sac.cal_task})" if cfg.get("sac", {}).get("cal_task") else "")
    start = f"resuming at {state_frames} frames" if state_frames else "new run"
    return (f"{algo} on {task}, {start} in {run_dir}: {'on-policy' if cfg.get('ppo') else schedule_text(cfg)}; "
            f"{device}, {torch.get_num_threads()} threads")


def end_line(cfg: DictConfig, run_dir: Path, task, state, row: dict, limit: float) -> str:
    """One line when a run ends: its final evaluation (the task's cost measure against the limit
    it was judged by) and where its files are."""
    measure = "discounted cost" if task.limit_kind == "discounted" else "cost"
    cost = row.get("eval_discounted_cost" if task.limit_kind == "discounted" else "eval_cost") if row else None
    evaluation = (f"final evaluation: return {row['eval_return']:.1f}, {measure} {cost:.1f} (limit {limit:g}), "
                  f"λ {row['lambda']:.3g}; " if row else "")
    return (f"done: {cfg.algo} on {task.name}, {state.frames} frames and {state.updates} updates in "
            f"{state.wall_time_s / 60:.1f} min; {evaluation}metrics {run_dir / 'metrics.csv'}, policy "
            f"{run_dir / POLICY_FILE}; figure: python -m algd_components.plot {run_dir}")


def train_one(cfg: DictConfig, run_dir: str | Path) -> dict:
    """One run (one seed) of ``cfg`` into ``run_dir``: :func:`~algd_components.training.train`
    for ``env.num_seeds=1``.  The run folder is locked for the run's lifetime (:mod:`.run_lock`:
    a second process gets a one-line error).  SIGINT / SIGTERM (:mod:`.interrupt`) stop at the
    next update: the batch's remaining updates are owed (run first on resume), a checkpoint and
    ``policy.pt`` are written, and :class:`TrainingStopped` is raised (the CLI prints one line
    and exits 130 / 143)."""
    explicit = cfg.resume not in (None, "auto")
    with run_lock(resolve_checkpoint(cfg.resume).parent if explicit else run_dir), stop_on_signals() as stop:
        return _train(cfg, run_dir, stop)


class TrainingStopped(Exception):
    """A signal stopped the run at an update boundary, after saving; ``exit_code`` is ``128 + signal``."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self):  # crosses process boundaries (algd-compare --jobs workers) whole
        return type(self), (str(self), self.exit_code)


def _train(cfg: DictConfig, run_dir, stop) -> dict:
    cfg, ckpt, run_dir = resolve_run(cfg, run_dir)
    if ckpt is not None and ckpt["state"]["frames"] >= cfg.collector.total_frames and not owes_work(ckpt["state"]):
        return dict(ckpt["state"])  # resume=auto of a finished run
    spec = algorithms.get(cfg.algo)
    algorithms.validate(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    clean_run_dir(run_dir, overwrite=cfg.overwrite and ckpt is None)
    setup_process(cfg)
    device = algorithms.common.pick_device(cfg.network.device)
    torch.manual_seed(cfg.env.seed)
    train_env, eval_env, task, max_steps, h = make_envs(cfg)
    print(startup_line(cfg, run_dir, task.name, device, state_frames=ckpt["state"]["frames"] if ckpt else 0), flush=True)
    obs_dim, action_spec = train_env.observation_spec["observation"].shape[-1], train_env.action_spec
    algo = spec.build(cfg, obs_dim, action_spec, h, device)
    loss, optimizers = algo.loss, algo.optimizers
    replay_buffer = make_replay_buffer(cfg, device)
    episodes = EpisodeTracker()
    state = RunState(**restore_checkpoint(ckpt, loss, optimizers, replay_buffer, episodes)) if ckpt else RunState()
    record = RunRecord(cfg, run_dir, ckpt, state.frames)
    if ckpt is not None:
        record.sync_policy(algo.policy, obs_dim, action_spec, state.frames)
    if state.frames >= cfg.collector.total_frames:  # a stopped run's owed work is all that is left
        collector = ()
    elif cfg.collector.async_collection:
        train_env.close()  # the worker builds its own
        collector = make_collector(cfg, None, algo.policy, device, state.frames, train_env_factory(cfg, task.name, max_steps))
    else:
        collector = make_collector(cfg, train_env, algo.policy, device, state.frames)
    episode_limit = run_cost_limit(cfg, task, max_steps)
    evaluations = state.frames // cfg.logger.eval_iter  # for logger.video_every
    one_update = algo.update or functools.partial(update_step, loss, optimizers, algo.target_updater)
    guard, guard_from = NonFiniteGuard(), state.updates + 1  # the run's number of the guard's first update

    schedule = UpdateSchedule.from_config(cfg, max_steps, state.epoch_updates)

    def run_updates(n: int, **kwargs):
        """``n`` updates from the replay buffer; a stop request abandons the rest, which are owed
        (``state.pending_updates``: a resume runs them before collecting)."""
        loss_td = None
        for i in range(n):
            if stop.requested:
                state.pending_updates = n - i
                return loss_td, i
            loss_td = one_update(replay_buffer.sample(), **kwargs)
            progress.add_update()
        state.pending_updates = 0
        return loss_td, n

    def learn_off_policy(data, **kwargs):
        """Store the batch, then the updates the schedule gives it (``training/schedule.py``)."""
        replay_buffer.extend(data.reshape(-1))
        n = schedule.updates(state.frames - data.numel(), data.numel(), len(replay_buffer))
        state.epoch_updates = schedule.epoch_updates
        return run_updates(n, **kwargs)

    learn = algo.learn or learn_off_policy
    every = lambda n: (state.frames // n + 1) * n  # noqa: E731  next multiple of n
    next_eval, next_ckpt = every(cfg.logger.eval_iter), every(cfg.checkpoint.interval)
    window = Window()
    run_start = time.time() - state.wall_time_s
    off_policy = algo.learn is None
    progress = Progress(
        f"{cfg.algo} {task.name} seed{cfg.env.seed}", cfg.collector.total_frames,
        expected_updates(schedule, state.frames, cfg.collector.total_frames, cfg.collector.frames_per_batch,
                         cfg.replay_buffer.size, state.updates + state.pending_updates)
        if off_policy and cfg.progress_bar else None,
        state.frames, state.updates, enabled=cfg.progress_bar, every_s=cfg.progress_every_s, bar=progress_bar_wanted())

    def account(loss_td, n: int, t0: float) -> None:
        if guard.tripped():  # one host read per batch; nothing non-finite is evaluated or saved
            raise record.diverged(guard, guard_from, state.frames)
        if n:
            window.updates += n
            state.updates += n
            window.update_s += time.time() - t0
            state.last_losses = {k: v.item() for k, v in loss_td.items() if v.numel() == 1}
        state.wall_time_s = time.time() - run_start
        progress.updates = state.updates

    def evaluate_and_save(due_eval: bool, due_ckpt: bool) -> None:
        nonlocal evaluations, window
        if due_eval:
            progress.set_phase("evaluating")
            eval_row, eval_episodes = record.evaluate(eval_env, algo.policy, task, max_steps, h, state.frames)
            evaluations += 1
            if cfg.logger.video_every and evaluations % cfg.logger.video_every == 0:
                record_video(functools.partial(make_env, task.name, seed=record.eval_seed(state.frames),
                                               max_episode_steps=max_steps, render_mode="rgb_array"),
                             algo.policy, max_steps, run_dir / "videos" / f"eval_{state.frames}.mp4")
            row = record.write_evaluation(state, eval_row, eval_episodes, episodes, float(loss.dual.value), window)
            progress.evaluated(row["eval_return"], row["eval_cost"], row["lambda"])
            last_row.update(row)
            window = Window()
        if due_ckpt:
            progress.set_phase("saving")
            record.save(loss, optimizers, replay_buffer, episodes, state, algo.policy, obs_dim, action_spec)

    def stopped() -> TrainingStopped:
        progress.set_phase("saving")
        record.save(loss, optimizers, replay_buffer, episodes, state, algo.policy, obs_dim, action_spec)
        name = signal.Signals(stop.signum).name
        owed = f", {state.pending_updates} updates owed (run first on resume)" if state.pending_updates else ""
        return TrainingStopped(f"{name}: stopped at {state.frames} frames and {state.updates} updates{owed}; checkpoint "
                               f"and policy saved in {run_dir}; continue with: algd-train resume={run_dir}", stop.exit_code)

    kwargs = dict(episode_cost=episodes.mean_cost, episode_cost_limit=episode_limit, guard=guard)
    last_row, finished = {}, False
    try:
        if state.pending_updates or state.eval_due:  # what a stopped run owed, before any new frame
            t0 = time.time()
            progress.set_phase("updating")
            with float32_matmul_precision(cfg.system.float32_matmul_precision), update_autocast(device, cfg.system.autocast):
                loss_td, n = run_updates(state.pending_updates, **kwargs)
            account(loss_td, n, t0)
            if stop.requested:
                raise stopped()
            done = state.frames >= cfg.collector.total_frames
            evaluate_and_save(state.eval_due or done, done)
            state.eval_due = False
        for data in collector:
            episodes.update(data)
            state.frames += data.numel()
            window.frames += data.numel()
            progress.add_frames(data.numel())
            progress.set_phase("updating")
            t0 = time.time()
            kwargs["episode_cost"] = episodes.mean_cost
            with float32_matmul_precision(cfg.system.float32_matmul_precision), update_autocast(device, cfg.system.autocast):
                loss_td, n = learn(data, **kwargs)
            account(loss_td, n, t0)
            collector.update_policy_weights_()
            done = state.frames >= cfg.collector.total_frames
            due_eval, due_ckpt = state.frames >= next_eval or done, state.frames >= next_ckpt or done
            if due_eval:
                next_eval = every(cfg.logger.eval_iter)
            if due_ckpt:
                next_ckpt = every(cfg.checkpoint.interval)
            if stop.requested:  # the evaluation due here runs on resume, after the owed updates
                state.eval_due = due_eval
                raise stopped()
            evaluate_and_save(due_eval, due_ckpt)
            if stop.requested:  # a signal during the evaluation or the checkpoint
                raise stopped()
            progress.set_phase("collecting")
        finished = True
    finally:  # worker processes of a ParallelEnv must not outlive an error
        progress.close(finished)
        if collector != ():
            collector.shutdown()
        eval_env.close()
    print(end_line(cfg, run_dir, task, state, last_row, episode_limit), flush=True)
    return asdict(state)
