"""One run's record: the counters a checkpoint carries (:class:`RunState`), the throughput window
of a ``metrics.csv`` row (:class:`Window`), and :class:`RunRecord`, the folder's files as the loop
writes them (config, ``metrics.csv``, ``episodes.csv``, the logger, checkpoint and policy)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ..config import ConfigError
from ..envs import episode_cost_limit
from ..updates import NonFiniteError, NonFiniteGuard
from .checkpoints import CHECKPOINT_FILE, POLICY_FILE, atomic_save_text, save_checkpoint, save_policy
from .metrics import (EPISODE_COLUMNS, LOSS_COLUMNS, EpisodeTracker, MetricsCSV, evaluate, log_hparams, log_scalars,
                      make_logger)

__all__ = ["RunState", "Window", "RunRecord", "run_cost_limit"]


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


def run_cost_limit(cfg: DictConfig, task, max_steps: int) -> float:
    """The run's cost limit (:func:`~algd_components.envs.episode_cost_limit`: ``env.cost_limit``,
    else the task's, scaled to the episode length the run uses)."""
    return episode_cost_limit(task, max_steps, cfg.env.cost_limit)


class RunRecord:
    """One run's folder and what the loop writes there: ``config.yaml`` (``config_resumed.yaml``
    on resume), ``metrics.csv``, ``episodes.csv``, the logger, and at each checkpoint
    ``checkpoint.pt`` and ``policy.pt``.  Shared by the one loop's S seeds (:func:`~.loop.train_loop`),
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
        limit = h if task.limit_kind == "discounted" else run_cost_limit(cfg, task, max_steps)
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

    def save(self, loss, optimizers, replay_buffer, episodes, state: RunState, policy, obs_dim: int, action_spec,
             env_actions: dict | None = None) -> None:
        """``checkpoint.pt`` and ``policy.pt``, each written atomically; ``env_actions``: the
        train env's action log (:mod:`.env_replay`)."""
        save_checkpoint(self.run_dir, self.cfg, loss, optimizers, replay_buffer, episodes, asdict(state), env_actions)
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
