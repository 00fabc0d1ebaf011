"""A sweep of runs on one machine, serially against ``algd-compare --jobs J``: the sweep's wall time
and each run's own ``wall_time_s``, for each J, in interleaved rounds (docs/scaling.md).

    .venv/bin/python benchmarks/jobs_sweep.py --jobs 1 2 --rounds 2 --json

Each sweep runs through the ``algd-compare`` console script beside this Python, into a fresh
temporary folder (deleted after): ALGD with the recipe's default sizes on ``--task``, seeds 0 to
``--seeds - 1``, ``--frames`` frames each (a multiple of 4, at least 512: the first half random,
in batches of a quarter, so that the buffer holds a 256-transition batch before the first update),
one evaluation episode at the middle and at the end. ``system.num_threads`` is left at its default,
and the thread variables of this shell (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``ALGD_PARALLEL_JOBS``)
are not passed on, so ``--jobs J`` gives each run cores ÷ J torch threads, as a user's command does.
Round r runs the J values in the given order, reversed in every second round, so that a drift of the
machine does not favour one J. ``sweep_wall_s``: the command's wall time (start-up, build, envs and the
figure included); ``run_wall_time_s``: each run's last ``wall_time_s`` (``metrics.csv``, by column
name); ``load_before`` / ``load_after``: the 1-minute load average around the sweep (read the times
only where it stayed under the core count). ``--json``: one line ``{"results": [...], "settings": {...}}``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from algd_components.runs import column_table, cpu_description

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ALGD_PARALLEL_JOBS")


def sweep(jobs: int, task: str, seeds: int, frames: int) -> dict:
    half = frames // 2
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    with tempfile.TemporaryDirectory() as out:
        argv = [str(Path(sys.executable).parent / "algd-compare"), "--algos", "algd", "--tasks", task,
                "--seeds", *map(str, range(seeds)), "--out", out, "--jobs", str(jobs), "--set",
                f"collector.total_frames={frames}", f"collector.init_random_frames={half}",
                f"collector.frames_per_batch={half // 2}", f"logger.eval_iter={half}", "logger.eval_episodes=1",
                f"checkpoint.interval={frames}"]
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"jobs_sweep: algd-compare --jobs {jobs} failed: {(done.stderr.strip() or '?').splitlines()[-1]}")
        runs = [Path(out) / "algd" / task / f"seed{s}" for s in range(seeds)]
        per_run = [float(row[1]) for row in column_table(runs, ["wall_time_s"], last=True)]
    return {"jobs": jobs, "sweep_wall_s": round(wall, 1), "run_wall_time_s": [round(x, 1) for x in per_run],
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=1, help="interleaved rounds; every second one runs the J values reversed")
    p.add_argument("--task", default="SafetyHopperVelocity-v1")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--frames", type=int, default=2000)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.frames % 4 or args.frames < 512:
        p.error(f"--frames={args.frames}: a multiple of 4, at least 512 (half random, in batches of a quarter, "
                "before a 256-transition batch)")
    if min(args.jobs) < 1 or args.rounds < 1 or args.seeds < 1:
        p.error("--jobs, --rounds and --seeds take positive integers")
    results = []
    for r in range(args.rounds):
        for j in (args.jobs if r % 2 == 0 else args.jobs[::-1]):
            results.append({"round": r, **sweep(j, args.task, args.seeds, args.frames)})
            if not args.json:
                print(results[-1], flush=True)
    settings = {**{k: v for k, v in vars(args).items() if k != "json"}, "cores": os.cpu_count(),
                "machine": platform.machine(), **cpu_description()}
    if args.json:
        print(json.dumps({"results": results, "settings": settings}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
