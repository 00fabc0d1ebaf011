"""Where the time of one ALGD update goes: torch.profiler over repeated updates.

    .venv/bin/python benchmarks/profile_update.py --mc-samples 6 --ensemble-size 6
"""
from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from update_throughput import add_update_args, build
from algd_components.allocator import retain_freed_memory
from algd_components.training import pick_device, update_step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_update_args(p)
    p.add_argument("--updates", type=int, default=20)
    p.add_argument("--rows", type=int, default=15)
    args = p.parse_args(argv)
    device = pick_device(args.device)
    if args.allocator == "retain":
        retain_freed_memory()
    torch.manual_seed(0)
    _, loss, target_updater, optimizers, rb = build(args, device)
    for _ in range(5):
        update_step(loss, optimizers, target_updater, rb.sample())
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(args.updates):
            update_step(loss, optimizers, target_updater, rb.sample())
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key in ("aten::bmm", "aten::baddbmm", "aten::mm", "aten::addmm"))
    print(f"ms per update (under the profiler): {total / 1e3 / args.updates:.2f}")
    print(f"matmul share of CPU time: {matmul / total:.1%}   ops per update: {sum(e.count for e in events) / args.updates:.0f}")
    print("| op | share of CPU time | ms per update | calls per update |")
    print("|---|---|---|---|")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.rows]:
        print(f"| `{e.key}` | {e.self_cpu_time_total / total:.1%} | {e.self_cpu_time_total / 1e3 / args.updates:.2f} | {e.count / args.updates:.0f} |")


if __name__ == "__main__":
    main()
