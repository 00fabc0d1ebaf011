"""Composition lives with the registry: the config of a registered algorithm by name, through
Hydra's compose of the package's presets (``algd_components/conf``) and the schemas the
registry put in Hydra's ConfigStore, then every check (:func:`validate`)."""
from __future__ import annotations

import contextlib
import functools
from typing import Sequence

from omegaconf import DictConfig, OmegaConf

from ..config import CONF_MODULE, ConfigError, one_line
from .base import get
from .common import validate_common

__all__ = ["compose", "compose_config", "default_config", "validate"]


_VALIDATED: set[str] = set()  # configs (as resolved YAML) that passed every check in this process


def validate(cfg: DictConfig) -> None:
    """All checks of a composed config: each key's range, the shared cross-key checks, then
    the algorithm's own.  Raises :class:`~algd_components.config.ConfigError`.

    A config that passed once in this process returns at once: the command line's pre-check,
    Hydra's own composition and the training loop each hand the same config here, and the
    checks read the machine (devices, available memory) and build a Lagrangian."""
    try:
        key = OmegaConf.to_yaml(cfg, resolve=True)
    except Exception:  # an interpolation that does not resolve: the checks below say which key
        key = None
    if key is not None and key in _VALIDATED:
        return
    spec = get(cfg.algo)
    validate_common(cfg)
    if spec.validate is not None:
        spec.validate(cfg)
    if key is not None:
        _VALIDATED.add(key)


@functools.lru_cache(maxsize=None)
def _default_yaml(algo: str) -> str:
    return OmegaConf.to_yaml(compose_config(algo))


def default_config(algo: str) -> DictConfig:
    """Registered algorithm ``algo``'s config with no overrides, composed once per process (a
    resume compares a run's config with it; a copy is returned, free to change)."""
    return OmegaConf.create(_default_yaml(algo))


def compose(config_name: str, overrides: Sequence[str]) -> DictConfig:
    """Hydra's compose of ``config_name`` from the package's config module (plus nodes in
    Hydra's ConfigStore), with errors turned into one-line :class:`ConfigError`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    # inside a @hydra.main job Hydra is initialised already, with this module on its search path
    initialized = GlobalHydra.instance().is_initialized()
    with contextlib.nullcontext() if initialized else initialize_config_module(CONF_MODULE, version_base="1.3"):
        try:
            return hydra_compose(config_name, overrides=list(overrides))
        except Exception as err:
            raise ConfigError(one_line(err)) from None


def compose_config(algo: str, overrides: Sequence[str] = (), shared: Sequence[str] = ()) -> DictConfig:
    """The config of registered algorithm ``algo`` with Hydra-style ``overrides``
    (``["env.name=SafetyHopperVelocity-v1", "algd.mc_samples=4"]``), checked.

    ``shared`` overrides apply before the algorithm's own variant overrides (``lgd``'s
    ``lagrangian=standard``), ``overrides`` after them: what ``compare --set`` gives every
    algorithm cannot undo what makes an algorithm itself.

    Raises :class:`ConfigError` (one line naming the key) for an unknown algorithm or
    key, a value of the wrong type or out of its range.
    """
    spec = get(algo)
    own = [o for o in overrides if not o.startswith("algo=")]
    cfg = compose(spec.config, [*shared, *spec.overrides, f"algo={spec.name}", *own])
    validate(cfg)
    return cfg
