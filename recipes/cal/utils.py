"""CAL builders: the SAC-Lag ones (:mod:`algd_components.builders`) plus the checks that make
a config CAL rather than SAC-Lag."""
from omegaconf import DictConfig

from algd_components.builders import build_sac, validate_sac
from algd_components.training import require

__all__ = ["validate_cal", "build_sac"]


def validate_cal(cfg: DictConfig) -> None:
    validate_sac(cfg)
    s = cfg.sac
    require(s.rectification_coef > 0, "sac.rectification_coef", s.rectification_coef,
            "a number > 0 for CAL (0 is SAC-Lag: use recipes/sac_lag)")
    require(cfg.lagrangian.get("name") == "standard", "lagrangian", cfg.lagrangian.get("name", cfg.lagrangian),
            "'standard' for CAL (the rectified multiplier already is the augmented-Lagrangian gradient)")
