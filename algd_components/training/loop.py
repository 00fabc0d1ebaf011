"""The training loop every algorithm shares, for one seed or S stacked seeds.

:func:`train_loop` builds what the config names — envs, the algorithm (through the registry),
TorchRL ``Collector``, replay buffer — then collects, learns, evaluates and checkpoints until
``collector.total_frames``, top to bottom as TorchRL's ``sota-implementations/sac/sac.py``.
Off-policy algorithms store every batch in the replay buffer and do the updates
:class:`~algd_components.training.schedule.UpdateSchedule` gives each batch; on-policy ones set
``Algorithm.learn``.  S stacked seeds (``env.num_seeds``, :mod:`.seeds` decides which folders
start or resume together) are the same loop with a seed dimension: one collector steps the S
envs (a ``SerialEnv``), and the one update function,
:func:`~algd_components.updates.update_step`, trains all S through
:class:`~algd_components.stacked.VmappedLoss` (one ``vmap`` over the seeds).  A single seed keeps
its numbers: fixed-seed ``metrics.csv`` and ``episodes.csv`` are identical to those of the
former separate loops (``studies/fixed_seed_check.py``).
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
from ..config import ConfigError
from ..envs import make_env
from ..precision import float32_matmul_precision, update_autocast
from ..stacked import (StackedLosses, StackedPolicy, StackedSoftUpdate, VmappedLoss, gather_optimizer_state,
                       scatter_optimizer_state, stack_optimizers)
from ..updates import NonFiniteGuard, update_step
from .checkpoints import POLICY_FILE, resolve_checkpoint, restore_checkpoint, set_rng_state
from .env_replay import ActionLog, restore_env
from .factories import make_collector, make_envs, make_replay_buffer, train_env_factory
from .interrupt import StopRequest, stop_on_signals
from .metrics import EpisodeTracker, record_video
from .process import progress_bar_wanted, setup_process
from .progress import Progress, expected_updates
from .record import RunRecord, RunState, Window, run_cost_limit
from .resume import clean_run_dir, owes_work, resolve_run
from .run_lock import run_lock
from .schedule import UpdateSchedule

__all__ = ["TrainingStopped", "train_one", "train_loop", "startup_line", "end_line", "schedule_text"]


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


def train_one(cfg: DictConfig, run_dir: str | Path, explicit: tuple[str, ...] = ()) -> dict:
    """One run (one seed) of ``cfg`` into ``run_dir``: :func:`~algd_components.training.train`
    for ``env.num_seeds=1``.  The run folder is locked for the run's lifetime (:mod:`.run_lock`:
    a second process gets a one-line error).  SIGINT / SIGTERM (:mod:`.interrupt`) stop at the
    next update: the batch's remaining updates are owed (run first on resume), a checkpoint and
    ``policy.pt`` are written, and :class:`TrainingStopped` is raised (the CLI prints one line
    and exits 130 / 143)."""
    named_path = cfg.resume not in (None, "auto")
    with run_lock(resolve_checkpoint(cfg.resume).parent if named_path else run_dir), stop_on_signals() as stop:
        cfg, ckpt, run_dir = resolve_run(cfg, run_dir, explicit)
        if ckpt is not None and ckpt["state"]["frames"] >= cfg.collector.total_frames and not owes_work(ckpt["state"]):
            return dict(ckpt["state"])  # resume=auto of a finished run
        return train_loop([cfg], [ckpt], [run_dir], stop)[0]


class TrainingStopped(Exception):
    """A signal stopped the run at an update boundary, after saving; ``exit_code`` is ``128 + signal``."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self):  # crosses process boundaries (algd-compare --jobs workers) whole
        return type(self), (str(self), self.exit_code)


