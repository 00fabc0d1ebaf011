"""algd-components: TorchRL modules for ALGD (Augmented Lagrangian-Guided Diffusion).

Three ways in: train an algorithm (``algd-train algo=algd ...`` or :func:`train` with
:func:`compose_config`), import one loss module (:class:`AugLagScoreTarget`, :class:`ALGDLoss`,
:class:`SACLagLoss`, ...), or register your own Lagrangian (:func:`register_lagrangian`) or
algorithm (:func:`algorithms.register`).  :func:`load_policy` loads a trained policy.
"""
from . import functional
from .actor import ScoreNetwork, VESDEActor, VESDEPolicy
from .critics import EnsembleCostValue, TwinQValue
from .dual import DUAL_RULES, DUAL_SOURCES, DualVariable, step_dual
from .lagrangians import (
    LAGRANGIANS,
    AugmentedLagrangian,
    Lagrangian,
    StandardLagrangian,
    make_lagrangian,
    register_lagrangian,
)
from .nn import EnsembleLinear, EnsembleMLP
from .baselines import PPOLagLoss, SACLagLoss
from .objectives import ALGDLoss, AugLagScoreTarget, CostCriticMixin
from . import algorithms
from .config import ConfigError, compose_config
from .policy import load_policy
from .training import train

__version__ = "0.1.0"

__all__ = [
    "functional",
    "ScoreNetwork",
    "VESDEActor",
    "VESDEPolicy",
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
