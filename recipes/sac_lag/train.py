"""SAC-Lag (lagrangian=standard) and SAC-AugLag (lagrangian=augmented), the ALGD paper's off-policy baselines.

    python recipes/sac_lag/train.py env.name=SafetyHopperVelocity-v1 collector.total_frames=20000

The same as ``algd-train algo=sac_lag ...``.  The config is ``algd_components/conf/sac_lag.yaml`` (presets)
over the schema in ``algd_components/algorithms/``, which also holds the builders; the loop every
algorithm shares is ``algd_components/training/loop.py`` (docs/recipes.md).
"""
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from algd_components import train
from algd_components.cli import exit_on_config_error, precheck


@hydra.main(config_path="pkg://algd_components.conf", config_name="sac_lag", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with exit_on_config_error():  # a bad value: one line, exit status 2
        train(cfg, HydraConfig.get().runtime.output_dir)


if __name__ == "__main__":
    precheck("sac_lag", sys.argv[1:])  # the same checks before Hydra creates a run folder
    main()
