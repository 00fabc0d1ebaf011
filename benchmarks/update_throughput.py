"""Time full ALGD updates built exactly as training builds them.

    .venv/bin/python benchmarks/update_throughput.py                      # paper config, HalfCheetah sizes
    .venv/bin/python benchmarks/update_throughput.py --mc-samples 4 --ensemble-size 4 --json

One update = replay-buffer sample → ALGDLoss → backward → optimiser steps → target update →
dual step (``algd_components.updates.update_step``, what the training loop calls).
Also reports the update's FLOPs (``torch.utils.flop_counter``) and the dense fp32 matmul rate
measured in the same run, so the achieved fraction is comparable across drifting machines.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource

import torch
from tensordict import TensorDict
from torchrl.data import Bounded

from algd_components.algorithms import algd as recipe
from algd_components.algorithms.common import pick_device
from algd_components.allocator import retain_freed_memory
from algd_components.algorithms import compose_config
from algd_components.config import ConfigError, require
from algd_components.precision import FLOAT32_MATMUL_PRECISIONS, float32_matmul_precision, update_autocast
from profiling import (GlobalFlopCounter, count_dispatched_ops, cpu_description, matmul_gflops, median_ms,
                                       record_products, replay_products)
from algd_components.training.factories import make_replay_buffer
from algd_components.updates import GraphedUpdate, NonFiniteGuard, update_step


def build(args, device):
    overrides = [
        f"algd={args.preset}",
        f"algd.actor={getattr(args, 'actor', 'vesde')}",
        f"optim.batch_size={args.batch_size}",
        f"algd.diffusion_steps={args.diffusion_steps}",
        f"algd.mc_samples={args.mc_samples}",
        f"algd.ensemble_size={args.ensemble_size}",
        "replay_buffer.size=20000",
        f"network.device={device}",
        f"compile.cudagraphs={str(getattr(args, 'cudagraphs', False)).lower()}",  # capturable optimisers
    ]
    cfg = compose_config("algd", overrides)  # checked as a training run's config is
    require(args.obs_dim >= 1 and args.act_dim >= 1, "--obs-dim/--act-dim", (args.obs_dim, args.act_dim), "integers >= 1")
    spec = Bounded(low=-1.0, high=1.0, shape=(args.act_dim,))
    actor, qvalue, cost = recipe.make_modules(cfg, args.obs_dim, spec, device)
    loss, target_updater = recipe.make_loss(cfg, actor, qvalue, cost, h=2.5, device=device)
    optimizers = recipe.make_optimizers(cfg, actor, qvalue, cost)
    rb = make_replay_buffer(cfg, device)
    rb.extend(random_transitions(10_000, args.obs_dim, args.act_dim).to(device))
    return cfg, loss, target_updater, optimizers, rb


def random_transitions(n: int, obs_dim: int, act_dim: int, generator: torch.Generator | None = None) -> TensorDict:
    """``n`` random transitions with the replay buffer's keys (costs 1 with probability 0.1)."""
    g = {"generator": generator}
    return TensorDict({
        "observation": torch.randn(n, obs_dim, **g), "action": torch.rand(n, act_dim, **g) * 2 - 1,
        "next": {"observation": torch.randn(n, obs_dim, **g), "reward": torch.randn(n, 1, **g),
                 "cost": (torch.rand(n, 1, **g) < 0.1).float(), "terminated": torch.zeros(n, 1, dtype=torch.bool),
                 "goal_terminated": torch.zeros(n, 1, dtype=torch.bool)},  # Safety-Gym tasks' key (env.goal_terminal)
    }, batch_size=[n])


def device_and_build(p: argparse.ArgumentParser, args):
    """``(device, build(args, device))``; a bad setting ends the run with one error line."""
    try:
        device = pick_device(args.device)
        return device, build(args, device)
    except ConfigError as err:
        p.error(str(err))