def train_loop(cfgs: list[DictConfig], ckpts: list, run_dirs: list[Path], stop=None) -> list[dict]:
    """Train seed ``cfgs[s].env.seed`` into ``run_dirs[s]`` from checkpoint ``ckpts[s]`` (or
    ``None``), all S together; returns each seed's final counters.  Resolved configs and locked
    folders come from :func:`train_one` (S = 1) or :func:`~.seeds.train_seeds` (S > 1, checkpoints
    at one frame count and owing no work); ``stop``: :func:`~.interrupt.stop_on_signals`'s request
    (``None``: nothing stops the run but its end)."""
    cfg, S = cfgs[0], len(cfgs)
    stop = stop if stop is not None else StopRequest()
    spec = algorithms.get(cfg.algo)
    for c in cfgs:  # every seed's config checked before any folder is touched
        algorithms.validate(c)
    for c, ckpt, d in zip(cfgs, ckpts, run_dirs):
        d.mkdir(parents=True, exist_ok=True)
        clean_run_dir(d, overwrite=c.overwrite and ckpt is None)
    setup_process(cfg)
    device = algorithms.common.pick_device(cfg.network.device)

    # each seed's envs and modules, drawn as its own run draws them (the task and its sizes are the same for all)
    algos, eval_envs, train_env = [], [], None
    try:
        for c, ckpt, d in zip(cfgs, ckpts, run_dirs):
            torch.manual_seed(c.env.seed)
            train_env, eval_env, task, max_steps, h = make_envs(c)
            eval_envs.append(eval_env)
            obs_dim, action_spec = train_env.observation_spec["observation"].shape[-1], train_env.action_spec
            algos.append(spec.build(c, obs_dim, action_spec, h, device))
            if S > 1:
                train_env.close()  # the collector's SerialEnv builds the S train envs itself
                if algos[-1].learn is not None or algos[-1].update is not None:
                    raise ConfigError(f"env.num_seeds={S} is not allowed for algo={cfg.algo!r}: stacked seeds train "
                                      "off-policy algorithms with the standard update (use env.num_seeds=1)")
            print(startup_line(c, d, task.name, device, state_frames=ckpt["state"]["frames"] if ckpt else 0), flush=True)
    except BaseException:  # no env worker outlives a failed setup
        for env in [*eval_envs, *([train_env] if S == 1 and train_env is not None else [])]:
            env.close()
        raise
    buffers = [make_replay_buffer(c, device) for c in cfgs]
    trackers = [EpisodeTracker() for _ in cfgs]
    states = [RunState(**restore_checkpoint(ckpt, a.loss, a.optimizers, rb, ep)) if ckpt else RunState()
              for ckpt, a, rb, ep in zip(ckpts, algos, buffers, trackers)]
    action_logs = [ActionLog() for _ in cfgs]  # the train env's actions, replayed on resume (training/env_replay.py)
    for log, ckpt in zip(action_logs, ckpts):
        if ckpt is not None:
            log.load_state_dict(ckpt.get("env_actions"))
    records = [RunRecord(c, d, ckpt, st.frames) for c, d, ckpt, st in zip(cfgs, run_dirs, ckpts, states)]
    for a, ckpt, record, st in zip(algos, ckpts, records, states):
        if ckpt is not None:
            record.sync_policy(a.policy, obs_dim, action_spec, st.frames)
    state, algo = states[0], algos[0]  # the counters every seed shares (frames, updates, the schedule's)

    # the update: one seed's loss, or the S seeds' losses as one (stacked.VmappedLoss)
    if S == 1:
        loss, optimizers, target_updater, sample = algo.loss, algo.optimizers, algo.target_updater, buffers[0].sample
        one_update = algo.update or functools.partial(update_step, loss, optimizers, target_updater)
    else:
        stack = StackedLosses([a.loss for a in algos])
        optimizers = stack_optimizers(stack, algo.optimizers)
        if ckpts[0] is not None:  # the seeds' restored optimiser moments into the stacked optimisers
            for name, opt in optimizers.items():
                gather_optimizer_state(opt, [a.optimizers[name] for a in algos])
        target_updater = StackedSoftUpdate(stack, algo.target_updater) if algo.target_updater is not None else None
        one_update = functools.partial(update_step, VmappedLoss(stack), optimizers, target_updater)
        sample = lambda: torch.stack([rb.sample() for rb in buffers])  # noqa: E731  [S, B]
    if ckpts[0] is not None and hasattr(target_updater, "calls"):  # its interval counts from the run's first update
        target_updater.calls = state.updates
    if state.frames >= cfg.collector.total_frames:  # a stopped run's owed work is all that is left
        collector = ()
    elif S > 1:
        from torchrl.envs import SerialEnv

        envs = SerialEnv(S, [functools.partial(make_env, task.name, seed=c.env.seed, max_episode_steps=max_steps)
                             for c in cfgs])
        batched = cfg.copy()  # the collector counts frames over all S envs
        for key in ("frames_per_batch", "total_frames", "init_random_frames"):
            batched.collector[key] = cfg.collector[key] * S
        collector = make_collector(batched, envs, StackedPolicy(stack, algo.policy), device, state.frames * S,
                                   trust_policy=True)  # the stacked policy holds no parameters of its own
    elif cfg.collector.async_collection:
        train_env.close()  # the worker builds its own
        collector = make_collector(cfg, None, algo.policy, device, state.frames, train_env_factory(cfg, task.name, max_steps))
    else:
        collector = make_collector(cfg, train_env, algo.policy, device, state.frames)
    log_actions = cfg.checkpoint.env_actions and not cfg.collector.async_collection  # (training/env_replay.py)
    no_replay = (None if log_actions else "checkpoint.env_actions=false" if not cfg.checkpoint.env_actions
                 else "collector.async_collection=true: the env lives in the collector's worker")
    episode_limit = run_cost_limit(cfg, task, max_steps)
    evaluations = state.frames // cfg.logger.eval_iter  # for logger.video_every
    guard, guard_from = NonFiniteGuard(), state.updates + 1  # the run's number of the guard's first update
    schedule = UpdateSchedule.from_config(cfg, max_steps, state.epoch_updates)

    def run_updates(n: int, **kwargs):
        """``n`` updates from the replay buffer(s); a stop request abandons the rest, which are
        owed (``pending_updates``: a resume runs them before collecting)."""
        loss_td = None
        for i in range(n):
            if stop.requested:
                for st in states:
                    st.pending_updates = n - i
                return loss_td, i
            loss_td = one_update(sample(), **kwargs)
            progress.add_update()
        for st in states:
            st.pending_updates = 0
        return loss_td, n

    def learn_off_policy(rows, **kwargs):
        """Store the batch, then the updates the schedule gives it (``training/schedule.py``)."""
        for rb, row in zip(buffers, rows):
            rb.extend(row.reshape(-1))
        t = rows[0].numel()
        n = schedule.updates(state.frames - t, t, len(buffers[0]))  # every seed has seen the same frames
        for st in states:
            st.epoch_updates = schedule.epoch_updates
        return run_updates(n, **kwargs)

    learn = (lambda rows, **kwargs: algo.learn(rows[0], **kwargs)) if algo.learn else learn_off_policy
    every = lambda n: (state.frames // n + 1) * n  # noqa: E731  next multiple of n
    next_eval, next_ckpt = every(cfg.logger.eval_iter), every(cfg.checkpoint.interval)
    windows = [Window() for _ in cfgs]
    run_start = time.time() - state.wall_time_s
    seeds = [c.env.seed for c in cfgs]
    progress = Progress(
        f"{cfg.algo} {task.name} " + (f"seed{seeds[0]}" if S == 1 else f"seeds {seeds[0]}-{seeds[-1]}"),
        cfg.collector.total_frames,
        expected_updates(schedule, state.frames, cfg.collector.total_frames, cfg.collector.frames_per_batch,
                         cfg.replay_buffer.size, state.updates + state.pending_updates)
        if algo.learn is None and cfg.progress_bar else None,
        state.frames, state.updates, enabled=cfg.progress_bar, every_s=cfg.progress_every_s, bar=progress_bar_wanted())

    def account(loss_td, n: int, t0: float) -> None:
        if guard.tripped():  # one host read per batch; nothing non-finite is evaluated or saved
            err = records[0].diverged(guard, guard_from, state.frames)
            if S > 1:  # the guard watches the stack: it cannot tell which seed, so all stop
                err = type(err)(f"seeds {seeds}, trained as one, all stopped: {err} (each seed's folder holds "
                                "its own checkpoint of the same frames)")
            raise err
        now = time.time()
        for s, (st, window) in enumerate(zip(states, windows)):
            if n:
                window.updates += n
                st.updates += n
                window.update_s += (now - t0) / S  # each seed's share of a stacked update's time
                st.last_losses = ({k: v.item() for k, v in loss_td.items() if v.numel() == 1} if S == 1
                                  else {k: v[s].item() for k, v in loss_td.items() if v.dim() == 1})
            st.wall_time_s = now - run_start
        progress.updates = state.updates

    def evaluate_and_save(due_eval: bool, due_ckpt: bool) -> None:
        nonlocal evaluations
        if S > 1 and (due_eval or due_ckpt):
            stack.scatter()  # each stacked seed's own modules take its trained values, to act alone and be saved
        if due_eval:
            progress.set_phase("evaluating")
            evaluations += 1
            for s, (a, record) in enumerate(zip(algos, records)):
                eval_row, eval_episodes = record.evaluate(eval_envs[s], a.policy, task, max_steps, h, states[s].frames)
                if cfg.logger.video_every and evaluations % cfg.logger.video_every == 0:
                    record_video(functools.partial(make_env, task.name, seed=record.eval_seed(states[s].frames),
                                                   max_episode_steps=max_steps, render_mode="rgb_array"),
                                 a.policy, max_steps, run_dirs[s] / "videos" / f"eval_{states[s].frames}.mp4")
                last_rows[s] = record.write_evaluation(states[s], eval_row, eval_episodes, trackers[s],
                                                       float(a.loss.dual.value), windows[s])
                windows[s] = Window()
            progress.evaluated(last_rows[-1]["eval_return"], last_rows[-1]["eval_cost"], last_rows[-1]["lambda"])
        if due_ckpt:
            progress.set_phase("saving")
            save_all()

    def save_all() -> None:
        if S > 1:  # each stacked seed's slice of the optimiser state (Adam's moments) into its own optimisers
            for name, opt in optimizers.items():
                scatter_optimizer_state(opt, [a.optimizers[name] for a in algos])
        for a, rb, ep, st, record, log in zip(algos, buffers, trackers, states, records, action_logs):
            record.save(a.loss, a.optimizers, rb, ep, st, a.policy, obs_dim, action_spec,
                        log.state_dict() if log_actions else None)

    def stopped() -> TrainingStopped:
        progress.set_phase("saving")
        if S > 1:
            stack.scatter()
        save_all()
        name = signal.Signals(stop.signum).name
        owed = f", {state.pending_updates} updates owed (run first on resume)" if state.pending_updates else ""
        if S == 1:
            return TrainingStopped(f"{name}: stopped at {state.frames} frames and {state.updates} updates{owed}; "
                                   f"checkpoint and policy saved in {run_dirs[0]}; continue with: algd-train "
                                   f"resume={run_dirs[0]}", stop.exit_code)
        return TrainingStopped(f"{name}: seeds {seeds} stopped at {state.frames} frames and {state.updates} updates"
                               f"{owed}; checkpoints and policies saved in {', '.join(map(str, run_dirs))}; the same "
                               "command with resume=auto continues them (algd-compare's does so itself)", stop.exit_code)

    kwargs = dict(episode_cost=trackers[0].mean_cost, episode_cost_limit=episode_limit, guard=guard)
    last_rows, finished = [{} for _ in cfgs], False
    try:
        if ckpts[0] is not None:
            progress.set_phase("replaying the env")  # the train env where the run stopped: its actions replayed
            if collector != () and not restore_env(collector, action_logs, state.frames, skip=no_replay, stop=stop,
                                                   say=progress.write):
                how = (f"continue with: algd-train resume={run_dirs[0]}" if S == 1
                       else "the same command with resume=auto continues them")
                raise TrainingStopped(f"{signal.Signals(stop.signum).name} during the env replay: stopped before any new "
                                      f"frame, the checkpoint at {state.frames} frames unchanged; {how}", stop.exit_code)
            set_rng_state(ckpts[0]["rng"])  # as saved: building the collector and replaying drew from them
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
            for st in states:
                st.eval_due = False
        for data in collector:  # [S, T] for stacked seeds: seed s's frames in row s
            rows = [data] if S == 1 else data.unbind(0)
            for st, window, tracker, log, row in zip(states, windows, trackers, action_logs, rows):
                tracker.update(row)
                if log_actions:
                    log.append(row)
                st.frames += row.numel()
                window.frames += row.numel()
            progress.add_frames(rows[0].numel())
            progress.set_phase("updating")
            t0 = time.time()
            kwargs["episode_cost"] = trackers[0].mean_cost
            with float32_matmul_precision(cfg.system.float32_matmul_precision), update_autocast(device, cfg.system.autocast):
                loss_td, n = learn(rows, **kwargs)
            account(loss_td, n, t0)
            if S == 1:
                collector.update_policy_weights_()
            done = state.frames >= cfg.collector.total_frames
            due_eval, due_ckpt = state.frames >= next_eval or done, state.frames >= next_ckpt or done
            if due_eval:
                next_eval = every(cfg.logger.eval_iter)
            if due_ckpt:
                next_ckpt = every(cfg.checkpoint.interval)
            if stop.requested:  # the evaluation due here runs on resume, after the owed updates
                for st in states:
                    st.eval_due = due_eval
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
        for env in eval_envs:
            env.close()
    for c, d, st, row in zip(cfgs, run_dirs, states, last_rows):
        print(end_line(c, d, task, st, row, episode_limit), flush=True)
    return [asdict(st) for st in states]
