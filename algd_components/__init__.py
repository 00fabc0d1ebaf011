"""algd-components: TorchRL modules for ALGD (Augmented Lagrangian-Guided Diffusion)."""
from . import functional
from .actor import ScoreNetwork, VESDEActor, VESDEPolicy
from .critics import EnsembleCostValue, TwinQValue
from .dual import DUAL_RULES, DualVariable
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
from .objectives import DUAL_SOURCES, ALGDLoss, AugLagScoreTarget

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
    "DUAL_SOURCES",
    "SACLagLoss",
    "PPOLagLoss",
]
