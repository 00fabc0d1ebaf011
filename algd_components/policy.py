"""Loading a trained policy: :func:`load_policy` turns a run's ``policy.pt`` back into a
TorchRL policy that acts with ``env.rollout`` — no training env, no checkpoint, no loss."""
from __future__ import annotations

import zipfile
from pathlib import Path

import torch
from omegaconf import OmegaConf
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torchrl.data import Bounded
from torchrl.envs.utils import ExplorationType, set_exploration_type

from . import algorithms
from .config import ConfigError
from .training.checkpoints import CHECKPOINT_FILE, CHECKPOINT_FORMAT, POLICY_FILE, POLICY_FORMAT

__all__ = ["load_policy", "read_policy_file", "ActWith"]


class ActWith(TensorDictModuleBase):
    """A policy that always acts under one TorchRL exploration type: ``DETERMINISTIC``
    (the diffusion chain from zero without noise; TanhNormal's mode) or ``RANDOM``."""

    def __init__(self, policy: TensorDictModuleBase, exploration: ExplorationType = ExplorationType.DETERMINISTIC):
        super().__init__()
        self.policy = policy
        self.in_keys, self.out_keys = list(policy.in_keys), list(policy.out_keys)
        self.exploration = exploration

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        with set_exploration_type(self.exploration):
            return self.policy(tensordict)


def _policy_path(source: str | Path) -> Path:
    p = Path(source).expanduser()
    if p.is_dir():
        p = p / POLICY_FILE
    elif p.name == CHECKPOINT_FILE:  # written together with the checkpoint, in the same folder
        p = p.parent / POLICY_FILE
    if not p.is_file():
        raise ConfigError(f"{str(source)!r}: no policy file found (expected a run folder holding {POLICY_FILE}, "
                          f"its {CHECKPOINT_FILE}, or a {POLICY_FILE} file; a run writes it with every checkpoint)")
    return p


def read_policy_file(source: str | Path) -> dict:
    """The contents of a policy file (``source``: a run folder, its checkpoint.pt or a
    policy.pt), read with ``weights_only=True``; one-line :class:`ConfigError` otherwise."""
    path = _policy_path(source)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        why = ("it holds more than tensors and plain values; for a training checkpoint give its run folder"
               if zipfile.is_zipfile(path) else "not a file torch.save wrote")
        raise ConfigError(f"{str(path)!r} is not a policy file of this package ({why})") from None
    if isinstance(blob, dict) and blob.get("format") == CHECKPOINT_FORMAT:
        raise ConfigError(f"{str(path)!r} is not a policy file of this package (a training checkpoint: give its run "
                          f"folder, whose {POLICY_FILE} holds the policy)")
    if not (isinstance(blob, dict) and blob.get("format") == POLICY_FORMAT):
        raise ConfigError(f"{str(path)!r} is not a policy file of this package (format {POLICY_FORMAT!r} expected)")
    return blob


def load_policy(source: str | Path, device: str | torch.device = "cpu", deterministic: bool = True,
                algo: str | None = None) -> ActWith:
    """Load the policy a run saved, ready for ``env.rollout(..., policy)``.

    Args:
        source: a run folder, its ``checkpoint.pt``, or a ``policy.pt`` file.
        device: where the policy's weights go.
        deterministic: act deterministically (default) or sample (``False``).
        algo: when given, the file must hold a policy of this algorithm.

    Returns:
        A TensorDict module (``observation`` → ``action``) that acts under the chosen
        exploration type whatever the caller's; ``.policy`` is the network itself and
        ``.info`` what the file says (algorithm, config, frames trained).
    """
    blob = read_policy_file(source)
    if algo is not None and blob["algo"] != algo:
        raise ConfigError(f"{str(source)!r} holds a policy of algo={blob['algo']!r}, not algo={algo!r}")
    spec = algorithms.get(blob["algo"])
    cfg = OmegaConf.create(blob["config"])
    low, high = blob["action_low"], blob["action_high"]
    action_spec = Bounded(low=low, high=high, shape=low.shape)
    policy = spec.make_policy(cfg, blob["obs_dim"], action_spec)
    try:
        policy.load_state_dict(blob["state_dict"])
    except RuntimeError as err:
        raise ConfigError(f"{str(source)!r}: the weights do not fit algo={blob['algo']!r}'s policy as this version builds it "
                          f"({str(err).splitlines()[0]})") from None
    wrapped = ActWith(policy.to(device).eval(), ExplorationType.DETERMINISTIC if deterministic else ExplorationType.RANDOM)
    wrapped.info = {k: blob[k] for k in ("algo", "config", "obs_dim", "frames")}
    return wrapped