def add_update_args(p: argparse.ArgumentParser) -> None:
    """The update's sizes (defaults: the paper configuration on HalfCheetah's 17/6) and device."""
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--diffusion-steps", type=int, default=5)
    p.add_argument("--mc-samples", type=int, default=6)
    p.add_argument("--ensemble-size", type=int, default=6)
    p.add_argument("--obs-dim", type=int, default=17)
    p.add_argument("--act-dim", type=int, default=6)
    p.add_argument("--preset", choices=["code", "paper"], default="code")
    p.add_argument("--actor", choices=["vesde", "ddpm"], default="vesde", help="algd.actor: the diffusion actor's noise process")
    p.add_argument("--device", default="")
    p.add_argument("--allocator", choices=["retain", "glibc"], default="retain",
                   help="retain: keep freed memory in the process as the recipes do (system.retain_freed_memory); "
                        "glibc: the C library's defaults")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_update_args(p)
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="bf16: autocast the update (system.autocast=bfloat16)")
    p.add_argument("--matmul-precision", choices=list(FLOAT32_MATMUL_PRECISIONS), default="highest",
                   help="torch.set_float32_matmul_precision during the update (system.float32_matmul_precision); "
                        "medium: bf16 products of float32 tensors on AMX CPUs, TF32 on CUDA")
    p.add_argument("--compile", action="store_true", help="torch.compile the Monte-Carlo energy and action gradient (compile.compile=true)")
    p.add_argument("--cudagraphs", action="store_true",
                   help="CUDA only: replay the update (all but the dual step) as one CUDA graph (compile.cudagraphs=true)")
    p.add_argument("--guard", choices=["on", "off"], default="on",
                   help="on: the training loop's non-finite guard checks every update (as in training)")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cudagraphs and args.dtype != "fp32":
        p.error("--cudagraphs runs float32 updates (the recipes refuse system.autocast with compile.cudagraphs)")
    if args.allocator == "retain":
        retain_freed_memory()
    torch.manual_seed(0)
    device, (cfg, loss, target_updater, optimizers, rb) = device_and_build(p, args)  # --cudagraphs: CUDA only
    if args.compile:
        from algd_components.compile import compile_modules
        compile_modules(loss)
    graphed = GraphedUpdate(loss, optimizers, target_updater) if args.cudagraphs else None
    guard = NonFiniteGuard() if args.guard == "on" else None

    def eager_update():
        with float32_matmul_precision(args.matmul_precision), update_autocast(device, "bfloat16" if args.dtype == "bf16" else None):
            return update_step(loss, optimizers, target_updater, rb.sample(), guard=guard)

    def one_update():
        if graphed is None:
            return eager_update()
        with float32_matmul_precision(args.matmul_precision):
            graphed(rb.sample(), guard=guard)

    for _ in range(args.warmup):
        one_update()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ms, times = median_ms(one_update, device, args.repeats, warmup=0)
    after = resource.getrusage(resource.RUSAGE_SELF)
    n_updates = args.repeats
    counter = GlobalFlopCounter()
    with counter:  # eagerly: a replayed graph dispatches no ops to count
        eager_update()
    flops = counter.get_total_flops()
    peak = matmul_gflops(device)
    achieved = flops / (ms * 1e-3) / 1e9
    # The same products alone (shapes, layouts, order), with nothing else in between: the time
    # the update would take if every other op were free, so flops / that time / peak is the
    # highest fraction of the matmul rate this update can reach with these kernels.
    ops_all, ops_compute = count_dispatched_ops(eager_update)
    products = record_products(eager_update)
    replay = replay_products(products)

    def products_alone():
        with float32_matmul_precision(args.matmul_precision):
            replay()

    products_ms, _ = median_ms(products_alone, device, max(5, args.repeats // 3), 2)
    # the guard's own work per update (isfinite of the losses, foreach norms of gradients and parameters)
    loss_td = eager_update()
    params = [q for opt in optimizers.values() for g in opt.param_groups for q in g["params"]]
    grads = [q.grad for q in params if q.grad is not None]
    probe = NonFiniteGuard()
    guard_ms, _ = median_ms(lambda: probe.check(loss_td, grads, params), device, 100, 5)
    with GlobalFlopCounter() as replay_counter:
        products_alone()
    assert replay_counter.get_total_flops() == flops, "the replay must run exactly the update's counted products"
    result = {
        "ms_per_update": round(ms, 3),
        "ms_min": round(min(times), 3),
        "gflop_per_update": round(flops / 1e9, 4),
        "achieved_gflops": round(achieved, 2),
        "matmul_fp32_gflops": round(peak, 2),
        "fraction_of_matmul_rate": round(achieved / peak, 3),
        # host work: on a GPU an eager update launches at least one kernel per non-view op
        "aten_ops_per_update": ops_all,
        "non_view_ops_per_update": ops_compute,
        "products_only_ms": round(products_ms, 3),
        "guard_check_ms": round(guard_ms, 3),
        "products_per_update": len(products),
        "fraction_ceiling_products_only": round(flops / (products_ms * 1e-3) / 1e9 / peak, 3),
        # the critics' typical product, [4096, 256] x [256, 256], in both precisions
        "matmul_4096x256x256_gflops": {str(dt).replace("torch.", ""): round(matmul_gflops(device, dt, shape=(4096, 256, 256)), 1)
                                       for dt in (torch.float32, torch.bfloat16)},
        # the kernel's share: page faults on freshly mapped memory (see algd_components/allocator.py)
        "minor_page_faults_per_update": round((after.ru_minflt - usage.ru_minflt) / n_updates, 1),
        "system_ms_per_update": round((after.ru_stime - usage.ru_stime) * 1e3 / n_updates, 2),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),  # Linux reports KiB; the process's high-water mark
        "flops_by_op_gflop": {k: round(v / 1e9, 4) for k, v in counter.by_op().items()},
        "settings": {**{k: v for k, v in vars(args).items() if k != "json"}, "device": str(device),
                     "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "machine": platform.machine(), **cpu_description()},
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:28s} {v}")


if __name__ == "__main__":
    main()
