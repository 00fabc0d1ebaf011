"""Proof that a refactor changed no result: tiny fixed-seed CPU runs of every algorithm family
(and of two stacked seeds), written by the code on ``PYTHONPATH`` into ``OUT/LABEL``, then
compared with another label's: ``metrics.csv`` and ``episodes.csv`` must be identical, the
time columns aside.

    PYTHONPATH=/path/to/old/checkout .venv/bin/python studies/fixed_seed_check.py run /tmp/fixed before
    .venv/bin/python studies/fixed_seed_check.py run /tmp/fixed after
    .venv/bin/python studies/fixed_seed_check.py compare /tmp/fixed before after

One math thread (float reductions then do not depend on the thread count), PointGoal1, 600 frames.
"""
import argparse
import csv
import os
import sys
from pathlib import Path

from algd_components.training.metrics import TIME_COLUMNS

TINY = ["env.name=SafetyPointGoal1-v0", "env.seed=3", "collector.total_frames=600", "collector.init_random_frames=200",
        "collector.frames_per_batch=100", "logger.eval_iter=300", "logger.eval_episodes=1", "checkpoint.interval=300",
        "env.max_episode_steps=100", "optim.batch_size=32", "network.critic_hidden=[32,32]", "network.device=cpu",
        "progress_bar=false", "replay_buffer.size=5000", "system.num_threads=1"]
ALGD = ["algd.mc_samples=2", "algd.ensemble_size=2", "network.actor_hidden=[32,32]"]
SAC = ["sac.ensemble_size=2", "sac.actor_hidden=[32,32]"]
RUNS = {  # label: (algorithm, overrides, seeds)
    "algd": ("algd", ALGD, None),
    "algd_ddpm": ("algd", [*ALGD, "algd.actor=ddpm"], None),
    "algd_released_schedule": ("algd", [*ALGD, "schedule=released", "collector.init_random_frames=200",
                                        "replay_buffer.min_size=100"], None),
    "lgd": ("lgd", ALGD, None),
    "sac_lag": ("sac_lag", SAC, None),
    "cal": ("cal", SAC, None),
    "ppo_lag": ("ppo_lag", ["collector.frames_per_batch=200", "collector.init_random_frames=0", "ppo.epochs=2"], None),
    "sac_lag_stacked": ("sac_lag", SAC, [3, 4]),
}


def run(out: Path) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from algd_components import compose_config, train
    from algd_components.training.seeds import train_seeds

    for label, (algo, overrides, seeds) in RUNS.items():
        cfg = compose_config(algo, [*TINY, *overrides])
        if seeds is None:
            train(cfg, out / label)
        else:
            train_seeds(cfg, seeds, [out / label / f"seed{s}" for s in seeds])
        print(f"[fixed-seed] {label} done", flush=True)


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in csv.DictReader(f)]


def compare(root: Path, a: str, b: str) -> int:
    bad = 0
    for path in sorted([*(root / a).rglob("metrics.csv"), *(root / a).rglob("episodes.csv")]):
        other = root / b / path.relative_to(root / a)
        same = other.exists() and rows(path) == rows(other)
        bad += not same
        print(f"{'identical' if same else 'DIFFERENT'}: {path.relative_to(root / a)}")
    return 1 if bad else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["run", "compare"])
    p.add_argument("root")
    p.add_argument("labels", nargs="+")
    args = p.parse_args()
    if args.what == "run":
        run(Path(args.root) / args.labels[0])
    else:
        sys.exit(compare(Path(args.root), *args.labels[:2]))


if __name__ == "__main__":
    main()
