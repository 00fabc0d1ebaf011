"""Pieces every recipe shares: config checks, evaluation, metrics.csv, checkpoints.

Nothing here is ALGD-specific; baselines built from the same parts reuse it.
"""
from __future__ import annotations

import csv
import math
import os
import random
import tempfile
import warnings
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from tensordict import TensorDictBase
from torchrl.envs.utils import ExplorationType, set_exploration_type
from torchrl.objectives import SoftUpdate

__all__ = [
    "ConfigError",
    "require",
    "pick_device",
    "evaluate",
    "EpisodeTracker",
    "MetricsCSV",
    "METRIC_COLUMNS",
    "atomic_save",
    "atomic_save_text",
    "rng_state",
    "set_rng_state",
    "resolve_checkpoint",
    "update_step",
    "ForeachSoftUpdate",
    "GraphedUpdate",
]


class ConfigError(ValueError):
    """A bad config value; recipes print its message and exit with status 2."""


def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise :class:`ConfigError` naming ``key``, the bad ``value`` and what is allowed."""
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


def pick_device(name: str | None) -> torch.device:
    """``""``/``None`` → CUDA when available, else CPU; otherwise the named device."""
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"network.device={name!r} is not a device; use '', 'cpu' or 'cuda[:N]'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"network.device={name!r} but CUDA is not available here; use '' or 'cpu'")
    return dev


@torch.no_grad()
def evaluate(env, policy, num_episodes: int, max_steps: int, gamma: float) -> dict[str, float]:
    """Deterministic episodes (``ExplorationType.DETERMINISTIC``) on ``env``.

    Returns the mean episode return, episode cost and discounted cost
    (``Σ_t γ^t c_t``, what the paper reports on the continuous velocity tasks).
    """
    returns, costs, disc = [], [], []
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        for _ in range(num_episodes):
            td = env.rollout(max_steps, policy, break_when_any_done=True, auto_cast_to_device=True)
            r = td["next", "reward"].flatten().double()
            c = td["next", "cost"].flatten().double()
            discount = gamma ** torch.arange(c.numel(), dtype=torch.float64)
            returns.append(r.sum().item())
            costs.append(c.sum().item())
            disc.append((discount * c).sum().item())
    return {
        "eval_return": float(np.mean(returns)),
        "eval_cost": float(np.mean(costs)),
        "eval_discounted_cost": float(np.mean(disc)),
    }


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


METRIC_COLUMNS = [
    "frames",
    "eval_return",
    "eval_cost",
    "eval_discounted_cost",
    "train_episode_return",
    "train_episode_cost",
    "lambda",
    "loss_qvalue",
    "loss_cost",
    "loss_actor",
    "score_loss",
    "energy",
    "cost_estimate_batch",
    "cost_estimate_policy",
    "loss_objective",
    "loss_critic",
    "updates",
    "updates_per_s",
    "frames_per_s",
    "update_time_fraction",
    "wall_time_s",
]


class MetricsCSV:
    """``metrics.csv``: one row per evaluation, appended and flushed row by row.

    On resume, rows past the checkpoint's frame count (written after the last checkpoint
    of a killed run) are dropped so the file describes one consistent run.
    """

    def __init__(self, path: str | Path, columns: Iterable[str] = METRIC_COLUMNS, resume_frames: int | None = None):
        self.path = Path(path)
        self.columns = list(columns)
        if resume_frames is not None and self.path.exists():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(float(r["frames"])) <= resume_frames]
            self._rewrite(rows)
        elif not self.path.exists():
            self._rewrite([])

    def _rewrite(self, rows):
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".metrics", suffix=".tmp")
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)

    def write(self, row: Mapping[str, Any]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore").writerow(
                {k: ("" if v is None else v) for k, v in row.items()}
            )


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temp file in the same folder, fsync, then rename over ``path``:
    a crash leaves either the old or the new checkpoint, never a truncated one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve_checkpoint(resume: str) -> Path:
    """``resume`` may name a checkpoint file or a run directory holding ``checkpoint.pt``."""
    p = Path(resume).expanduser()
    if p.is_dir():
        p = p / "checkpoint.pt"
    if not p.is_file():
        raise ConfigError(f"resume={resume!r}: no checkpoint found (expected a run directory with checkpoint.pt, or a .pt file)")
    return p


def atomic_save_text(text: str, path: str | Path) -> None:
    """Write ``text`` to ``path`` via a temp file and rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class ForeachSoftUpdate(SoftUpdate):
    """TorchRL's :class:`~torchrl.objectives.SoftUpdate` (Polyak averaging,
    ``θ' ← θ' + (1 - eps)(θ - θ')``) stepping every target tensor with one
    ``torch._foreach_lerp_`` call.

    Same constructor, rule, checks and state as ``SoftUpdate``, and bitwise the same result
    (tested).  Why: ``SoftUpdate.step`` lerps network by network through TensorDict ``.data``
    views built anew on every call — 0.73-0.81 ms per ALGD update on the AMD CPU
    machine measured, against 0.19-0.20 ms this way (``benchmarks/host_overheads.py``).
    """

    def step(self) -> None:
        if not self.initialized:
            return super().step()  # SoftUpdate's own error
        for name in self._target_names:  # as SoftUpdate does: lets the loss see its targets are used
            getattr(self.loss_module, name)
        sources, targets = [], []  # the tensors SoftUpdate itself would step, in its pairing
        for key, source in self._sources.items(True, True):
            key = key if isinstance(key, tuple) else (key,)
            target = self._targets.get(("target_" + key[0], *key[1:]))
            if target.requires_grad:
                raise RuntimeError("the target parameter is part of a graph.")
            sources.append(source.data)
            targets.append(target.data)
        torch._foreach_lerp_(targets, sources, 1 - self.eps)


