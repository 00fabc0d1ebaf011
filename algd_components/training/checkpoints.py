"""What a run writes to disk and reads back: atomic files, the training checkpoint
(``checkpoint.pt``, everything a resume needs) and the policy file (``policy.pt``, the
acting policy alone, loadable with ``torch.load(..., weights_only=True)``)."""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ..config import ConfigError

__all__ = [
    "CHECKPOINT_FILE",
    "POLICY_FILE",
    "POLICY_FORMAT",
    "atomic_save",
    "atomic_save_text",
    "rng_state",
    "set_rng_state",
    "resolve_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
    "restore_checkpoint",
    "save_policy",
]

CHECKPOINT_FILE = "checkpoint.pt"
POLICY_FILE = "policy.pt"
POLICY_FORMAT = "algd-components/policy/1"
# tensors and plain data only, read with weights_only=True; format 1 (no "format" key, before
# 2026-12-03) pickled a TensorDict and numpy's RNG state and is refused, not unpickled
CHECKPOINT_FORMAT = "algd-components/checkpoint/2"


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temp file in the same folder, fsync, then rename over ``path``:
    a crash leaves either the old or the new file, never a truncated one."""
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


def atomic_save_text(text: str, path: str | Path) -> None:
    """Write ``text`` to ``path`` via a temp file and rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def rng_state() -> dict:
    """torch's, numpy's and Python's RNG states as tensors, numbers and tuples (what
    ``torch.load(..., weights_only=True)`` reads back)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    numpy_state = {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                   "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}
    state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve_checkpoint(resume: str) -> Path:
    """``resume`` may name a checkpoint file or a run directory holding ``checkpoint.pt``."""
    p = Path(resume).expanduser()
    if p.is_dir():
        p = p / CHECKPOINT_FILE
    if not p.is_file():
        raise ConfigError(f"resume={resume!r}: no checkpoint found (expected a run directory with {CHECKPOINT_FILE}, "
                          "or a .pt file)")
    return p


def _replay_buffer_contents(replay_buffer) -> dict:
    """The filled part of the buffer, as nested plain dicts of tensors, its length and the write
    cursor (the storage's state_dict would hold all ``replay_buffer.size`` preallocated rows)."""
    n = len(replay_buffer)
    return {"data": replay_buffer.storage[:n].clone().to_dict() if n else None, "rows": n,
            "cursor": int(replay_buffer.writer.state_dict()["_cursor"])}  # the round-robin writer's own state


def read_checkpoint(path: str | Path, lazy: bool = False) -> dict:
    """``checkpoint.pt`` read with ``torch.load(..., weights_only=True)`` — tensors and plain data
    only, so a crafted file cannot run code — and checked to be one of ours; the replay buffer's
    rows come back as a ``TensorDict``.  ``lazy``: memory-map the tensors.  Anything else is a
    one-line :class:`ConfigError`."""
    from tensordict import TensorDict

    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=lazy)
    except Exception as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise ConfigError(f"{path} holds Python objects beyond tensors and plain data; they were not loaded (reading "
                              "them could run code). Checkpoints written before 2026-12-03 are refused this way: "
                              "start a new run") from None
        raise ConfigError(f"{path} is not a readable checkpoint ({type(err).__name__}: {first[:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path} is not a training checkpoint of this version (no format {CHECKPOINT_FORMAT!r})")
    missing = [k for k in ("config", "state", "loss", "optimizers") if k not in ckpt]
    if missing:
        raise ConfigError(f"{path} is not a training checkpoint of this package (no {missing})")
    if not isinstance(ckpt["config"], dict) or not isinstance(ckpt["state"], dict):
        raise ConfigError(f"{path}: its config and state are not mappings; not a checkpoint of this package")
    contents = ckpt.get("replay_buffer")
    if contents and contents.get("data") is not None:
        contents["data"] = TensorDict(contents["data"], batch_size=[contents["rows"]])
    return ckpt


def _load_replay_buffer_contents(replay_buffer, contents: dict) -> None:
    if contents["data"] is not None:
        replay_buffer.extend(contents["data"].to(replay_buffer.storage.device))
    # the round-robin writer's position, so later writes land where they would have
    writer = replay_buffer.writer
    writer.load_state_dict({**writer.state_dict(), "_cursor": contents["cursor"]})


def save_checkpoint(run_dir: Path, cfg: DictConfig, loss, optimizers, replay_buffer, episodes, state: dict,
                    env_actions: dict | None = None) -> None:
    """``checkpoint.pt``: config, loss (networks, targets, λ), optimisers, episode tracker,
    counters, RNG states, (``checkpoint.replay_buffer``) the replay buffer's contents and
    (``checkpoint.env_actions``) the train env's actions since frame 0, which a resume replays
    (:mod:`.env_replay`)."""
    blob = {
        "format": CHECKPOINT_FORMAT,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "loss": loss.state_dict(),
        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        "episodes": episodes.state_dict(),
        "state": dict(state),
        "rng": rng_state(),
    }
    if cfg.checkpoint.replay_buffer:
        blob["replay_buffer"] = _replay_buffer_contents(replay_buffer)
    if env_actions is not None:
        blob["env_actions"] = env_actions
    atomic_save(blob, Path(run_dir) / CHECKPOINT_FILE)


def restore_checkpoint(ckpt: Mapping, loss, optimizers, replay_buffer, episodes) -> dict:
    """Load what :func:`save_checkpoint` wrote into the freshly built objects; returns the
    saved counters."""
    loss.load_state_dict(ckpt["loss"])
    for name, opt in optimizers.items():
        opt.load_state_dict(ckpt["optimizers"][name])
    if "replay_buffer" in ckpt:
        _load_replay_buffer_contents(replay_buffer, ckpt["replay_buffer"])
    episodes.load_state_dict(ckpt["episodes"])
    set_rng_state(ckpt["rng"])
    return dict(ckpt["state"])


def save_policy(run_dir: Path, cfg: DictConfig, policy: torch.nn.Module, obs_dim: int, action_spec, frames: int) -> None:
    """``policy.pt``: the acting policy's weights and what rebuilding it needs (the config,
    observation size and action box), as plain tensors, numbers and strings only, so it
    loads with ``torch.load(..., weights_only=True)``; see :func:`algd_components.load_policy`."""
    act_dim = action_spec.shape[-1]
    blob = {
        "format": POLICY_FORMAT,
        "algo": cfg.algo,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "obs_dim": int(obs_dim),
        "action_low": action_spec.space.low.reshape(-1, act_dim)[0].detach().cpu().clone(),
        "action_high": action_spec.space.high.reshape(-1, act_dim)[0].detach().cpu().clone(),
        "frames": int(frames),
        "state_dict": {k: v.detach().cpu().clone() for k, v in policy.state_dict().items()},
    }
    atomic_save(blob, Path(run_dir) / POLICY_FILE)
