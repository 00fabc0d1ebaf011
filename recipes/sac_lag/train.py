"""SAC-Lag and SAC-AugLag, the ALGD paper's off-policy baselines: TorchRL's SACLoss with a Lagrangian energy.

    python recipes/sac_lag/train.py env.name=SafetyHopperVelocity-v1                       # SAC-Lag
    python recipes/sac_lag/train.py env.name=SafetyHopperVelocity-v1 lagrangian=augmented  # SAC-AugLag

Same as ``algd-train algo=sac_lag`` / ``algo=sac_auglag``; preset conf/sac_lag.yaml, schema and
builders in algd_components/algorithms/sac.py.
"""
import sys

import hydra

from algd_components.cli import hydra_task, precheck


@hydra.main(config_path="pkg://algd_components.conf", config_name="sac_lag", version_base="1.3")
def main(cfg) -> None:
    hydra_task(cfg)  # algd_components.train(cfg, Hydra's run folder); a bad value: one line, exit 2


if __name__ == "__main__":
    precheck("sac_lag", sys.argv[1:])  # checks the config before Hydra creates a run folder
    main()
