"""ALGD (Augmented Lagrangian-Guided Diffusion) on Safety-Gymnasium and velocity-constrained MuJoCo.

    python recipes/algd/train.py env.name=SafetyHalfCheetahVelocity-v1 collector.total_frames=20000
    python recipes/algd/train.py lagrangian=standard      # LGD, the paper's ablation
    python recipes/algd/train.py algd=paper               # the paper's choices instead of the released code's

What ``make train`` runs; the same as ``algd-train algo=algd``.  Presets: algd_components/conf/algd.yaml
and conf/algd/{code,paper}.yaml; schema and builders: algd_components/algorithms/algd.py; the loop:
algd_components/training/loop.py (docs/recipes.md).
"""
import sys

import hydra

from algd_components.cli import hydra_task, precheck


@hydra.main(config_path="pkg://algd_components.conf", config_name="algd", version_base="1.3")
def main(cfg) -> None:
    hydra_task(cfg)  # algd_components.train(cfg, Hydra's run folder); a bad value: one line, exit 2


if __name__ == "__main__":
    precheck("algd", sys.argv[1:])  # checks the config before Hydra creates a run folder
    main()
