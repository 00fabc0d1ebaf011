"""What a run reports: ``metrics.csv`` (one row per evaluation, one list of columns), the
training-episode tracker, deterministic evaluation episodes, and TorchRL loggers."""
from __future__ import annotations

import contextlib

import csv
import io
import math
from collections import deque
from numbers import Number
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from tensordict import TensorDictBase
from torchrl.envs.utils import ExplorationType, set_exploration_type

from ..config import ConfigError, flatten
from .checkpoints import atomic_save_text

__all__ = ["METRIC_COLUMNS", "LOSS_COLUMNS", "EPISODE_COLUMNS", "MetricsCSV", "EpisodeTracker", "run_episodes",
           "mark_violations", "evaluate", "make_logger", "log_hparams", "log_scalars", "trim_csv_logs", "record_video"]

# the last update's scalars written to metrics.csv (those a loss does not produce stay empty)
LOSS_COLUMNS = ("loss_qvalue", "loss_cost", "loss_actor", "score_loss", "energy", "cost_estimate_batch",
                "cost_estimate_policy", "loss_objective", "loss_critic")
METRIC_COLUMNS = [
    "frames",
    "eval_return",
    "eval_cost",
    "eval_discounted_cost",
    "eval_return_std",
    "eval_cost_std",
    "eval_violation_rate",
    "train_episode_return",
    "train_episode_cost",
    "lambda",
    *LOSS_COLUMNS,
    "updates",
    "updates_per_s",
    "frames_per_s",
    "update_time_fraction",
    "wall_time_s",
]
TIME_COLUMNS = ("updates_per_s", "frames_per_s", "update_time_fraction", "wall_time_s")
# episodes.csv: every evaluation episode
EPISODE_COLUMNS = ["frames", "episode", "return", "cost", "discounted_cost", "length", "violation"]


@torch.no_grad()
def run_episodes(env, policy, num_episodes: int, max_steps: int, gamma: float,
                 exploration: ExplorationType = ExplorationType.DETERMINISTIC) -> list[dict[str, float]]:
    """``num_episodes`` episodes of ``policy`` on ``env`` (deterministic by default), each as
    ``{"return", "cost", "discounted_cost", "length"}``; the discounted cost is
    ``Σ_t γ^t c_t``, what the paper reports on the continuous velocity tasks."""
    episodes = []
    with set_exploration_type(exploration):
        for _ in range(num_episodes):
            td = env.rollout(max_steps, policy, break_when_any_done=True, auto_cast_to_device=True)
            r = td["next", "reward"].flatten().double()
            c = td["next", "cost"].flatten().double()
            discount = gamma ** torch.arange(c.numel(), dtype=torch.float64)
            episodes.append({"return": r.sum().item(), "cost": c.sum().item(),
                             "discounted_cost": (discount * c).sum().item(), "length": int(c.numel())})
    return episodes


def mark_violations(episodes: list[dict], cost_limit: float, limit_kind: str = "episodic") -> str:
    """Set each episode's ``violation``: its cost — its discounted cost for a ``"discounted"``
    limit — above ``cost_limit``.  Returns the measure compared (``"cost"`` or ``"discounted_cost"``)."""
    measure = "discounted_cost" if limit_kind == "discounted" else "cost"
    for e in episodes:
        e["violation"] = bool(e[measure] > cost_limit)
    return measure


def evaluate(env, policy, num_episodes: int, max_steps: int, gamma: float, cost_limit: float,
             limit_kind: str = "episodic") -> tuple[dict[str, float], list[dict]]:
    """Deterministic episodes: ``metrics.csv``'s ``eval_*`` columns (means, spreads, the
    fraction of episodes over the limit) and the episodes themselves (``violation``: the
    episode's cost — its discounted cost for a ``"discounted"`` limit — above ``cost_limit``)."""
    episodes = run_episodes(env, policy, num_episodes, max_steps, gamma)
    mark_violations(episodes, cost_limit, limit_kind)
    col = lambda k: np.array([e[k] for e in episodes], dtype=float)  # noqa: E731
    return {
        "eval_return": float(col("return").mean()),
        "eval_cost": float(col("cost").mean()),
        "eval_discounted_cost": float(col("discounted_cost").mean()),
        "eval_return_std": float(col("return").std()),
        "eval_cost_std": float(col("cost").std()),
        "eval_violation_rate": float(col("violation").mean()),
    }, episodes


