"""Stacked seeds (env.num_seeds=S): aggregate frames/s end to end on a real task, and the
update's rate, for each S, measured back to back in one invocation.

    .venv/bin/python benchmarks/seeds_throughput.py --num-seeds 1 2 4 8 --json

For each S:
* ``aggregate_frames_per_s``: the frames per second of all S seeds together while learning,
  from ``algd_components.train`` with ``env.num_seeds=S`` (S=1: the plain single-seed loop),
  ALGD, the released-code preset, batch 256, N=6, M=6, on ``--task``: collection, one update
  per frame and one short evaluation, as the run's own metrics.csv reports them (``wall_s``:
  the whole run, build and random frames included).
* ``updates_per_s`` (stacked updates, each of all S seeds) and ``seed_updates_per_s``
  (``S ×`` that) of the vmapped update alone on synthetic batches, with the single-seed
  ``update_step`` beside S=1, and the FLOPs of one seed's update (an S-stacked update does S×).
``--json`` ends with one line ``{"results": [...], "settings": {...}}``.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import functools
import time

import torch
from torchrl.data import Bounded

from algd_components import algorithms
from algd_components.algorithms import compose_config
from profiling import GlobalFlopCounter, cpu_description, median_ms
from algd_components.stacked import StackedLosses, StackedSoftUpdate, VmappedLoss, stack_optimizers
from algd_components.training import train
from algd_components.updates import update_step
from update_throughput import random_transitions  # benchmarks/

SIZES = ["optim.batch_size=256", "algd.mc_samples=6", "algd.ensemble_size=6", "network.device=cpu"]


def update_rates(num_seeds: int, obs_dim: int, act_dim: int, repeats: int, warmup: int) -> dict:
    """The stacked update's time for ``num_seeds`` seeds (and, for 1, the plain update_step's)."""
    cfg = compose_config("algd", SIZES)
    spec, device = Bounded(-1, 1, shape=(act_dim,)), torch.device("cpu")
    algos = []
    for s in range(num_seeds):
        torch.manual_seed(s)
        algos.append(algorithms.get("algd").build(cfg, obs_dim, spec, 2.5, device))
    stack = StackedLosses([a.loss for a in algos])
    update = functools.partial(update_step, VmappedLoss(stack), stack_optimizers(stack, algos[0].optimizers),
                               StackedSoftUpdate(stack, algos[0].target_updater))  # as the training loop runs S seeds
    batch = torch.stack([random_transitions(cfg.optim.batch_size, obs_dim, act_dim, torch.Generator().manual_seed(s))
                         for s in range(num_seeds)])
    ms, _ = median_ms(lambda: update(batch), device, repeats, warmup)
    out = {"stacked_update_ms": round(ms, 2), "updates_per_s": round(1e3 / ms, 3),
           "seed_updates_per_s": round(num_seeds * 1e3 / ms, 3)}
    if num_seeds == 1:
        torch.manual_seed(0)
        a = algorithms.get("algd").build(cfg, obs_dim, spec, 2.5, device)
        single = batch[0]
        ms1, _ = median_ms(lambda: update_step(a.loss, a.optimizers, a.target_updater, single), device, repeats, warmup)
        counter = GlobalFlopCounter()
        with counter:
            update_step(a.loss, a.optimizers, a.target_updater, single)
        out.update(single_seed_update_ms=round(ms1, 2), flops_per_seed_update=counter.get_total_flops())
    return out


def aggregate_frames(num_seeds: int, task: str, frames: int, batch: int, init: int) -> dict:
    """End to end: one training run of ``num_seeds`` stacked seeds (the plain loop for 1):
    ``init`` random frames, then ``frames`` frames at one update each.  The rate is the run's
    own ``frames_per_s`` over the learning phase (its second metrics row: collection, updates
    and one short evaluation episode), summed over the seeds."""
    import csv
    from pathlib import Path

    cfg = compose_config("algd", [*SIZES, f"env.name={task}", f"env.num_seeds={num_seeds}",
                                  f"collector.total_frames={init + frames}", f"collector.frames_per_batch={batch}",
                                  f"collector.init_random_frames={init}", f"logger.eval_iter={init}",
                                  "logger.eval_episodes=1", "env.max_episode_steps=200",
                                  f"checkpoint.interval={init + frames}", "progress_bar=false", "logger.backend="])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train(cfg, tmp)
        elapsed = time.perf_counter() - t0
        dirs = [Path(tmp)] if num_seeds == 1 else sorted(Path(tmp).glob("seed*"))
        rates = []
        for d in dirs:
            with open(d / "metrics.csv") as f:
                rates.append(float(list(csv.DictReader(f))[-1]["frames_per_s"]))
    return {"wall_s": round(elapsed, 1), "aggregate_frames_per_s": round(sum(rates), 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--num-seeds", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--frames", type=int, default=200, help="frames per seed with updates in each end-to-end run")
    p.add_argument("--init-frames", type=int, default=300, help="random frames per seed before them (>= batch 256)")
    p.add_argument("--frames-per-batch", type=int, default=50)
    p.add_argument("--task", default="SafetyHopperVelocity-v1")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--skip-frames", action="store_true", help="the update rates only")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if any(s < 1 for s in args.num_seeds) or args.frames < args.frames_per_batch:
        p.error(f"--num-seeds must be >= 1 and --frames at least --frames-per-batch, got {args.num_seeds}, {args.frames}")
    if args.threads:
        torch.set_num_threads(args.threads)
    from algd_components.allocator import retain_freed_memory

    retain_freed_memory()  # as training sets it up (system.retain_freed_memory, on by default)
    from algd_components.envs import make_env

    env = make_env(args.task)
    obs_dim, act_dim = env.observation_spec["observation"].shape[-1], env.action_spec.shape[-1]
    env.close()
    results = []
    for s in args.num_seeds:
        row = {"num_seeds": s, **update_rates(s, obs_dim, act_dim, args.repeats, args.warmup)}
        if not args.skip_frames:
            row.update(aggregate_frames(s, args.task, args.frames, args.frames_per_batch, args.init_frames))
        results.append(row)
        if not args.json:
            print(row, flush=True)
    flops = next((r["flops_per_seed_update"] for r in results if "flops_per_seed_update" in r), None)
    for r in results:
        if flops is not None:
            r["flops_per_update"] = r["num_seeds"] * flops
    base = next((r for r in results if r["num_seeds"] == 1), None)
    if base is not None:
        for r in results:
            if "aggregate_frames_per_s" in r:
                r["frames_speedup_vs_1"] = round(r["aggregate_frames_per_s"] / base["aggregate_frames_per_s"], 3)
            # against the plain single-seed update_step, what one seed alone runs
            r["seed_updates_speedup_vs_1"] = round(r["seed_updates_per_s"] * base["single_seed_update_ms"] / 1e3, 3)
    settings = {**{k: v for k, v in vars(args).items() if k != "json"}, "obs_dim": obs_dim, "act_dim": act_dim,
                "batch_size": 256, "mc_samples": 6, "ensemble_size": 6, "torch_threads": torch.get_num_threads(),
                "torch": torch.__version__, "machine": platform.machine(), **cpu_description()}
    print(json.dumps({"results": results, "settings": settings}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
