"""One ALGD update here against the authors' released code, timed alternately in one run.

    git clone https://github.com/Wenxuan52/ALGD /path/to/ALGD      # fetched separately, never vendored
    .venv/bin/python benchmarks/vs_released.py --released /path/to/ALGD --json

Two worker processes, one per implementation, each with ``--threads`` math threads, take
turns: ``--rounds`` times, ours runs ``--updates`` updates, then the released agent does, so
both see the same machine state (``--gap`` seconds apart: see ``main``).  One update is what each training loop calls per step: ours
``replay_buffer.sample()`` + ``update_step`` (``algd=code``, float32, as the recipes run it);
theirs ``ReplayMemory.sample(256)`` + ``ALGDAgent.update_parameters`` (``agents/algd/ALGD_VESDE.py``,
its argparse defaults, on the CPU).  Same sizes on both sides: batch, K, N, M, observation and
action dimensions, hidden sizes 256 (critics) and 128 (score network).

The released worker finds the released package through ``PYTHONPATH`` (set for that process
only); while its constructor runs, ``torch.device(...)`` inside its module means the CPU (the
code hard-codes CUDA).  Nothing else of it is changed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from update_throughput import add_update_args


def _ours(args):
    import torch
    from update_throughput import build  # benchmarks/: the update exactly as training builds it

    from algd_components.allocator import retain_freed_memory
    from algd_components.precision import float32_matmul_precision
    from algd_components.updates import NonFiniteGuard, update_step

    if args.allocator == "retain":  # as algd-train sets it up (system.retain_freed_memory, on by default)
        retain_freed_memory()
    torch.manual_seed(0)
    _, loss, target_updater, optimizers, rb = build(args, torch.device("cpu"))
    guard = NonFiniteGuard()  # as the training loop runs every update

    def update(i):
        with float32_matmul_precision(args.matmul_precision):  # as the loop wraps its updates
            update_step(loss, optimizers, target_updater, rb.sample(), guard=guard)

    return update


def _released(args):
    import numpy as np
    import torch
    from gymnasium.spaces import Box

    from agents.algd import ALGD_VESDE  # found through PYTHONPATH=--released
    from agents.replay_memory import ReplayMemory
    from configs.algd_vesde import ALGD_VESDE_Parser

    argv, sys.argv = sys.argv, [sys.argv[0]]  # its parser reads the command line: its defaults
    try:
        cfg = ALGD_VESDE_Parser()
    finally:
        sys.argv = argv
    cfg.score_mc_samples, cfg.qc_ens_size, cfg.diffusion_steps_K = args.mc_samples, args.ensemble_size, args.diffusion_steps
    cfg.policy_train_batch_size, cfg.cost_lim, cfg.safetygym = args.batch_size, 25.0, False
    class _OnCPU:  # its constructor hard-codes torch.device("cuda"): inside that module only, the CPU
        def __getattr__(self, name):
            return (lambda *a, **k: torch.device("cpu")) if name == "device" else getattr(torch, name)

    ALGD_VESDE.torch = _OnCPU()
    try:
        torch.manual_seed(0)
        agent = ALGD_VESDE.ALGDAgent(args.obs_dim, Box(-1.0, 1.0, (args.act_dim,), dtype=np.float32), cfg)
    finally:
        ALGD_VESDE.torch = torch
    memory, rng = ReplayMemory(10_000), np.random.default_rng(0)
    for _ in range(10_000):
        memory.push(rng.standard_normal(args.obs_dim).astype(np.float32), rng.uniform(-1, 1, args.act_dim).astype(np.float32),
                    np.array([rng.standard_normal(), float(rng.random() < 0.1)], dtype=np.float32),
                    rng.standard_normal(args.obs_dim).astype(np.float32), False)

    def update(i):
        s, a, r, s2, d = memory.sample(args.batch_size)  # as its main.py's train_policy_repeats
        agent.update_parameters((s, a, r, s2, (~np.squeeze(d)).astype(int)), i)

    return update


def worker(args) -> int:
    import torch

    torch.set_num_threads(args.threads)
    update = (_ours if args.worker == "ours" else _released)(args)
    count = 0
    print(json.dumps({"ready": args.worker}), flush=True)
    for line in sys.stdin:
        n = int(line)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            update(count)
            times.append((time.perf_counter() - t0) * 1e3)
            count += 1
        print(json.dumps(times), flush=True)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--released", help="the released ALGD repository's root (holds agents/ and configs/)")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--updates", type=int, default=20, help="updates per turn")
    p.add_argument("--warmup", type=int, default=5, help="updates each side runs before the first timed turn")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--gap", type=float, default=1.0, help="seconds between turns (lets the other side's threads settle)")
    add_update_args(p)  # the update's sizes, preset and allocator, as update_throughput.py takes them
    p.set_defaults(mc_samples=4, ensemble_size=4)  # the sizes of the comparison issue #19 quoted
    p.add_argument("--matmul-precision", choices=["highest", "high", "medium"], default="highest",
                   help="ours only: system.float32_matmul_precision (medium: bf16 products on AMX CPUs, an opt-in)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--worker", choices=["ours", "released"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.device not in ("", "cpu") or args.actor != "vesde":
        p.error(f"--device={args.device!r} --actor={args.actor!r}: the CPU and vesde only (the released agent compared is "
                "ALGD_VESDE, run on the CPU)")
    if args.worker:
        return worker(args)
    root = Path(args.released or "")
    if not args.released or not (root / "agents" / "algd" / "ALGD_VESDE.py").is_file():
        p.error(f"--released={args.released!r}: not a checkout of github.com/Wenxuan52/ALGD (no agents/algd/ALGD_VESDE.py)")
    sizes = [f"--{k.replace('_', '-')}={getattr(args, k)}" for k in
             ("threads", "batch_size", "diffusion_steps", "mc_samples", "ensemble_size", "obs_dim", "act_dim",
              "preset", "actor", "allocator", "matmul_precision")]
    procs = {}
    for name in ("ours", "released"):
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        if name == "released":
            env["PYTHONPATH"] = os.pathsep.join([str(root.resolve()), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        procs[name] = subprocess.Popen([sys.executable, __file__, "--worker", name, *sizes], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, env=env)
    try:
        for name, proc in procs.items():
            line = proc.stdout.readline()
            if not line:
                raise SystemExit(f"error: the {name} worker failed to start (see its error above)")
        times = {name: [] for name in procs}
        for r in range(args.rounds + 1):
            for name, proc in procs.items():  # alternate: ours, released, ours, released, ...
                # the side that just finished keeps its OpenMP threads spinning for a while after its
                # last op; measured: two copies of ours alternating without a gap took 107 ms per
                # update each against 45 ms alone, with a 1 s gap 46-49 ms
                time.sleep(args.gap)
                proc.stdin.write(f"{args.warmup if r == 0 else args.updates}\n")
                proc.stdin.flush()
                out = json.loads(proc.stdout.readline())
                if r:
                    times[name].append(out)
    finally:
        for proc in procs.values():
            proc.stdin.close()
            proc.wait(timeout=60)
    med = {k: statistics.median(t for turn in v for t in turn) for k, v in times.items()}
    result = {
        "ours_ms": round(med["ours"], 2), "released_ms": round(med["released"], 2),
        # three significant figures, not three decimals: a speed-up under 0.1 (ours slower, or a loaded
        # machine) kept to 3 decimals is off from released_ms / ours_ms by more than 1 %
        "speedup": float(f"{med['released'] / med['ours']:.3g}"),
        "per_round_ms": {k: [round(statistics.median(turn), 2) for turn in v] for k, v in times.items()},
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "worker")},
    }
    from algd_components.runs import cpu_description
    import torch

    result["settings"].update(torch=torch.__version__, **cpu_description())
    print(json.dumps(result) if args.json else
          f"ours {result['ours_ms']} ms, released {result['released_ms']} ms per update: {result['speedup']}x "
          f"(medians over {args.rounds} alternating turns of {args.updates})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
