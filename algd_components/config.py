"""The training config every algorithm shares, as Hydra structured configs.

Each config node is a dataclass: its field types are what OmegaConf enforces while the
config is composed (``optim.lr=abc`` and unknown keys fail there), and the allowed range
of each value is written once, beside its default, with :func:`checked`.
:func:`check_ranges` walks a composed config and raises one :class:`ConfigError` naming
the first bad key.  An algorithm's config (``algd_components.algorithms``) extends
:class:`TrainConfig` with its own node and is composed by
:func:`algd_components.algorithms.compose_config` from the YAML presets in
``algd_components/conf``.  This module imports only what it describes (the dual rules' and
precision names); composition lives with the registry.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from .dual import DUAL_RULES, DUAL_SOURCES
from .precision import AUTOCAST_DTYPES, FLOAT32_MATMUL_PRECISIONS

__all__ = [
    "ConfigError",
    "require",
    "flatten",
    "checked",
    "check_ranges",
    "one_line",
    "TrainConfig",
    "EnvConfig",
    "CollectorConfig",
    "ReplayBufferConfig",
    "OptimConfig",
    "SystemConfig",
    "NetworkConfig",
    "LoggerConfig",
    "CheckpointConfig",
    "DualConfig",
    "LOGGER_BACKENDS",
]

LOGGER_BACKENDS = ("csv", "tensorboard", "wandb", "")


class ConfigError(ValueError):
    """A bad config value; command-line entry points print its message and exit with status 2."""


def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise :class:`ConfigError` naming ``key``, the bad ``value`` and what is allowed."""
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


def flatten(node: Mapping, prefix: str = "") -> dict:
    """A nested mapping (a config as plain containers) as ``{"a.b.c": value}``."""
    out = {}
    for k, v in node.items():
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# ---------------------------------------------------------------------------- ranges
@dataclass(frozen=True)
class _Range:
    """What a value may be beyond its type: bounds, a set of choices, a list length."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple | None = None
    min_len: int | None = None
    note: str = ""

    def ok(self, value) -> bool:
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, (list, tuple)):
            return (self.min_len is None or len(value) >= self.min_len) and all(self._number_ok(v) for v in value)
        return value is None or self._number_ok(value)

    def _number_ok(self, v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if isinstance(v, float) and not math.isfinite(v):
            return False
        return ((self.ge is None or v >= self.ge) and (self.gt is None or v > self.gt)
                and (self.le is None or v <= self.le) and (self.lt is None or v < self.lt))

    def describe(self, kind: str) -> str:
        if self.choices is not None:
            text = f"one of {list(self.choices)}"
        else:
            low = (f"{self.ge:g}", "[") if self.ge is not None else (f"{self.gt:g}", "(") if self.gt is not None else None
            high = (f"{self.le:g}", "]") if self.le is not None else (f"{self.lt:g}", ")") if self.lt is not None else None
            if low and high:
                text = f"{kind} in {low[1]}{low[0]}, {high[0]}{high[1]}"
            elif low:
                text = f"{kind} {'>=' if low[1] == '[' else '>'} {low[0]}"
            elif high:
                text = f"{kind} {'<=' if high[1] == ']' else '<'} {high[0]}"
            else:
                text = kind
            if self.min_len is not None:
                text = f"a list of at least {self.min_len} value(s), each {text}"
        return f"{text} ({self.note})" if self.note else text


def checked(default: Any = MISSING, *, default_factory=None, ge=None, gt=None, le=None, lt=None,
            choices: Sequence | None = None, min_len: int | None = None, note: str = ""):
    """A dataclass field with its allowed range: ``lr: float = checked(3e-4, gt=0)``.

    ``choices`` lists the allowed values; ``min_len`` makes the value a list whose items
    obey the bounds.  ``note`` is added to the error message (what the value means).
    """
    rng = _Range(ge, gt, le, lt, tuple(choices) if choices is not None else None, min_len, note)
    if default_factory is not None:
        return field(default_factory=default_factory, metadata={"range": rng})
    return field(default=default, metadata={"range": rng})


def _kind(annotation) -> str:
    """How an error message names a field's type (``Optional[...]``/``List[...]`` included)."""
    text = str(annotation)
    return "a number" if "float" in text else "an integer" if "int" in text else "a value"


