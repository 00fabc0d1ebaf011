"""Builders and cross-key checks more than one algorithm uses."""
from __future__ import annotations

import torch
from omegaconf import DictConfig, OmegaConf

from ..config import ConfigError, check_ranges, require
from ..dual import DualVariable
from ..envs import get_task
from ..lagrangians import Lagrangian
from ..lagrangians import make_lagrangian as _make_lagrangian

__all__ = ["make_lagrangian", "make_dual", "pick_device", "validate_common", "check_dual", "check_cost_weight_decay",
           "cost_limit_kind"]


def make_lagrangian(cfg: DictConfig) -> Lagrangian:
    """The ``lagrangian`` node built (a registered name or a ``_target_``); a bad one is a
    one-line :class:`ConfigError`."""
    try:
        return _make_lagrangian(OmegaConf.to_container(cfg.lagrangian, resolve=True))
    except (ValueError, TypeError) as err:
        raise ConfigError(f"lagrangian: {err}") from None


def make_dual(node: DictConfig, device) -> DualVariable:
    """A :class:`DualVariable` from a ``DualConfig`` node."""
    return DualVariable(init_value=float(node.init), rule=node.rule, lr=float(node.lr)).to(device)


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


def cost_limit_kind(cfg: DictConfig) -> str:
    return get_task(cfg.env.name).limit_kind


def validate_common(cfg: DictConfig) -> None:
    """Every key's range (from the schema), then the checks across keys that every
    algorithm shares."""
    check_ranges(cfg)
    try:
        get_task(cfg.env.name)
    except ValueError as err:
        raise ConfigError(f"env.name: {err}") from None
    pick_device(cfg.network.device)
    lag = cfg.lagrangian  # free-form (its keys depend on the class); the built-in one's rho checked here
    if lag.get("name") == "augmented" and "rho" in lag:
        rho = lag.rho
        require(isinstance(rho, (int, float)) and not isinstance(rho, bool) and rho > 0 and rho != float("inf"),
                "lagrangian.rho", rho, "a number > 0")
    make_lagrangian(cfg)


def check_dual(cfg: DictConfig, node: DictConfig, prefix: str) -> None:
    """Checks of a dual-variable node across its keys and the task."""
    require(node.rule != "log_adam" or node.init > 0, f"{prefix}.init", node.init,
            f"> 0 with {prefix}.rule=log_adam (it stores log lambda)")
    task = get_task(cfg.env.name)
    require(node.source != "episode" or task.limit_kind == "episodic", f"{prefix}.source", node.source,
            f"'batch' or 'policy' for {task.name}, whose limit is on the discounted cost")


def check_cost_weight_decay(cfg: DictConfig) -> None:
    """``optim.cost_weight_decay`` needs one value per cost-ensemble layer."""
    layers = len(cfg.network.critic_hidden) + 1
    wd = list(cfg.optim.cost_weight_decay)
    require(len(wd) == layers, "optim.cost_weight_decay", wd,
            f"{layers} values, one per cost-ensemble layer (network.critic_hidden has {layers - 1} hidden layers)")
