"""What a resume pays to restore the train env: env steps per second of
:func:`algd_components.training.env_replay.replay` (docs/recipes.md, "Resume").

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/replay_time.py [--tasks ...] [--frames 2000] [--json]

For each task: a TorchRL ``Collector`` takes ``--frames`` uniform random actions in the run's train
env (what a run's warm-up does), logged as the loop logs them; then a fresh env and collector,
seeded the same, replay them, checked against the last recorded transition, and timed.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from algd_components.algorithms import algd as recipe
from algd_components.algorithms import compose_config
from algd_components.runs import cpu_description
from algd_components.training import factories
from algd_components.training.env_replay import ActionLog, replay


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="+", default=["SafetyHopperVelocity-v1", "SafetyPointGoal1-v0"])
    p.add_argument("--frames", type=int, default=2000)
    p.add_argument("--json", action="store_true", help="one JSON line per task")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    for task in args.tasks:
        cfg = compose_config("algd", [f"env.name={task}", f"collector.total_frames={args.frames}",
                                      f"collector.frames_per_batch={min(1000, args.frames)}",
                                      f"collector.init_random_frames={args.frames}", "network.device=cpu"])

        def collector(cfg=cfg):
            train_env, _, _, _, _ = factories.make_envs(cfg)
            actor, _, _ = recipe.make_modules(cfg, train_env.observation_spec["observation"].shape[-1],
                                              train_env.action_spec, torch.device("cpu"))
            return factories.make_collector(cfg, train_env, actor, torch.device("cpu"), 0)  # random frames only

        log, first = ActionLog(), collector()
        for batch in first:
            log.append(batch)
        first.shutdown()
        second = collector()
        t0 = time.perf_counter()
        failed = replay(second, [log], args.frames)
        seconds = time.perf_counter() - t0
        second.shutdown()
        row = {"task": task, "frames": args.frames, "replay_s": round(seconds, 3),
               "steps_per_s": round(args.frames / seconds, 1), "matched": failed is None, "cpu": cpu_description()}
        print(json.dumps(row) if args.json else
              f"{task}: {args.frames} steps replayed in {seconds:.2f} s ({row['steps_per_s']} steps/s), "
              f"last transition {'matched' if failed is None else 'DIFFERS: ' + failed}")


if __name__ == "__main__":
    main()
