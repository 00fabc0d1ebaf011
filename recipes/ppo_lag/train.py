"""PPO-Lag, the on-policy baseline: TorchRL's ClipPPOLoss on (A_r - lambda A_c) / (1 + lambda), GAE for
reward and cost, lambda stepped on episode costs.

    python recipes/ppo_lag/train.py env.name=SafetyHopperVelocity-v1 collector.total_frames=100000

Same as ``algd-train algo=ppo_lag``; preset conf/ppo_lag.yaml, builders algd_components/algorithms/ppo_lag.py.
"""
import sys

import hydra

from algd_components.cli import hydra_task, precheck


@hydra.main(config_path="pkg://algd_components.conf", config_name="ppo_lag", version_base="1.3")
def main(cfg) -> None:
    hydra_task(cfg)  # algd_components.train(cfg, Hydra's run folder); a bad value: one line, exit 2


if __name__ == "__main__":
    precheck("ppo_lag", sys.argv[1:])  # checks the config before Hydra creates a run folder
    main()
