"""Composition lives with the registry: the config of a registered algorithm by name, through
Hydra's compose of the package's presets (``algd_components/conf``) and the schemas the
registry put in Hydra's ConfigStore, then every check (:func:`validate`)."""
from __future__ import annotations

import contextlib
from typing import Sequence

from omegaconf import DictConfig

from ..config import CONF_MODULE, ConfigError, one_line
from .base import get
from .common import validate_common

__all__ = ["compose", "compose_config", "validate"]


def validate(cfg: DictConfig) -> None:
    """All checks of a composed config: each key's range, the shared cross-key checks, then
    the algorithm's own.  Raises :class:`~algd_components.config.ConfigError`."""
    spec = get(cfg.algo)
    validate_common(cfg)
    if spec.validate is not None:
        spec.validate(cfg)


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
