"""The training loop every algorithm shares.

:func:`train` builds what the config names — envs, the algorithm (through the registry),
TorchRL ``Collector``, replay buffer — then collects, learns, evaluates and checkpoints
until ``collector.total_frames``.  Off-policy algorithms store every batch in the replay
buffer and do the updates :class:`~algd_components.training.schedule.UpdateSchedule` gives each
batch; on-policy ones set ``Algorithm.learn``.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import tqdm
from omegaconf import DictConfig, OmegaConf

from .. import algorithms
from ..allocator import retain_freed_memory
from ..config import ConfigError, compose_config, flatten, require
from ..precision import float32_matmul_precision, update_autocast
from .checkpoints import (CHECKPOINT_FILE, POLICY_FILE, atomic_save_text, read_checkpoint, resolve_checkpoint, restore_checkpoint, save_checkpoint,
                          save_policy)
from ..envs import make_env
from .factories import make_collector, make_envs, make_replay_buffer, train_env_factory
from .interrupt import stop_on_signals
from .run_lock import run_lock
from .schedule import UpdateSchedule
from .metrics import (EPISODE_COLUMNS, LOSS_COLUMNS, EpisodeTracker, MetricsCSV, evaluate, log_hparams, log_scalars,
                      make_logger, record_video)
from ..updates import NonFiniteError, NonFiniteGuard, update_step

__all__ = ["RunState", "TrainingStopped", "train", "resolve_run"]


@dataclass
class RunState:
    """The counters a checkpoint carries."""

    frames: int = 0
    updates: int = 0
    wall_time_s: float = 0.0
    last_losses: dict = field(default_factory=dict)  # the last update's scalar outputs
    epoch_updates: int = 0  # the released schedule's updates in the current epoch (training/schedule.py)
    pending_updates: int = 0  # updates a stopped run owed its last batch (run first on resume)
    eval_due: bool = False  # the evaluation due at the stop, run on resume after the owed updates


@dataclass
class Window:
    """Throughput since the last evaluation row."""

    start: float = field(default_factory=time.time)
    frames: int = 0
    updates: int = 0
    update_s: float = 0.0

    def rates(self) -> dict:
        elapsed = time.time() - self.start
        return {
            "updates_per_s": self.updates / self.update_s if self.update_s else None,
            "frames_per_s": self.frames / elapsed,
            "update_time_fraction": self.update_s / elapsed,
        }


PARALLEL_JOBS_ENV = "ALGD_PARALLEL_JOBS"  # set by algd-compare --jobs for its workers


def auto_num_threads() -> int:
    """Torch threads when ``system.num_threads=0``: the machine's cores divided by the jobs
    sharing it — ``algd-compare --jobs N`` (``ALGD_PARALLEL_JOBS``), or a ``-m`` sweep on the
    joblib launcher (its ``n_jobs``) or the submitit_local one (its ``cpus_per_task``, else
    the sweep's jobs) — else 0, torch's default.  Why: jobs whose threads outnumber the cores
    slow each other's updates far more than they gain (measured in docs/scaling.md)."""
    cores = os.cpu_count() or 1
    jobs = int(os.environ.get(PARALLEL_JOBS_ENV, "0") or 0)
    if not jobs:
        try:
            from hydra.core.hydra_config import HydraConfig

            hc = HydraConfig.get()
            launcher = hc.launcher.get("_target_", "")
            if "JoblibLauncher" in launcher:
                n = hc.launcher.get("n_jobs", -1)
                jobs = cores if n in (None, -1) or n <= 0 else n
            elif "LocalLauncher" in launcher and "submitit" in launcher:
                if hc.launcher.get("cpus_per_task"):
                    return int(hc.launcher.cpus_per_task)
                jobs = cores
        except (ValueError, AttributeError, ImportError):  # not inside a Hydra job
            return 0
    return max(1, cores // jobs) if jobs else 0


def _load_checkpoint(resume: str, lazy: bool = False) -> tuple[dict, Path]:
    """The checkpoint ``resume`` names, checked to be one of ours.  ``lazy``: memory-map its
    tensors (a check that reads only the config and counters need not read the replay buffer)."""
    path = resolve_checkpoint(resume)
    try:
        return read_checkpoint(path, lazy), path
    except ConfigError as err:
        raise ConfigError(f"resume={resume!r}: {err}") from None


def owes_work(state) -> bool:
    """A checkpoint's counters say a signal stopped its run inside its last batch: updates or an
    evaluation are owed, and a resume runs them first (even at ``collector.total_frames``)."""
    return bool(state.get("pending_updates") or state.get("eval_due"))


RUN_FILES = (CHECKPOINT_FILE, POLICY_FILE, "metrics.csv", "episodes.csv", "config.yaml", "config_resumed.yaml")
RUN_FOLDERS = ("logs", "videos")
# what a resume may change (the rest of the config is the checkpoint's): budget, logging,
# evaluation, checkpointing, device and the process's allocator
SAFE_ON_RESUME = ("collector.total_frames", "logger.", "checkpoint.", "network.device", "progress_bar",
                  "system.retain_freed_memory", "resume", "overwrite")


def _fresh_run_dir(cfg: DictConfig, run_dir: Path) -> None:
    """A fresh run refuses a folder holding another run, unless ``overwrite=true``."""
    held = [n for n in (CHECKPOINT_FILE, "metrics.csv") if (run_dir / n).exists()]
    if held and not cfg.overwrite:
        raise ConfigError(f"{run_dir} already holds a run ({', '.join(held)}): resume it with resume={run_dir}, "
                          "choose another folder, or pass overwrite=true to replace it")


def _resume_overrides(cfg: DictConfig, saved: dict, explicit: tuple[str, ...] = ()) -> dict:
    """The values ``cfg`` sets — away from the algorithm's defaults, or under the ``explicit``
    keys (the command line's overrides, which may repeat a default) — that a resume may apply;
    one-line :class:`ConfigError` naming any other that differs from the checkpoint's."""
    defaults = flatten(OmegaConf.to_container(compose_config(cfg.algo), resolve=True))
    given = flatten(OmegaConf.to_container(cfg, resolve=True))
    saved_flat = flatten(saved)
    named = lambda k: any(k == e or k.startswith(e + ".") for e in explicit)  # noqa: E731
    changed = {k: v for k, v in given.items() if k not in defaults or defaults[k] != v or named(k)}
    refused = [k for k, v in changed.items() if not k.startswith(SAFE_ON_RESUME) and k in saved_flat and saved_flat[k] != v]
    if refused:
        shown = ", ".join(f"{k} (checkpoint: {saved_flat[k]!r}, given: {given[k]!r})" for k in sorted(refused))
        raise ConfigError(f"resume={cfg.resume!r} cannot change {shown}: a resumed run keeps its config except "
                          "collector.total_frames, logger.*, checkpoint.*, network.device, progress_bar and "
                          "system.retain_freed_memory (start a new run for other values)")
    return {k: v for k, v in changed.items() if k.startswith(SAFE_ON_RESUME)}


def resolve_run(cfg: DictConfig, run_dir, explicit: tuple[str, ...] = (),
                lazy: bool = False) -> tuple[DictConfig, dict | None, Path]:
    """``(cfg, checkpoint or None, run_dir)``.

    Fresh: ``run_dir`` must not hold another run (unless ``overwrite``).  Resume: the
    checkpoint's config — keys it lacks (added since it was written) from ``cfg``, and the
    values ``cfg`` changes among :data:`SAFE_ON_RESUME` applied; any other change is refused —
    and the checkpoint's folder.  ``explicit``: the keys the command line set (see
    :func:`_resume_overrides`); ``lazy``: memory-map the checkpoint (for a check before training).
    """
    auto = cfg.resume == "auto"
    if auto:  # this folder's own run, wherever it stopped (compare, sweeps, requeued jobs)
        held = Path(run_dir) / CHECKPOINT_FILE
        cfg = cfg.copy()
        cfg.resume, cfg.overwrite = (str(held), False) if held.is_file() else (None, True)
    if not cfg.resume:
        run_dir = Path(run_dir)
        _fresh_run_dir(cfg, run_dir)
        return cfg, None, run_dir
    ckpt, path = _load_checkpoint(cfg.resume, lazy)
    saved = ckpt["config"]
    saved_algo = saved.get("algo", cfg.algo)
    require(saved_algo == cfg.algo, "resume", cfg.resume,
            f"a checkpoint of algo={cfg.algo!r}; this one is of algo={saved_algo!r} (resume it with algd-train algo={saved_algo})")
    applied = _resume_overrides(cfg, saved, explicit)
    try:
        merged = OmegaConf.merge(cfg, {k: v for k, v in saved.items() if k != "lagrangian"})
    except Exception as err:
        raise ConfigError(f"resume={cfg.resume!r}: the checkpoint's config does not fit this version's schema "
                          f"({str(err).splitlines()[0]})") from None
    merged.lagrangian = saved.get("lagrangian", cfg.lagrangian)  # whole: its keys depend on the class it builds
    for key, value in applied.items():
        OmegaConf.update(merged, key, value, merge=False)
    merged.resume, merged.overwrite = cfg.resume, False
    frames = ckpt["state"]["frames"]
    total = merged.collector.total_frames
    owed = owes_work(ckpt["state"])
    require(isinstance(total, int) and (total > frames or (auto or owed) and total == frames), "collector.total_frames",
            total, f"an integer above the checkpoint's {frames} frames when resuming")
    return merged, ckpt, path.parent


def _clean(run_dir: Path, overwrite: bool) -> None:
    """Remove temp files a killed run left (``atomic_save``'s ``.<name>*.tmp``); with
    ``overwrite``, also the previous run's files, logs and videos."""
    prefixes = tuple(f".{n}" for n in RUN_FILES)
    for tmp in [*run_dir.glob(".*.tmp"), *run_dir.glob("logs/**/.*.tmp")]:
        if tmp.name.startswith(prefixes) or tmp.parent != run_dir:
            tmp.unlink(missing_ok=True)
    if overwrite:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        for name in RUN_FOLDERS:
            shutil.rmtree(run_dir / name, ignore_errors=True)


def setup_process(cfg: DictConfig) -> None:
    """What a training process sets before building anything: the allocator, torch's threads,
    log levels, headless rendering for videos."""
    if cfg.system.retain_freed_memory:
        retain_freed_memory()
    threads = cfg.system.num_threads or auto_num_threads()
    if threads:
        torch.set_num_threads(threads)
    logging.getLogger("torchrl").setLevel(logging.INFO if cfg.logger.torchrl_info else logging.WARNING)
    logging.getLogger("OpenGL").setLevel(logging.WARNING)  # PyOpenGL's INFO notice when videos render
    if cfg.logger.video_every:
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must precede MuJoCo's first import


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


def episode_cost_limit(cfg: DictConfig, task) -> float:
    """The episodic cost limit: ``env.cost_limit``, else the task's."""
    return cfg.env.cost_limit if cfg.env.cost_limit is not None else task.cost_limit


class RunRecord:
    """One run's folder and what the loop writes there: ``config.yaml`` (``config_resumed.yaml``
    on resume), ``metrics.csv``, ``episodes.csv``, the logger, and at each checkpoint
    ``checkpoint.pt`` and ``policy.pt``.  Shared by :func:`train` and the stacked-seeds loop,
    where each seed has its own record."""

    def __init__(self, cfg: DictConfig, run_dir: Path, ckpt: dict | None, frames: int):
        self.cfg, self.run_dir = cfg, run_dir
        atomic_save_text(OmegaConf.to_yaml(cfg, resolve=True), run_dir / ("config_resumed.yaml" if ckpt else "config.yaml"))
        resume_frames = frames if ckpt else None
        self.metrics = MetricsCSV(run_dir / "metrics.csv", resume_frames=resume_frames)
        self.episodes_csv = MetricsCSV(run_dir / "episodes.csv", EPISODE_COLUMNS, resume_frames=resume_frames)
        self.logger = make_logger(cfg.logger.backend, run_dir, cfg.logger.exp_name, resume_frames)
        if ckpt is None:
            log_hparams(self.logger, cfg)
        self.last_good = (run_dir / CHECKPOINT_FILE, frames) if ckpt else None

    def eval_seed(self, frames: int) -> int:
        """The seed of the evaluation at ``frames`` (and of its video): ``env.seed + 10000 + frames``."""
        return self.cfg.env.seed + 10_000 + frames

    def evaluate(self, eval_env, policy, task, max_steps: int, h: float, frames: int) -> tuple[dict, list]:
        """Deterministic evaluation episodes at ``frames`` (the eval env reseeded with
        ``env.seed + 10000 + frames``: independent of history) against the task's limit — the
        per-state budget ``h`` for a discounted limit, the episodic one otherwise.  Returns
        ``metrics.csv``'s ``eval_*`` values and the episodes, for :meth:`write_evaluation`."""
        cfg = self.cfg
        eval_env.set_seed(self.eval_seed(frames))
        limit = h if task.limit_kind == "discounted" else episode_cost_limit(cfg, task)
        return evaluate(eval_env, policy, cfg.logger.eval_episodes, max_steps, cfg.optim.cost_gamma, limit, task.limit_kind)

    def write_evaluation(self, state: RunState, eval_row: dict, eval_episodes: list, episodes: EpisodeTracker,
                         lam: float, window: Window) -> dict:
        """The evaluation's episodes and its ``metrics.csv`` row (also to the logger); returns the row."""
        for i, e in enumerate(eval_episodes):
            self.episodes_csv.write({"frames": state.frames, "episode": i, **e})
        row = {"frames": state.frames, **eval_row,
               "train_episode_return": episodes.mean_return, "train_episode_cost": episodes.mean_cost,
               "lambda": lam, **{k: state.last_losses.get(k) for k in LOSS_COLUMNS}, "updates": state.updates,
               **window.rates(), "wall_time_s": state.wall_time_s}
        self.metrics.write(row)
        log_scalars(self.logger, row)
        return row

    def save(self, loss, optimizers, replay_buffer, episodes, state: RunState, policy, obs_dim: int, action_spec) -> None:
        """``checkpoint.pt`` and ``policy.pt``, each written atomically."""
        save_checkpoint(self.run_dir, self.cfg, loss, optimizers, replay_buffer, episodes, asdict(state))
        save_policy(self.run_dir, self.cfg, policy, obs_dim, action_spec, state.frames)
        self.last_good = (self.run_dir / CHECKPOINT_FILE, state.frames)

    def sync_policy(self, policy, obs_dim: int, action_spec, frames: int) -> None:
        """On resume: rewrite ``policy.pt`` from the checkpoint's weights unless it already holds
        the checkpoint's frames (a kill between the two saves leaves it one checkpoint behind)."""
        from ..policy import read_policy_file

        try:
            current = read_policy_file(self.run_dir / POLICY_FILE)["frames"] == frames
        except ConfigError:
            current = False
        if not current:
            save_policy(self.run_dir, self.cfg, policy, obs_dim, action_spec, frames)

    def diverged(self, guard: NonFiniteGuard, guard_from: int, frames: int) -> NonFiniteError:
        saved = (f"the last good checkpoint is {self.last_good[0]} ({self.last_good[1]} frames)" if self.last_good
                 else "no checkpoint was written by this run")
        return NonFiniteError(f"{guard.describe(guard_from)} ({frames} frames collected); training stopped "
                              f"and nothing was saved after it: {saved}")


def train(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train the algorithm ``cfg.algo`` names as ``cfg`` says; write config.yaml,
    metrics.csv, checkpoint.pt and policy.pt to ``run_dir``.  Returns the final counters.

    With ``cfg.resume`` set, everything but ``collector.total_frames`` comes from the
    checkpoint and the run continues in the checkpoint's directory.  With ``env.num_seeds=S``
    the seeds ``env.seed .. env.seed+S-1`` train as one vectorised process, each in its own
    folder ``run_dir/seed<s>`` (:func:`~algd_components.training.seeds.train_seeds`); returns
    ``{"seeds": [counters, ...]}``.

    The run folder is locked for the run's lifetime (:mod:`.run_lock`: a second process gets a
    one-line error).  SIGINT / SIGTERM (:mod:`.interrupt`) stop at the next update: the batch's
    remaining updates are owed (run first on resume), a checkpoint and ``policy.pt`` are written,
    and :class:`TrainingStopped` is raised (the CLI prints one line and exits 130 / 143).
    """
    if cfg.env.get("num_seeds", 1) > 1:  # S seeds in one vectorised process, each in run_dir/seed<s>
        from .seeds import train_seeds

        seeds = [cfg.env.seed + i for i in range(cfg.env.num_seeds)]
        dirs = [Path(run_dir) / f"seed{s}" for s in seeds]
        with contextlib.ExitStack() as locks:  # each seed's folder, as a single run's (no signal handling here)
            for d in dirs:
                locks.enter_context(run_lock(d))
            return {"seeds": train_seeds(cfg, seeds, dirs)}
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
    _clean(run_dir, overwrite=cfg.overwrite and ckpt is None)
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
    episode_limit = episode_cost_limit(cfg, task)
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
    pbar = tqdm.tqdm(total=cfg.collector.total_frames, initial=state.frames, disable=not cfg.progress_bar, unit="frame")

    def account(loss_td, n: int, t0: float) -> None:
        if guard.tripped():  # one host read per batch; nothing non-finite is evaluated or saved
            raise record.diverged(guard, guard_from, state.frames)
        if n:
            window.updates += n
            state.updates += n
            window.update_s += time.time() - t0
            state.last_losses = {k: v.item() for k, v in loss_td.items() if v.numel() == 1}
        state.wall_time_s = time.time() - run_start

    def evaluate_and_save(due_eval: bool, due_ckpt: bool) -> None:
        nonlocal evaluations, window
        if due_eval:
            eval_row, eval_episodes = record.evaluate(eval_env, algo.policy, task, max_steps, h, state.frames)
            evaluations += 1
            if cfg.logger.video_every and evaluations % cfg.logger.video_every == 0:
                record_video(functools.partial(make_env, task.name, seed=record.eval_seed(state.frames),
                                               max_episode_steps=max_steps, render_mode="rgb_array"),
                             algo.policy, max_steps, run_dir / "videos" / f"eval_{state.frames}.mp4")
            row = record.write_evaluation(state, eval_row, eval_episodes, episodes, float(loss.dual.value), window)
            pbar.set_postfix(ret=f"{row['eval_return']:.1f}", cost=f"{row['eval_cost']:.1f}", lam=f"{row['lambda']:.3g}")
            window = Window()
        if due_ckpt:
            record.save(loss, optimizers, replay_buffer, episodes, state, algo.policy, obs_dim, action_spec)

    def stopped() -> TrainingStopped:
        record.save(loss, optimizers, replay_buffer, episodes, state, algo.policy, obs_dim, action_spec)
        name = signal.Signals(stop.signum).name
        owed = f", {state.pending_updates} updates owed (run first on resume)" if state.pending_updates else ""
        return TrainingStopped(f"{name}: stopped at {state.frames} frames and {state.updates} updates{owed}; checkpoint "
                               f"and policy saved in {run_dir}; continue with: algd-train resume={run_dir}", stop.exit_code)

    kwargs = dict(episode_cost=episodes.mean_cost, episode_cost_limit=episode_limit, guard=guard)
    try:
        if state.pending_updates or state.eval_due:  # what a stopped run owed, before any new frame
            t0 = time.time()
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
            pbar.update(data.numel())
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
    finally:  # worker processes of a ParallelEnv must not outlive an error
        pbar.close()
        if collector != ():
            collector.shutdown()
        eval_env.close()
    return asdict(state)
