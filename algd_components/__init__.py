"""algd-components: TorchRL modules for ALGD (Augmented Lagrangian-Guided Diffusion).

Three ways in: train an algorithm (``algd-train algo=algd ...`` or :func:`train` with
:func:`compose_config`), import one loss module (:class:`AugLagScoreTarget`, :class:`ALGDLoss`,
:class:`SACLagLoss`, ...), or register your own Lagrangian (:func:`register_lagrangian`) or
algorithm (:func:`algorithms.register`).  :func:`load_policy` loads a trained policy.
"""
def _quiet_start() -> None:
    """Drop gymnasium-robotics' import-time notice (a plain print to stderr, once per process
    and env worker) at its source: gymnasium prints what ``farama_notifications`` holds for
    its plugins.  Env workers import this package before they build an env, so it holds there too."""
    try:
        import farama_notifications

        farama_notifications.notifications.pop("gymnasium_robotics", None)
    except Exception:  # not installed, or a different layout: nothing to silence
        pass


_quiet_start()

from . import functional  # noqa: E402
from .actor import DDPMActor, DDPMPolicy, ScoreNetwork, VESDEActor, VESDEPolicy  # noqa: E402
from .critics import EnsembleCostValue, TwinQValue  # noqa: E402
from .dual import DUAL_RULES, DUAL_SOURCES, DualVariable, step_dual  # noqa: E402
from .lagrangians import (
    LAGRANGIANS,
    AugmentedLagrangian,
    Lagrangian,
    StandardLagrangian,
    make_lagrangian,
    register_lagrangian,
)
from .nn import EnsembleLinear, EnsembleMLP  # noqa: E402
from .baselines import PPOLagLoss, SACLagLoss  # noqa: E402
from .objectives import ALGDLoss, AugLagScoreTarget, CostCriticMixin  # noqa: E402
from . import algorithms  # noqa: E402
from .config import ConfigError, compose_config  # noqa: E402
from .policy import load_policy  # noqa: E402
from .training import train  # noqa: E402

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