def check_ranges(cfg: DictConfig, prefix: str = "") -> None:
    """Raise :class:`ConfigError` for the first value outside the range its dataclass field
    declares (recursing into nested config nodes)."""
    schema = OmegaConf.get_type(cfg)
    if not dataclasses.is_dataclass(schema):
        return
    for f in dataclasses.fields(schema):
        if f.name not in cfg:
            continue
        node = cfg._get_node(f.name)
        key = f"{prefix}{f.name}"
        if isinstance(node, DictConfig):
            if not node._is_none():
                check_ranges(node, prefix=f"{key}.")
            continue
        rng = f.metadata.get("range")
        if rng is None:
            continue
        try:  # resolved: a value may be an interpolation (cal_task=auto's ${cal_task:...})
            value = OmegaConf.to_container(node, resolve=True) if isinstance(node, ListConfig) else cfg[f.name]
        except Exception as err:
            raise ConfigError(f"{key}: {str(err).splitlines()[0]}") from None
        if value is None and "Optional" in str(f.type) and rng.choices is None:
            continue
        if not rng.ok(value):
            kind = _kind(f.type)
            allowed = rng.describe(kind)
            if "Optional" in str(f.type) and rng.choices is None:
                allowed += " or null"
            raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


# ---------------------------------------------------------------------------- schema
@dataclass
class EnvConfig:
    name: str = "SafetyPointGoal1-v0"  # see python -m algd_components.envs --list
    seed: int = 0
    max_episode_steps: Optional[int] = checked(None, ge=1, note="null: the task's default")
    cost_limit: Optional[float] = checked(None, ge=0, note="null: the task's default")
    num_envs: int = checked(1, ge=1)
    # S seeds (seed, seed+1, ...) trained as one vectorised process, each in run_dir/seed<s>
    num_seeds: int = checked(1, ge=1, note="seeds trained together in one process (off-policy algorithms)")
    vectorize: str = checked("parallel", choices=("parallel", "serial"))
    # Safety-Gym navigation: a met goal ends the reward's bootstrap (not the episode; the cost critics'
    # bootstrap goes on), as the released ALGD and CAL samplers do; no effect on other tasks
    goal_terminal: bool = False


@dataclass
class CollectorConfig:
    total_frames: int = checked(100_000, ge=1)
    # frames before the first update (updates follow the batch that reaches it); who acts in them: warmup_actor
    init_random_frames: int = checked(5000, ge=0)
    # frames between update rounds: 1000 collects, then runs their updates in one burst; 1 updates after every step
    frames_per_batch: int = checked(1000, ge=1)
    # uniform: TorchRL's RandomPolicy over the action box; policy: the untrained policy (the released code's
    # exploration_before_start)
    warmup_actor: str = checked("uniform", choices=("uniform", "policy"))
    async_collection: bool = False


@dataclass
class ReplayBufferConfig:
    size: int = checked(1_000_000, ge=1)
    min_size: int = checked(0, ge=0, note="no update until the buffer holds more transitions (released: 1000)")


@dataclass
class OptimConfig:
    batch_size: int = checked(256, ge=1)
    utd_ratio: float = checked(1.0, gt=0, note="gradient updates per collected frame")
    # 0: utd_ratio updates per frame; > 0: the released loop's per-step rule (training/schedule.py), whose cap
    # of update_cap x steps binds in the first epoch only (schedule=released: 5, with utd_ratio 10)
    update_cap: float = checked(0.0, ge=0, note="0: off; the released code: 5 (schedule=released)")
    lr: float = checked(3e-4, gt=0)
    cost_lr: float = checked(3e-4, gt=0)
    cost_weight_decay: List[float] = checked(default_factory=lambda: [3e-5, 6e-5, 1e-4], ge=0, min_len=1,
                                             note="one per cost-ensemble layer")
    gamma: float = checked(0.99, gt=0, le=1)
    cost_gamma: float = checked(0.99, gt=0, le=1)
    target_update_polyak: float = checked(0.995, ge=0, lt=1)
    target_update_interval: int = checked(1, ge=1, note="soft-update the targets on every k-th update")
    weight_decay: bool = True  # apply cost_weight_decay (Table 3); the released ALGD code applies none


