"""Which of S seeds' folders start or resume together (``env.num_seeds=S``); the training is
:func:`~.loop.train_loop`'s, with a seed dimension.

Each seed has what a run of its own has — its env (seeded as that run seeds it), its replay
buffer (independent indices), its λ, its run folder with ``config.yaml``, ``metrics.csv``,
``episodes.csv``, ``checkpoint.pt`` and ``policy.pt`` written as if it had run alone (its
config says ``env.seed=s``, ``env.num_seeds=1``), so ``plot``, ``compare``, ``evaluate`` and
``resume`` read each folder unchanged.  What they share is the work: one TorchRL collector steps
the S envs (a ``SerialEnv``) with one vmapped policy call per step, and one vmapped update
trains all S (:mod:`algd_components.stacked`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig

from .. import algorithms
from ..config import require
from .loop import train_loop, train_one
from .resume import owes_work, resolve_run

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


def train_seeds(cfg: DictConfig, seeds: Sequence[int], run_dirs: Sequence[str | Path], stop=None,
                explicit: tuple[str, ...] = ()) -> list[dict]:
    """Train seed ``seeds[i]`` into ``run_dirs[i]``, all S in one vectorised process; returns
    each seed's final counters.

    ``cfg.resume`` may be null (fresh folders; ``overwrite`` as for one run) or ``"auto"``
    (each folder continues its own checkpoint).  Seeds whose checkpoints stand at different
    frame counts (a kill between two of the S checkpoint writes) cannot share an update: they
    are then finished one after the other as single-seed runs, nothing lost; so are seeds whose
    checkpoints owe work (a signal stopped them inside a batch: the loop, run for each alone, runs
    the owed updates first).  ``stop`` (a :func:`~.interrupt.stop_on_signals` request): at the next update
    every seed's checkpoint is written and :class:`~.loop.TrainingStopped` raised.  ``explicit``: as
    :func:`~.run.train`'s.
    """
    require(len(seeds) == len(run_dirs) and len(seeds) >= 1, "env.num_seeds", len(seeds), "one run folder per seed")
    require(len(set(seeds)) == len(seeds), "env.seed", list(seeds), "distinct seeds")
    stacked = cfg.copy()
    stacked.env.num_seeds = len(seeds)
    algorithms.validate(stacked)  # what S stacked seeds refuse (an explicit resume path, env.num_envs > 1, ...)
    cfgs = seed_configs(cfg, seeds)
    resolved = [resolve_run(c, d, explicit) for c, d in zip(cfgs, run_dirs)]
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
    return train_loop(cfgs, ckpts, run_dirs, stop)


def _auto(cfg: DictConfig) -> DictConfig:
    c = cfg.copy()
    c.resume = "auto"
    return c