class EpisodeTracker:
    """Return and cost of the most recent finished training episodes."""

    def __init__(self, window: int = 10):
        self.returns: deque[float] = deque(maxlen=window)
        self.costs: deque[float] = deque(maxlen=window)

    def update(self, data: TensorDictBase) -> None:
        done = data["next", "done"].reshape(-1)
        if done.any():
            self.returns.extend(data["next", "episode_reward"].reshape(-1)[done].tolist())
            self.costs.extend(data["next", "episode_cost"].reshape(-1)[done].tolist())

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns)) if self.returns else math.nan

    @property
    def mean_cost(self) -> float | None:
        return float(np.mean(self.costs)) if self.costs else None

    def state_dict(self) -> dict:
        return {"returns": list(self.returns), "costs": list(self.costs)}

    def load_state_dict(self, state: Mapping) -> None:
        self.returns.clear()
        self.returns.extend(state["returns"])
        self.costs.clear()
        self.costs.extend(state["costs"])


def complete_rows(path: Path, up_to_frames: int) -> list[dict]:
    """The rows of a CSV a killed run wrote that a resume from ``up_to_frames`` keeps: whole
    rows (every column filled in or empty, a line ending, a number in ``frames``) at or before
    the checkpoint's frames.  A half-written last line — a kill inside ``write`` — is dropped
    whatever its frames."""
    text = path.read_text()
    if text and not text.endswith("\n"):  # the last line was cut mid-write
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    kept = []
    for r in reader:
        if None in r or any(v is None for v in r.values()):  # too many or too few fields
            continue
        try:
            frames = int(float(r["frames"]))
        except (TypeError, ValueError):
            continue
        if frames <= up_to_frames:
            kept.append(r)
    return kept