def update_step(loss, optimizers: Mapping[str, torch.optim.Optimizer], target_updater, batch: TensorDictBase, *,
                max_grad_norm: float | None = None, step_dual: bool = True, **dual_kwargs) -> TensorDictBase:
    """One gradient update as every recipe does it.

    ``loss(batch)`` → backward of the sum of its ``loss_*`` entries (the ALGD and baseline
    losses keep their parameter sets disjoint, so one backward serves every optimiser) →
    the gradient norm over all optimised parameters clipped to ``max_grad_norm`` (when given) →
    each optimiser steps → ``target_updater.step()`` (when given) →
    ``loss.step_dual(loss_td, **dual_kwargs)`` when ``step_dual`` and the loss has a dual
    variable (on-policy learning steps λ once per rollout instead).  Returns the detached
    loss tensordict.
    """
    loss_td = loss(batch)
    for opt in optimizers.values():
        opt.zero_grad(set_to_none=True)
    sum(v for k, v in loss_td.items() if k.startswith("loss_")).backward()
    if max_grad_norm:
        params = [p for opt in optimizers.values() for g in opt.param_groups for p in g["params"]]
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    for opt in optimizers.values():
        opt.step()
    if target_updater is not None:
        target_updater.step()
    if step_dual and hasattr(loss, "step_dual"):
        loss.step_dual(loss_td, **dual_kwargs)
    return loss_td.detach()


class GraphedUpdate:
    """:func:`update_step` replayed as one CUDA graph (``compile.cudagraphs=true`` on a GPU).

    Why: an eager ALGD update dispatches 1,244 aten ops, 689 of them not views (each one a
    kernel launch on a GPU).  On the CPU machines an update at batch 2 — next to no
    arithmetic — still takes 13-18 ms, which is that host
    work (docs/performance.md); on a GPU the kernels cannot run faster than the host
    launches them.  Captured once, the whole update replays with one launch.

    Everything but the dual step — losses, backward, optimiser steps, target-network
    update — is captured by TensorDict's :class:`~tensordict.nn.CudaGraphModule` (TorchRL's
    own recipes use it the same way) after ``warmup`` eager calls, and replayed from then
    on.  The dual step runs eagerly after each replay: its ``episode`` source reads a number
    from the host.  λ is a device buffer updated in place, so the replayed loss reads its
    current value.  What capture requires is checked by tests: no host syncs inside the
    update (``tests/test_cuda.py``), optimisers built with ``capturable=True``, the batch on
    the graph's device (only ``loss.in_keys`` are copied into the graph's static inputs).
    Without CUDA the module runs the update as is (TensorDict's documented fallback); the
    recipes refuse ``compile.cudagraphs=true`` there instead.
    """

    def __init__(self, loss, optimizers: Mapping[str, torch.optim.Optimizer], target_updater, *,
                 warmup: int = 5, max_grad_norm: float | None = None):
        from tensordict.nn import CudaGraphModule

        self.loss = loss
        self.in_keys = list(loss.in_keys)

        def update(batch: TensorDictBase) -> TensorDictBase:
            return update_step(loss, optimizers, target_updater, batch, max_grad_norm=max_grad_norm, step_dual=False)

        with warnings.catch_warnings():
            # only its "no CUDA here, passing through" notice (the recipes check the device);
            # its other notices (e.g. that it takes TensorDicts out of PyTree, process-wide) still show
            warnings.filterwarnings("ignore", message="This module is instantiated on a machine without CUDA",
                                    category=UserWarning)
            self.graphed = CudaGraphModule(update, in_keys=[], out_keys=[], warmup=warmup)

    def __call__(self, batch: TensorDictBase, **dual_kwargs) -> TensorDictBase:
        loss_td = self.graphed(batch.select(*self.in_keys))
        if hasattr(self.loss, "step_dual"):
            self.loss.step_dual(loss_td, **dual_kwargs)
        return loss_td
