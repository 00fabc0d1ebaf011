"""Where the time of one ALGD update goes: torch.profiler over repeated updates, and on CPU
each aten op's wall-clock time (``time_dispatched_ops`` in benchmarks/profiling.py).

    .venv/bin/python benchmarks/profile_update.py --mc-samples 6 --ensemble-size 6

On CPU the second account is the one to read for time per op: the profiler has charged
``silu`` and its backward on the Monte-Carlo activations 3.8-7 times their wall-clock time per
call (docs/performance.md, "Where the time goes").
"""
from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from update_throughput import add_update_args, device_and_build
from algd_components.allocator import retain_freed_memory
from algd_components.updates import update_step
from profiling import (PRODUCT_OPS, cpu_description, matmul_gflops, median_ms, record_products, replay_products,
                    time_dispatched_ops)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_update_args(p)
    p.add_argument("--updates", type=int, default=20)
    p.add_argument("--rows", type=int, default=15)
    p.add_argument("--products", action="store_true",
                   help="also time each of the update's matrix products alone (replayed on fresh operands "
                        "of the same shapes and layouts) and print their GFLOP/s by shape")
    args = p.parse_args(argv)
    if args.allocator == "retain":
        retain_freed_memory()
    torch.manual_seed(0)
    device, (_, loss, target_updater, optimizers, rb) = device_and_build(p, args)
    for _ in range(5):
        update_step(loss, optimizers, target_updater, rb.sample())
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(args.updates):
            update_step(loss, optimizers, target_updater, rb.sample())
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key in ("aten::bmm", "aten::baddbmm", "aten::mm", "aten::addmm"))
    print(f"CPU: {cpu_description()}, torch threads: {torch.get_num_threads()}")
    print(f"ms per update (under the profiler): {total / 1e3 / args.updates:.2f}")
    print(f"matmul share of CPU time: {matmul / total:.1%}   ops per update: {sum(e.count for e in events) / args.updates:.0f}")
    print("| op | share of CPU time | ms per update | calls per update |")
    print("|---|---|---|---|")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.rows]:
        print(f"| `{e.key}` | {e.self_cpu_time_total / total:.1%} | {e.self_cpu_time_total / 1e3 / args.updates:.2f} | {e.count / args.updates:.0f} |")
    # The same element-wise ops on one reused tensor (cache-hot, as in a microbenchmark)
    # against their cost per call inside the update, by the profiler and by wall clock (the
    # profiler has charged these ops several times their wall-clock time there).
    shape = (args.ensemble_size, args.mc_samples * args.batch_size, 256)
    x, g = torch.randn(shape, device=device), torch.randn(shape, device=device)
    hot = {
        "aten::silu": median_ms(lambda: torch.nn.functional.silu(x), device, 50, 5)[0],
        "aten::silu_backward": median_ms(lambda: torch.ops.aten.silu_backward(g, x), device, 50, 5)[0],
    }
    xb = x.bfloat16()
    silu_bf16 = median_ms(lambda: torch.nn.functional.silu(xb), device, 50, 5)[0]
    w = torch.randn(shape[0], 256, 256, device=device)
    bmm_ms = median_ms(lambda: torch.bmm(x, w), device, 30, 3)[0]
    bmm_rate = 2 * shape[0] * shape[1] * 256 * 256 / (bmm_ms * 1e-3) / 1e9
    print(f"\ncache-hot `[{shape[0]}, {shape[1]}, 256] x [256, 256]` bmm: {bmm_rate:.0f} GFLOP/s; "
          f"2048² mm: {matmul_gflops(device):.0f} GFLOP/s; "
          f"silu on the same tensor in bf16: {silu_bf16:.2f} ms (fp32: {hot['aten::silu']:.2f} ms)")
    wall = None
    if device.type == "cpu":
        wall = print_wall_clock(lambda: update_step(loss, optimizers, target_updater, rb.sample()), args.updates, args.rows)
    print()
    print(f"| op on `{list(shape)}` | ms per call, cache-hot reference | inside the update, profiler | inside the update, wall clock | calls per update |")
    print("|---|---|---|---|---|")
    for e in prof.key_averages(group_by_input_shape=True):
        if e.key in hot and e.input_shapes and list(e.input_shapes[0]) == list(shape):
            walls = [t for name, _, s, t in (wall or []) if name == e.key and s == tuple(shape)]
            wall_ms = f"{1e3 * sum(walls) / len(walls):.2f}" if walls else "—"
            print(f"| `{e.key}` | {hot[e.key]:.2f} | {e.self_cpu_time_total / 1e3 / e.count:.2f} | {wall_ms} | {e.count / args.updates:.0f} |")
    if args.products:
        print_products(lambda: update_step(loss, optimizers, target_updater, rb.sample()), device, args.rows)


