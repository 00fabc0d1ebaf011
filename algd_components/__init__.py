"""algd-components: TorchRL modules for ALGD (Augmented Lagrangian-Guided Diffusion).

Three ways in: train an algorithm (``algd-train algo=algd ...`` or :func:`train` with
:func:`compose_config`), import one loss module (:class:`AugLagScoreTarget`, :class:`ALGDLoss`,
:class:`SACLagLoss`, ...), or register your own Lagrangian (:func:`register_lagrangian`) or
algorithm (:func:`algorithms.register`).  :func:`load_policy` loads a trained policy.
"""
from __future__ import annotations

import importlib

# public name -> the submodule that defines it; imported on first use (PEP 562), so that
# ``import algd_components.functional`` costs torch only, and no Hydra or TorchRL collectors
_LAZY = {
    "ScoreNetwork": "actor", "VESDEActor": "actor", "VESDEPolicy": "actor", "DDPMActor": "actor", "DDPMPolicy": "actor",
    "EnsembleCostValue": "critics", "TwinQValue": "critics",
    "DualVariable": "dual", "DUAL_RULES": "dual", "DUAL_SOURCES": "dual", "step_dual": "dual",
    "Lagrangian": "lagrangians", "StandardLagrangian": "lagrangians", "AugmentedLagrangian": "lagrangians",
    "LAGRANGIANS": "lagrangians", "make_lagrangian": "lagrangians", "register_lagrangian": "lagrangians",
    "EnsembleLinear": "nn", "EnsembleMLP": "nn",
    "AugLagScoreTarget": "objectives", "ALGDLoss": "objectives", "CostCriticMixin": "objectives",
    "SACLagLoss": "baselines", "PPOLagLoss": "baselines",
    "ConfigError": "config", "compose_config": "algorithms",
    "train": "training", "load_policy": "policy",
}
_SUBMODULES = ("functional", "algorithms")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY, *_SUBMODULES])


__version__ = "0.1.0"

__all__ = [
    "functional",
    "ScoreNetwork",
    "VESDEActor",
    "VESDEPolicy",
    "DDPMActor",
    "DDPMPolicy",
    "EnsembleCostValue",
    "TwinQValue",
    "DualVariable",
    "DUAL_RULES",
    "DUAL_SOURCES",
    "step_dual",
    "Lagrangian",
    "StandardLagrangian",
    "AugmentedLagrangian",
    "LAGRANGIANS",
    "make_lagrangian",
    "register_lagrangian",
    "EnsembleLinear",
    "EnsembleMLP",
    "AugLagScoreTarget",
    "ALGDLoss",
    "CostCriticMixin",
    "SACLagLoss",
    "PPOLagLoss",
    "algorithms",
    "ConfigError",
    "compose_config",
    "train",
    "load_policy",
]
