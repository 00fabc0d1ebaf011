"""How saturated a trained policy's actions are: the share of action entries within 1 % of the
action box's edge (``|a| > 0.99`` on the [-1, 1] boxes of the velocity tasks), over deterministic
evaluation episodes of the run's ``policy.pt`` on its own task — the measure issue #26 names for
the chain-space choice (a pre-squash chain has no restoring force where tanh saturates).

    .venv/bin/python studies/saturation.py RUN [RUN ...] --episodes 3

Writes ``saturation.csv`` (``frames, episodes, steps, share_saturated, seed``) into each run
folder, where ``studies/keep_runs.py`` keeps it, and prints one line per run.  Needs the run's
``policy.pt``, so it runs in the session (and on the machine) that trained the run.
"""
import argparse
import csv
from pathlib import Path

import torch
from torchrl.envs.utils import ExplorationType, set_exploration_type

from algd_components import load_policy
from algd_components.envs import get_task, make_env


def saturation(run: Path, episodes: int, seed: int | None = None) -> dict:
    policy = load_policy(run, deterministic=True)
    cfg = policy.info["config"]
    task = get_task(cfg["env"]["name"])
    steps = cfg["env"]["max_episode_steps"] or task.max_episode_steps
    seed = cfg["env"]["seed"] + 30_000 if seed is None else seed
    env = make_env(task.name, seed=seed, max_episode_steps=steps)
    low, high = env.action_spec.space.low, env.action_spec.space.high
    edge = 0.99  # of the half-width, around the box's centre
    near, total = 0, 0
    try:
        with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
            for _ in range(episodes):
                td = env.rollout(steps, policy)
                a = (td["action"] - (high + low) / 2) / ((high - low) / 2)  # in [-1, 1]
                near += int((a.abs() > edge).sum())
                total += a.numel()
    finally:
        env.close()
    return {"frames": policy.info["frames"], "episodes": episodes, "steps": total // env.action_spec.shape[-1],
            "share_saturated": near / total, "seed": seed}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--episodes", type=int, default=3)
    args = p.parse_args()
    for run in map(Path, args.runs):
        row = saturation(run, args.episodes)
        with open(run / "saturation.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            w.writeheader()
            w.writerow(row)
        print(f"{run}: {row['share_saturated']:.3f} of action entries with |a| > 0.99 "
              f"({row['episodes']} episodes, {row['steps']} steps, {row['frames']} frames)")


if __name__ == "__main__":
    main()
