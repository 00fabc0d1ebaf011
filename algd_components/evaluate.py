"""Evaluate a trained policy: per-episode return, cost and violation, and a summary.

    python -m algd_components.evaluate outputs/algd/2026-12-02_01-00-00 --episodes 10
    algd-eval RUN --episodes 10 --stochastic --json

The task, episode length, cost limit and discount come from the run's config.  An episode
violates the constraint when its cost exceeds the task's episodic limit (navigation,
safety velocity) or, for the discounted limits of the continuous velocity tasks, when its
discounted cost does.  Episodes are seeded from ``--seed`` (default: the run's
``env.seed + 20000``, apart from the seeds training and its evaluations used).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from torchrl.envs.utils import ExplorationType

from .config import ConfigError
from .console import exit_with
from .envs import episode_cost_limit, get_task, make_env
from .policy import load_policy
from .training.metrics import mark_violations, run_episodes

__all__ = ["evaluate_run", "main"]


def evaluate_run(source, episodes: int = 10, deterministic: bool = True, seed: int | None = None,
                 device: str = "cpu") -> dict:
    """Run ``episodes`` episodes of the policy in ``source``; per-episode rows and a summary."""
    policy = load_policy(source, device=device, deterministic=deterministic)
    cfg = policy.info["config"]
    task = get_task(cfg["env"]["name"])
    steps = cfg["env"]["max_episode_steps"] or task.max_episode_steps
    limit = episode_cost_limit(task, steps, cfg["env"]["cost_limit"])
    seed = cfg["env"]["seed"] + 20_000 if seed is None else seed
    env = make_env(task.name, seed=seed, max_episode_steps=steps)
    try:
        exploration = ExplorationType.DETERMINISTIC if deterministic else ExplorationType.RANDOM
        rows = run_episodes(env, policy, episodes, steps, cfg["optim"]["cost_gamma"], exploration)
    finally:
        env.close()
    measure = mark_violations(rows, limit, task.limit_kind)
    stat = lambda k: {"mean": float(np.mean([r[k] for r in rows])), "std": float(np.std([r[k] for r in rows]))}  # noqa: E731
    summary = {"algo": policy.info["algo"], "task": task.name, "frames": policy.info["frames"], "episodes": episodes,
               "deterministic": deterministic, "seed": seed, "cost_limit": limit, "cost_measure": measure,
               "return": stat("return"), "cost": stat("cost"), "discounted_cost": stat("discounted_cost"),
               "violation_rate": float(np.mean([r["violation"] for r in rows]))}
    return {"episodes": rows, "summary": summary}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="algd-eval", description=__doc__.split("\n")[0])
    p.add_argument("run", help="a run folder (or its checkpoint.pt / policy.pt)")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--stochastic", action="store_true", help="sample actions (default: deterministic)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = p.parse_args(argv)
    if args.episodes < 1:
        print(f"error: --episodes={args.episodes} is not allowed: an integer >= 1", file=sys.stderr)
        return 2
    try:
        from .algorithms.common import pick_device

        pick_device(args.device, key="--device")  # exists and is usable here, before anything is loaded
        result = evaluate_run(args.run, args.episodes, not args.stochastic, args.seed, args.device)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
        return 0
    s = result["summary"]
    print(f"{s['algo']} on {s['task']} after {s['frames']} frames, {'deterministic' if s['deterministic'] else 'stochastic'}, "
          f"seed {s['seed']}; violation: {s['cost_measure'].replace('_', ' ')} > {s['cost_limit']:g}")
    print(f"{'episode':>7} {'return':>10} {'cost':>9} {'disc. cost':>10} {'steps':>6} violated")
    for i, r in enumerate(result["episodes"]):
        print(f"{i:>7} {r['return']:>10.2f} {r['cost']:>9.2f} {r['discounted_cost']:>10.3f} {r['length']:>6} {'yes' if r['violation'] else 'no'}")
    print(f"{'mean':>7} {s['return']['mean']:>10.2f} {s['cost']['mean']:>9.2f} {s['discounted_cost']['mean']:>10.3f}")
    print(f"{'std':>7} {s['return']['std']:>10.2f} {s['cost']['std']:>9.2f} {s['discounted_cost']['std']:>10.3f}")
    print(f"violation rate: {s['violation_rate']:.0%} of {s['episodes']} episodes")
    return 0


def cli() -> None:
    """The ``algd-eval`` console script (its episode table is often piped into ``head``)."""
    exit_with(main)


if __name__ == "__main__":
    cli()
