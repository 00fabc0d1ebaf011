"""Frames per second of collection alone at several ``collector.frames_per_batch``: what it costs to
interleave updates with collection finely (``schedule=released`` collects one frame per batch).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/collection_granularity.py [--task SafetyPointGoal1-v0]

TorchRL's ``Collector`` with an untrained ALGD (VE-SDE) actor, no updates, one env, one thread;
``update_policy_weights_`` after every batch as the training loop calls it; then a bare
``env.step`` loop with the same actor for reference.
"""
from __future__ import annotations

import argparse
import time

import torch
from torchrl.envs.utils import step_mdp

from algd_components.algorithms import algd as recipe
from algd_components.algorithms import compose_config
from algd_components.runs import cpu_description
from algd_components.training import factories


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="SafetyPointGoal1-v0")
    p.add_argument("--frames", type=int, default=2000)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 10, 100, 1000])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    device = torch.device("cpu")
    for fpb in args.batches:
        warm = fpb * max(1, 100 // fpb)
        cfg = compose_config("algd", [f"env.name={args.task}", f"collector.total_frames={args.frames + warm}",
                                      f"collector.frames_per_batch={fpb}", "collector.init_random_frames=0",
                                      "optim.batch_size=1", "network.device=cpu"])
        env = factories.make_batched_env(args.task, 1, "serial", 0, cfg.env.max_episode_steps or 1000)
        actor, _, _ = recipe.make_modules(cfg, env.observation_spec["observation"].shape[-1], env.action_spec, device)
        collector = factories.make_collector(cfg, env, actor, device, 0)
        try:
            it = iter(collector)
            for _ in range(warm // fpb):  # env reset, first allocations
                next(it)
            t0, n = time.perf_counter(), 0
            for data in it:
                n += data.numel()
                collector.update_policy_weights_()
            print(f"{args.task} frames_per_batch={fpb}: {n / (time.perf_counter() - t0):.0f} frames/s ({n} frames)", flush=True)
        finally:
            collector.shutdown()
    env = factories.make_batched_env(args.task, 1, "serial", 0, 1000)
    td, t0 = env.reset(), time.perf_counter()
    with torch.no_grad():
        for _ in range(args.frames):
            td = step_mdp(env.step(actor(td)))
            if td["done"].any():
                td = env.reset()
    print(f"{args.task} bare env.step loop: {args.frames / (time.perf_counter() - t0):.0f} frames/s")
    print(cpu_description())


if __name__ == "__main__":
    main()
