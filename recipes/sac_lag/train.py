"""SAC-Lag (lagrangian=standard) and SAC-AugLag (lagrangian=augmented), the ALGD paper's baselines.

    python recipes/sac_lag/train.py env.name=SafetyHalfCheetahVelocity-v1 collector.total_frames=20000

The SAC-Lag builders are in utils.py, the config in config.yaml, and the loop every recipe shares
in algd_components/trainer.py (see docs/recipes.md).
"""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from algd_components.trainer import load_sibling, train_off_policy
from algd_components.training import ConfigError

utils = load_sibling(__file__, "utils")  # this recipe's builders


def train(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train SAC-Lag as ``cfg`` says; write config.yaml, metrics.csv and checkpoint.pt to ``run_dir``."""
    return train_off_policy(cfg, run_dir, utils.validate_sac, utils.build_sac)


@hydra.main(config_path=".", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    try:
        train(cfg, HydraConfig.get().runtime.output_dir)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
