"""SAC-Lag (lagrangian=standard) and SAC-AugLag (lagrangian=augmented), the ALGD paper's baselines.

    python recipes/sac_lag/train.py env.name=SafetyHalfCheetahVelocity-v1 collector.total_frames=20000

The SAC-Lag builders are in utils.py, the config in config.yaml, and the loop every recipe shares
in algd_components/trainer.py (see docs/recipes.md).
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from algd_components.trainer import load_sibling, recipe_main, train_off_policy

utils = load_sibling(__file__, "utils")  # this recipe's builders


def train(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train SAC-Lag as ``cfg`` says; write config.yaml, metrics.csv and checkpoint.pt to ``run_dir``."""
    return train_off_policy(cfg, run_dir, utils.validate_sac, utils.build_sac)


if __name__ == "__main__":
    recipe_main(__file__, utils.validate_sac, utils.build_sac)
