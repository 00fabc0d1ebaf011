"""What an algorithm is to the training machinery, and the registry that names them.

An algorithm is a config schema (a :class:`~algd_components.config.TrainConfig` subclass
stored in Hydra's ConfigStore, plus a YAML preset in ``algd_components/conf``) and two
builders: ``build(cfg, obs_dim, action_spec, cost_limit, device) -> Algorithm`` for
training, and ``make_policy(cfg, obs_dim, action_spec) -> TensorDictModule`` for loading
a trained policy without the rest.  :func:`register` adds one under a name;
``algd-train algo=NAME``, ``compare --algos NAME`` and :func:`~algd_components.load_policy`
find it through :func:`get`, the same way a Lagrangian is found by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

__all__ = ["Algorithm", "AlgorithmSpec", "register", "get", "names", "ENTRY_POINT_GROUP"]

# other packages add algorithms by declaring entry points in this group (name = module or
# callable that registers them); they are loaded the first time a name is not found
ENTRY_POINT_GROUP = "algd_components.algorithms"


@dataclass
class Algorithm:
    """What ``build`` returns: the acting policy, the loss (with ``dual`` and ``step_dual``),
    its target-network updater and its optimisers.

    ``learn`` (on-policy algorithms): ``learn(batch, episode_cost=, episode_cost_limit=, guard=) ->
    (loss_td, n_updates)`` on each collected batch, in place of replay-buffer updates.
    ``update`` (off-policy): ``update(batch, episode_cost=, episode_cost_limit=, guard=) -> loss_td``
    for one replay batch; ``None`` means :func:`~algd_components.updates.update_step`.  ``guard``
    is the loop's :class:`~algd_components.updates.NonFiniteGuard`: pass it to ``update_step``
    (or call its ``check``) once per update.
    """

    policy: torch.nn.Module
    loss: torch.nn.Module
    target_updater: object
    optimizers: dict
    learn: Callable | None = None
    update: Callable | None = None


@dataclass(frozen=True)
class AlgorithmSpec:
    """A registered algorithm.

    Attributes:
        name: what ``algo=`` selects.
        config: the primary config to compose (a YAML file in ``algd_components/conf`` or a
            node in Hydra's ConfigStore); its schema must extend ``TrainConfig``.
        build: ``(cfg, obs_dim, action_spec, cost_limit, device) -> Algorithm``.
        make_policy: ``(cfg, obs_dim, action_spec) -> TensorDictModule`` (the acting policy
            alone, as ``build`` makes it: what a policy file's weights load into).
        validate: checks across keys that the schema's per-key ranges cannot express;
            raises :class:`~algd_components.config.ConfigError`.
        overrides: config overrides that make this variant (``lgd`` is ``algd`` with
            ``lagrangian=standard``).
        description: one line for listings.
    """

    name: str
    config: str
    build: Callable
    make_policy: Callable
    validate: Callable | None = None
    overrides: tuple[str, ...] = ()
    description: str = ""


_REGISTRY: dict[str, AlgorithmSpec] = {}
_entry_points_loaded = False


def register(name: str, *, config: str, build: Callable, make_policy: Callable, validate: Callable | None = None,
             overrides: Sequence[str] = (), description: str = "", replace: bool = False) -> AlgorithmSpec:
    """Make an algorithm selectable as ``name`` (see :class:`AlgorithmSpec` for the fields).

    Re-registering a name raises unless ``replace=True``.
    """
    if not isinstance(name, str) or not name or "=" in name or " " in name:
        raise ValueError(f"algorithm name must be a non-empty word, got {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"algorithm {name!r} is already registered (pass replace=True to redefine it)")
    for what, fn in (("build", build), ("make_policy", make_policy)):
        if not callable(fn):
            raise TypeError(f"{what} must be callable, got {fn!r}")
    spec = AlgorithmSpec(name, config, build, make_policy, validate, tuple(overrides), description)
    _REGISTRY[name] = spec
    return spec


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        if callable(loaded):
            loaded()


def get(name: str) -> AlgorithmSpec:
    """The algorithm registered as ``name``; an unknown name raises
    :class:`~algd_components.config.ConfigError` listing the registered ones."""
    from ..config import ConfigError

    if name not in _REGISTRY:
        _load_entry_points()
    if name not in _REGISTRY:
        raise ConfigError(f"algo={name!r} is not allowed: one of {names()} "
                          "(or register your own: algd_components.algorithms.register; for algd-train and "
                          "algd-compare, in an entry point of the group algd_components.algorithms: docs/components.md)")
    return _REGISTRY[name]


def names() -> list[str]:
    """Registered algorithm names (those of installed plugins' entry points too), sorted."""
    _load_entry_points()
    return sorted(_REGISTRY)
