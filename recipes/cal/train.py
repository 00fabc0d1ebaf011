"""CAL (Wu et al. 2024), conservative augmented Lagrangian, from the SAC-Lag parts: a UCB cost
estimate, the rectified multiplier and a log-lambda Adam dual step (docs/recipes.md says what
follows the CAL code).

    python recipes/cal/train.py env.name=SafetyPointGoal1-v0 collector.total_frames=20000

Same as ``algd-train algo=cal``; preset conf/cal.yaml.
"""
import sys

import hydra

from algd_components.cli import hydra_task, precheck


@hydra.main(config_path="pkg://algd_components.conf", config_name="cal", version_base="1.3")
def main(cfg) -> None:
    hydra_task(cfg)  # algd_components.train(cfg, Hydra's run folder); a bad value: one line, exit 2


if __name__ == "__main__":
    precheck("cal", sys.argv[1:])  # checks the config before Hydra creates a run folder
    main()
