"""Host-side costs of one ALGD update's bookkeeping, old way against the recipes' way.

    .venv/bin/python benchmarks/host_overheads.py --mc-samples 4 --ensemble-size 4 --json

* target update: TorchRL's ``SoftUpdate.step`` against ``ForeachSoftUpdate.step``;
* a frozen-critic pass's set-up: ``params.detach().to_module(net)`` built anew, against the
  cached detached views with ``preserve_module_state=False`` that ``ALGDLoss`` uses.

Each is the median of ``--rounds`` rounds of ``--calls`` calls, in ms per call.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torchrl.objectives import SoftUpdate

from common import cpu_description
from update_throughput import add_update_args, device_and_build
from algd_components.training import ForeachSoftUpdate


def ms_per_call(fn, calls: int, rounds: int) -> float:
    per_round = []
    for _ in range(rounds):
        for _ in range(10):
            fn()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        per_round.append((time.perf_counter() - start) / calls * 1e3)
    return round(statistics.median(per_round), 3)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_update_args(p)
    p.add_argument("--calls", type=int, default=500)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    device, (_, loss, _, _, _) = device_and_build(p, args)
    torchrl_update, foreach_update = SoftUpdate(loss, eps=0.995), ForeachSoftUpdate(loss, eps=0.995)

    def fresh_detach():
        with loss.qvalue_network_params.detach().to_module(loss.qvalue_network):
            pass

    def cached_detach():
        with loss._cached_detached_qvalue_params.to_module(loss.qvalue_network, preserve_module_state=False):
            pass

    result = {
        "soft_update_ms": ms_per_call(torchrl_update.step, args.calls, args.rounds),
        "foreach_soft_update_ms": ms_per_call(foreach_update.step, args.calls, args.rounds),
        "frozen_pass_fresh_detach_ms": ms_per_call(fresh_detach, args.calls, args.rounds),
        "frozen_pass_cached_detach_ms": ms_per_call(cached_detach, args.calls, args.rounds),
        "settings": {"mc_samples": args.mc_samples, "ensemble_size": args.ensemble_size, "device": str(device),
                     "torch_threads": torch.get_num_threads(), **cpu_description()},
    }
    print(json.dumps(result) if args.json else "\n".join(f"{k:30s} {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
