"""PPO-Lagrangian (on-policy), the ALGD paper's on-policy baseline.

    python recipes/ppo_lag/train.py env.name=SafetyHalfCheetahVelocity-v1 collector.total_frames=100000

TorchRL's ClipPPOLoss on the advantage (A_r - λ A_c) / (1 + λ), GAE for reward and cost, λ
from a DualVariable stepped on recent episode costs (algd_components.PPOLagLoss). Builders in
utils.py, config in config.yaml, the loop shared with every recipe in algd_components/trainer.py.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from algd_components.trainer import load_sibling, recipe_main, train_loop

utils = load_sibling(__file__, "utils")  # this recipe's builders


def train(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train PPO-Lag as ``cfg`` says; write config.yaml, metrics.csv and checkpoint.pt to ``run_dir``."""
    return train_loop(cfg, run_dir, utils.validate_ppo, utils.build_ppo_lag)


if __name__ == "__main__":
    recipe_main(__file__, utils.validate_ppo, utils.build_ppo_lag)