def print_wall_clock(one_update, updates: int, rows: int) -> list:
    """Each aten op of ``updates`` updates timed alone, summed by op, next to the plain update's time."""
    from collections import defaultdict

    plain_ms, _ = median_ms(one_update, torch.device("cpu"), updates, 0)
    records = time_dispatched_ops(lambda: [one_update() for _ in range(updates)])
    by_op = defaultdict(lambda: [0.0, 0])
    products = views = other = 0.0
    for name, is_view, _, seconds in records:
        ms = seconds * 1e3 / updates
        by_op[name][0] += ms
        by_op[name][1] += 1
        if name in PRODUCT_OPS:
            products += ms
        elif is_view:
            views += ms
        else:
            other += ms
    in_ops = products + views + other
    print(f"\nwall clock, each aten op timed alone ({updates} updates): a plain update takes {plain_ms:.2f} ms (median); "
          f"its ops take {in_ops:.2f} ms: matrix products {products:.2f}, other ops {other:.2f}, views {views:.2f}; "
          f"outside the ops (plain update minus ops) {plain_ms - in_ops:.2f} ms")
    print("| op | ms per update | share of the plain update | calls per update |")
    print("|---|---|---|---|")
    for name, (ms, n) in sorted(by_op.items(), key=lambda kv: -kv[1][0])[:rows]:
        print(f"| `{name}` | {ms:.2f} | {ms / plain_ms:.1%} | {n / updates:.0f} |")
    by_call = defaultdict(lambda: [0.0, 0])
    for name, _, shape, seconds in records:
        by_call[(name, shape)][0] += seconds * 1e3 / updates
        by_call[(name, shape)][1] += 1
    print("\nthe same, by op and the shape of its first tensor argument")
    print("| op | first argument | ms per update | calls per update |")
    print("|---|---|---|---|")
    for (name, shape), (ms, n) in sorted(by_call.items(), key=lambda kv: -kv[1][0])[:rows]:
        print(f"| `{name}` | `{list(shape)}` | {ms:.2f} | {n / updates:.0f} |")
    return records


def print_products(one_update, device, rows: int) -> None:
    """Each matrix product of one update alone: how fast it runs at its own shape and layout."""
    from collections import defaultdict

    from torch.utils.flop_counter import FlopCounterMode

    calls = record_products(one_update)
    by_shape = defaultdict(lambda: [0.0, 0, 0])  # ms, calls, flops
    for call in calls:
        run = replay_products([call])
        ms, _ = median_ms(run, device, 7, 2)
        with FlopCounterMode(display=False) as counter:
            run()
        shapes = " ".join(f"{list(a[1])}{'ᵀ' if len(a[2]) > 1 and a[2][-1] != 1 else ''}"
                          for a in call[1] if isinstance(a, tuple) and a and a[0] == "tensor")
        entry = by_shape[(str(call[0]).split(".")[1], shapes)]
        entry[0] += ms
        entry[1] += 1
        entry[2] += counter.get_total_flops()
    total_ms = sum(e[0] for e in by_shape.values())
    total_flops = sum(e[2] for e in by_shape.values())
    print(f"\nthe update's {len(calls)} matrix products, each alone: {total_ms:.1f} ms in all, "
          f"{total_flops / total_ms / 1e6:.0f} GFLOP/s; 2048² mm: {matmul_gflops(device):.0f} GFLOP/s (ᵀ: transposed operand)")
    print("| op | operand shapes | calls per update | ms per update | GFLOP/s |")
    print("|---|---|---|---|---|")
    for (op, shapes), (ms, n, flops) in sorted(by_shape.items(), key=lambda kv: -kv[1][0])[:rows]:
        print(f"| `{op}` | {shapes} | {n} | {ms:.2f} | {flops / ms / 1e6:.0f} |")


if __name__ == "__main__":
    main()
