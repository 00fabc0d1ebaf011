"""CAL — conservative augmented Lagrangian (Wu et al. 2024), built from the SAC-Lag parts.

    python recipes/cal/train.py env.name=SafetyHalfCheetahVelocity-v1 collector.total_frames=20000

CAL is SACLagLoss with a UCB cost estimate (``sac.cost_risk_coef``), the rectified multiplier
(``sac.rectification_coef``) and the log-λ Adam dual step; its builders are the SAC ones
(:mod:`algd_components.builders`), its config is config.yaml, and the loop is the one every
recipe shares (algd_components/trainer.py). docs/recipes.md says what was followed.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from algd_components.trainer import load_sibling, recipe_main, train_off_policy

utils = load_sibling(__file__, "utils")  # this recipe's builders


def train(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train CAL as ``cfg`` says; write config.yaml, metrics.csv and checkpoint.pt to ``run_dir``."""
    return train_off_policy(cfg, run_dir, utils.validate_cal, utils.build_sac)


if __name__ == "__main__":
    recipe_main(__file__, utils.validate_cal, utils.build_sac)
