"""Frames per second of the ALGD recipe: collection alone, end to end, and actor latency.

    .venv/bin/python benchmarks/frames_throughput.py                       # both tasks, 1/2/4 envs
    .venv/bin/python benchmarks/frames_throughput.py --tasks SafetyHalfCheetahVelocity-v1 --num-envs 1 --json

* collection: TorchRL ``Collector`` stepping the env(s) with the VES-DE actor (no updates);
* end to end: ``algd_components.train()`` for ``--e2e-frames`` frames after
  ``--e2e-random`` random ones, reporting frames/s and the fraction of wall time in updates
  (from its metrics.csv);
* actor latency: one stochastic K-step sample for a batch of 1 and of ``num_envs``.

``--collection sync async`` runs the end-to-end measurement both in-process and with
``collector.async_collection=true`` (a worker process collects while the updates run),
back to back, one row each.  ``--set KEY=VALUE ...`` adds recipe overrides, e.g.
``--set system.retain_freed_memory=false`` (one process per allocator setting: it cannot be
undone once a run has applied it).
"""
from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time

import torch
from tensordict import TensorDict

from algd_components import train
from algd_components.algorithms import algd as recipe
from algd_components.algorithms.common import pick_device
from algd_components.algorithms import compose_config
from algd_components.config import ConfigError
from profiling import cpu_description, median_ms
from algd_components.training import factories



def collection_fps(cfg, frames: int, device) -> float:
    env = factories.make_batched_env(cfg.env.name, cfg.env.num_envs, cfg.env.vectorize, cfg.env.seed, cfg.env.max_episode_steps or 1000)
    actor, _, _ = recipe.make_modules(cfg, env.observation_spec["observation"].shape[-1], env.action_spec, device)
    per_batch = 100 * cfg.env.num_envs
    collector = factories.make_collector(
        compose_config("algd", [f"env.name={cfg.env.name}", f"collector.total_frames={frames + per_batch}",
                               f"collector.frames_per_batch={per_batch}", "collector.init_random_frames=0"]),
        env, actor, device, 0)
    try:
        it = iter(collector)
        next(it)  # warm-up batch (env reset, first allocations)
        t0, n = time.perf_counter(), 0
        for data in it:
            n += data.numel()
        return n / (time.perf_counter() - t0)
    finally:
        collector.shutdown()


def end_to_end(overrides, frames: int, random_frames: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        cfg = compose_config("algd", [*overrides, f"collector.total_frames={random_frames + frames}",
                                     f"collector.init_random_frames={random_frames}", "collector.frames_per_batch=200",
                                     f"logger.eval_iter={random_frames + frames}",
                                     f"checkpoint.interval={random_frames + frames}", "logger.eval_episodes=1", "progress_bar=false",
                                     "replay_buffer.size=100000", "logger.backend=", "checkpoint.replay_buffer=false"])
        t0 = time.perf_counter()
        train(cfg, d)
        total = time.perf_counter() - t0
        with open(f"{d}/metrics.csv") as f:
            row = list(csv.DictReader(f))[-1]
    return {"e2e_wall_s": round(total, 1), "e2e_frames_per_s": round((random_frames + frames) / total, 2),
            "update_time_fraction": round(float(row["update_time_fraction"]), 3),
            "updates_per_s": round(float(row["updates_per_s"]), 2)}


def actor_latency_ms(cfg, batch: int, device) -> float:
    from torchrl.data import Bounded

    actor, _, _ = recipe.make_modules(cfg, 17, Bounded(low=-1.0, high=1.0, shape=(6,)), device)
    td = TensorDict(observation=torch.randn(batch, 17, device=device), batch_size=[batch])
    with torch.no_grad():
        ms, _ = median_ms(lambda: actor(td), device, 200, 20)
    return round(ms, 3)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="+", default=["SafetyPointGoal1-v0", "SafetyHalfCheetahVelocity-v1"])
    p.add_argument("--num-envs", nargs="+", type=int, default=[1, 2, 4])
    p.add_argument("--vectorize", choices=["parallel", "serial"], default="parallel")
    p.add_argument("--collect-frames", type=int, default=2000)
    p.add_argument("--e2e-frames", type=int, default=1000, help="frames with updates (utd 1) in the end-to-end run")
    p.add_argument("--e2e-random", type=int, default=600, help="multiple of the 200-frame batches")
    p.add_argument("--no-e2e", action="store_true")
    p.add_argument("--collection", nargs="+", choices=["sync", "async"], default=["sync"],
                   help="end to end with the in-process collector and/or collector.async_collection=true")
    p.add_argument("--device", default="")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="extra recipe config overrides, e.g. system.retain_freed_memory=false (one process, one setting: "
                        "the allocator setting cannot be undone once a run applied it)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:  # every setting checked before the first measurement: a bad one is one error line, not a traceback later
        device = pick_device(args.device)
        for task in args.tasks:
            for n in args.num_envs:
                cfg = compose_config("algd", [f"env.name={task}", f"env.num_envs={n}", f"env.vectorize={args.vectorize}",
                                             f"network.device={device}", *args.set])
    except ConfigError as err:
        p.error(str(err))
    rows = []
    for task in args.tasks:
        for n in args.num_envs:
            overrides = [f"env.name={task}", f"env.num_envs={n}", f"env.vectorize={args.vectorize}", f"network.device={device}", *args.set]
            cfg = compose_config("algd", overrides)
            base = {"task": task, "num_envs": n, "collect_frames_per_s": round(collection_fps(cfg, args.collect_frames, device), 1),
                    "actor_ms_batch": actor_latency_ms(cfg, n, device)}
            for mode in ([] if args.no_e2e else args.collection):
                row = {**base, "collection": mode, **({"set": args.set} if args.set else {})}
                row.update(end_to_end([*overrides, f"collector.async_collection={mode == 'async'}"],
                                      args.e2e_frames, args.e2e_random))
                rows.append(row)
                print(json.dumps(row) if args.json else row, flush=True)
            if args.no_e2e:
                rows.append(base)
                print(json.dumps(base) if args.json else base, flush=True)
    cfg = compose_config("algd", [])
    print(json.dumps({"actor_ms_batch1": actor_latency_ms(cfg, 1, device), "device": str(device),
                      "torch_threads": torch.get_num_threads(), **cpu_description()}))


if __name__ == "__main__":
    main()