@dataclass
class SystemConfig:
    retain_freed_memory: bool = True
    # torch's math threads; 0: torch's default, or cores / jobs when jobs share the machine
    # (algd-compare --jobs, a -m sweep on the joblib or submitit_local launcher)
    num_threads: int = checked(0, ge=0, note="0: automatic")
    float32_matmul_precision: str = checked("highest", choices=FLOAT32_MATMUL_PRECISIONS)
    autocast: Optional[str] = checked(None, choices=(None, *AUTOCAST_DTYPES))


@dataclass
class NetworkConfig:
    device: str = ""  # "": CUDA when available, else CPU
    critic_hidden: List[int] = checked(default_factory=lambda: [256, 256], ge=1, min_len=1)
    # torch: PyTorch's defaults; released: the authors' code (Xavier-uniform actor and reward
    # critic, truncated-normal cost ensemble, zero biases)
    init: str = checked("torch", choices=("torch", "released"))


@dataclass
class LoggerConfig:
    backend: str = checked("csv", choices=LOGGER_BACKENDS)
    eval_iter: int = checked(5000, ge=1)
    eval_episodes: int = checked(3, ge=1)
    exp_name: str = "run"
    video_every: int = checked(0, ge=0, note="record one evaluation episode every k evaluations; 0: off")
    torchrl_info: bool = False  # TorchRL's INFO lines (e.g. storage initialised); off: warnings only


@dataclass
class CheckpointConfig:
    interval: int = checked(10_000, ge=1)
    replay_buffer: bool = True
    # log the train env's actions in checkpoints and replay them on resume, so the env continues where the run
    # stopped (rows identical to an uninterrupted run's; training/env_replay.py); false: a resumed env starts a
    # new episode (a faster resume of long runs on slow envs)
    env_actions: bool = True




@dataclass
class DualConfig:
    """A :class:`~algd_components.DualVariable` and what its step reads."""

    rule: str = checked("projected", choices=DUAL_RULES)
    lr: float = checked(1e-3, gt=0)
    init: float = checked(1.0, ge=0)
    source: str = checked("batch", choices=DUAL_SOURCES)


@dataclass
class TrainConfig:
    """Keys every algorithm shares.  ``lagrangian`` is free-form: its keys depend on the
    class it builds (``name`` of a registered one, or Hydra's ``_target_``)."""

    algo: str = MISSING
    env: EnvConfig = field(default_factory=EnvConfig)
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    replay_buffer: ReplayBufferConfig = field(default_factory=ReplayBufferConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    system: SystemConfig = field(default_factory=SystemConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    lagrangian: Dict[str, Any] = field(default_factory=dict)  # from the lagrangian group (conf/lagrangian)
    # a run directory (or its checkpoint.pt) to continue; "auto": continue the run in this run's
    # own folder if it holds a checkpoint (nothing to do if it is finished), else start it afresh
    resume: Optional[str] = None
    overwrite: bool = False  # a fresh run may replace the run already in its folder
    # the progress display (training/progress.py): a bar on a terminal, else a plain line every
    # progress_every_s seconds; false: nothing
    progress_bar: bool = True
    progress_every_s: float = checked(30.0, gt=0, le=86400, note="seconds between plain progress lines")


# ---------------------------------------------------------------------------- composition
CONF_MODULE = "algd_components.conf"


def one_line(err: Exception) -> str:
    """Hydra/OmegaConf composition errors as one line naming the key."""
    from hydra.errors import OverrideParseException

    if isinstance(err, OverrideParseException):  # Hydra's grammar: show the override and how to quote it
        key, _, value = err.override.partition("=")
        return (f"cannot parse the override {err.override!r}: quote the value, e.g. {key}='{value}' (in a shell: "
                f"\"{key}='{value}'\")")
    cause = err
    while cause.__cause__ is not None and not hasattr(cause, "full_key"):
        cause = cause.__cause__
    msg = str(getattr(cause, "msg", None) or cause).strip().splitlines()[0]
    key = getattr(cause, "full_key", None)
    if key:
        if "not in struct" in msg or "Key '" in msg and "not" in msg:
            return f"{key}: not a config key of this algorithm (check the spelling; '+{key}=...' adds a key only where a node is free-form)"
        return f"{key}: {msg}"
    text = str(err).strip().splitlines()
    return " ".join(t.strip() for t in text[:2] if t.strip()) or type(err).__name__
