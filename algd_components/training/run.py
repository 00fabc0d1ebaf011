"""``train``: one run, or S seeds stacked in one process (``env.num_seeds``)."""
from __future__ import annotations

import contextlib
from pathlib import Path

from omegaconf import DictConfig

from .interrupt import stop_on_signals
from .loop import train_one
from .run_lock import run_lock
from .seeds import train_seeds

__all__ = ["train"]


def train(cfg: DictConfig, run_dir: str | Path, explicit: tuple[str, ...] = ()) -> dict:
    """Train the algorithm ``cfg.algo`` names as ``cfg`` says; write config.yaml,
    metrics.csv, checkpoint.pt and policy.pt to ``run_dir``.  Returns the final counters.

    With ``cfg.resume`` set, everything but ``collector.total_frames`` comes from the
    checkpoint and the run continues in the checkpoint's directory; ``explicit``: the keys the
    caller's overrides named (:func:`~.resume.override_keys`), applied on a resume even at their
    defaults (without them a value equal to the default, e.g. ``collector.total_frames=100000``,
    would not count as given).  With ``env.num_seeds=S``
    the seeds ``env.seed .. env.seed+S-1`` train as one vectorised process, each in its own
    folder ``run_dir/seed<s>`` (:func:`~algd_components.training.seeds.train_seeds`); returns
    ``{"seeds": [counters, ...]}``.

    The run folder (each seed's) is locked for the run's lifetime; SIGINT / SIGTERM stop at the
    next update after saving every seed's checkpoint (:func:`~algd_components.training.loop.train_one`).
    """
    if cfg.env.get("num_seeds", 1) > 1:  # S seeds in one vectorised process, each in run_dir/seed<s>
        seeds = [cfg.env.seed + i for i in range(cfg.env.num_seeds)]
        dirs = [Path(run_dir) / f"seed{s}" for s in seeds]
        with contextlib.ExitStack() as held:  # each seed's folder locked, as a single run's
            for d in dirs:
                held.enter_context(run_lock(d))
            stop = held.enter_context(stop_on_signals())
            return {"seeds": train_seeds(cfg, seeds, dirs, stop, explicit)}
    return train_one(cfg, run_dir, explicit)