class MetricsCSV:
    """``metrics.csv``: one row per evaluation, appended and flushed row by row.

    On resume, rows past the checkpoint's frame count (written after the last checkpoint
    of a killed run) are dropped so the file describes one consistent run.
    """

    def __init__(self, path: str | Path, columns: Iterable[str] = METRIC_COLUMNS, resume_frames: int | None = None):
        self.path = Path(path)
        self.columns = list(columns)
        if resume_frames is not None and self.path.exists():
            self._rewrite(complete_rows(self.path, resume_frames))
        elif not self.path.exists():
            self._rewrite([])

    def _rewrite(self, rows):
        text = io.StringIO(newline="")
        w = csv.DictWriter(text, fieldnames=self.columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        atomic_save_text(text.getvalue(), self.path)

    def write(self, row: Mapping[str, Any]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore").writerow(
                {k: ("" if v is None else v) for k, v in row.items()}
            )


def make_logger(backend: str, run_dir: Path, exp_name: str, resume_frames: int | None = None):
    """A TorchRL logger writing under ``run_dir/logs`` (None for backend '').  On resume,
    what a killed run logged past the checkpoint is cut back: the CSV files are trimmed
    (:func:`trim_csv_logs`); TensorBoard's writer is reopened with ``purge_step`` so that
    its events past the checkpoint are discarded."""
    if not backend:
        return None
    from torchrl.record.loggers import get_logger

    if resume_frames is not None and backend == "csv":
        trim_csv_logs(Path(run_dir) / "logs", resume_frames)
    try:
        logger = get_logger(backend, logger_name=str(Path(run_dir) / "logs"), experiment_name=exp_name)
    except ImportError as err:
        raise ConfigError(f"logger.backend={backend!r} needs a package that is not installed ({err}); use 'csv'") from None
    if backend == "csv":  # TorchRL's CSV logger makes a videos/ folder up front; ours go to run_dir/videos
        with contextlib.suppress(OSError):  # (removed only while empty)
            (Path(logger.experiment.log_dir) / "videos").rmdir()
    if resume_frames is not None and backend == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        log_dir = logger.experiment.log_dir
        logger.experiment.close()
        logger.experiment = SummaryWriter(log_dir=log_dir, purge_step=resume_frames + 1)
    return logger


def log_hparams(logger, cfg) -> None:
    """The resolved config as the logger's hyperparameters (flattened ``a.b.c`` keys; lists
    and nulls as text, as TensorBoard's hparams take only numbers, strings and booleans)."""
    if logger is None:
        return
    from omegaconf import OmegaConf

    flat = flatten(OmegaConf.to_container(cfg, resolve=True))
    logger.log_hparams({k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in flat.items()})


def log_scalars(logger, row: Mapping[str, Any]) -> None:
    """Every number of ``row`` at step ``row["frames"]``, NaN and inf included (a column the
    run cannot fill yet, e.g. no finished training episode, is logged as NaN, not dropped)."""
    if logger is None:
        return
    for k, v in row.items():
        if k != "frames" and v is not None and isinstance(v, Number) and not isinstance(v, bool):
            logger.log_scalar(k, v, step=row["frames"])


def _free_renderers(gym_env) -> None:
    """Free the env's off-screen GL contexts now, while EGL is up: safety-gymnasium's builder
    has no ``close`` for its task's viewers, which otherwise fail noisily at interpreter exit."""
    unwrapped = gym_env.unwrapped
    renderer = getattr(unwrapped, "mujoco_renderer", None)
    if renderer is not None:
        renderer.close()
    task = getattr(unwrapped, "task", None)
    viewers = getattr(task, "_viewers", None) or {}
    for viewer in list(viewers.values()):
        (getattr(viewer, "free", None) or viewer.close)()
    viewers.clear()
    if task is not None and hasattr(task, "viewer"):
        task.viewer = None


def record_video(env_factory, policy, max_steps: int, path: Path, fps: int = 30) -> Path:
    """One deterministic episode of ``policy`` rendered to ``path`` (mp4, imageio-ffmpeg).

    Why not TorchRL's ``VideoRecorder``: it reads a ``pixels`` entry, and TorchRL's pixel
    path for gym-like envs unpacks five step values where safety-gymnasium returns six, so
    the frames are rendered here from the underlying env after each step; and TorchRL's CSV
    logger writes mp4 only through torchcodec, which this project does not depend on."""
    import imageio.v2 as imageio

    env = env_factory()
    frames = []
    gym_env = env.base_env._env
    try:
        def grab(*_):
            frames.append(gym_env.render())

        with set_exploration_type(ExplorationType.DETERMINISTIC), torch.no_grad():
            env.rollout(max_steps, policy, break_when_any_done=True, callback=grab)
    finally:
        _free_renderers(gym_env)
        env.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, [f for f in frames if f is not None], fps=fps, macro_block_size=1)
    return path


def trim_csv_logs(log_dir: Path, frames: int) -> None:
    """Drop the rows past ``frames`` from every TorchRL CSV logger file under ``log_dir``
    (``<exp>/scalars/<name>.csv``, lines ``step,value``): what a killed run logged after its
    last checkpoint, which the resumed run logs again."""
    for path in Path(log_dir).glob("**/scalars/*.csv"):
        text = path.read_text()
        lines = text.splitlines()
        if text and not text.endswith("\n"):  # a line cut mid-write by a kill
            lines = lines[:-1]
        keep = [ln for ln in lines if (step := _step(ln)) is not None and step <= frames]
        if "".join(ln + "\n" for ln in keep) != text:
            atomic_save_text("".join(ln + "\n" for ln in keep), path)


def _step(line: str) -> float | None:
    """The step of a whole ``step,value`` line (both numbers; nan and inf included), else None."""
    parts = line.split(",")
    if len(parts) != 2:
        return None
    try:
        float(parts[1])
        return float(parts[0])
    except ValueError:
        return None
