"""A trial that was not kept: the critics' width-1 output layers with their input gradient as
a broadcast multiply instead of an inner-size-1 ``bmm``.  Kept as a script so its negative
result can be re-checked (docs/performance.md, "Where the time goes on this machine").

    cd benchmarks && ../.venv/bin/python width1_gradient_trial.py --mc-samples 6 --ensemble-size 6 --updates 40 --json

The trial patches two things, and only while it runs:
* ``EnsembleLinear`` layers with one output use a custom autograd function.  Its forward is
  ``baddbmm``, and its backward takes the input gradient as ``grad * weightᵀ``, the same
  products as the ``bmm`` autograd runs.
* The score target runs the critics with detached parameters.  Without that, the custom
  function would compute weight gradients the Monte-Carlo pass never uses, because a custom
  function sees ``needs_input_grad``, not what ``autograd.grad`` will use.

It checks that four updates give bitwise-equal losses and state with and without the trial.
Then it alternates the two update by update (the order flipping each time), so that the drift
of these shared machines falls on both alike:
* ``plain_update_ms_median``: whole updates, timed with nothing else running;
* ``ms_per_update``: every aten op timed alone by wall clock (``common.time_dispatched_ops``),
  summed ("all ops") and for the ops the trial moves time between.  Time outside the ops
  (Python, the autograd engine, the custom function's own overhead) shows only in the first.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict

import torch
from tensordict import TensorDict

from common import cpu_description, time_dispatched_ops
from update_throughput import add_update_args, device_and_build
import algd_components.nn as ensemble_nn
from algd_components.allocator import retain_freed_memory
from algd_components.objectives import AugLagScoreTarget
from algd_components.training import update_step


class WidthOneBaddbmm(torch.autograd.Function):
    @staticmethod
    def forward(bias, x, weight):
        return torch.baddbmm(bias, x, weight)

    @staticmethod
    def setup_context(ctx, inputs, output):
        bias, x, weight = inputs
        ctx.save_for_backward(x, weight)
        ctx.bias_shape = bias.shape

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_bias, need_x, need_weight = ctx.needs_input_grad
        return (grad.sum_to_size(ctx.bias_shape) if need_bias else None,
                grad * weight.transpose(-1, -2) if need_x else None,
                torch.bmm(x.transpose(-1, -2), grad) if need_weight else None)


def trial_linear_forward(self, x):
    if x.dim() == 2:
        x = x.expand(self.num_members, *x.shape)
    if self.out_features == 1:
        return WidthOneBaddbmm.apply(self.bias, x, self.weight)
    return torch.baddbmm(self.bias, x, self.weight)


def trial_score_target(self, tensordict, generator=None):
    cache = self.__dict__.setdefault("_trial_frozen", {})
    nets = (self.qvalue_network, self.cost_network)
    for net in nets:
        if id(net) not in cache:
            cache[id(net)] = TensorDict.from_module(net).detach()
    with cache[id(nets[0])].to_module(nets[0], preserve_module_state=False), \
            cache[id(nets[1])].to_module(nets[1], preserve_module_state=False):
        return CURRENT["score_target"](self, tensordict, generator)


CURRENT = {"forward": ensemble_nn.EnsembleLinear.forward, "score_target": AugLagScoreTarget.score_target}


def use(variant: str) -> None:
    trial = variant == "trial"
    ensemble_nn.EnsembleLinear.forward = trial_linear_forward if trial else CURRENT["forward"]
    AugLagScoreTarget.score_target = trial_score_target if trial else CURRENT["score_target"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_update_args(p)
    p.add_argument("--updates", type=int, default=40, help="timed updates of each variant, alternating update by update")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.updates < 1:
        p.error(f"--updates must be an integer >= 1, got {args.updates}")
    if args.allocator == "retain":
        retain_freed_memory()

    def fresh(variant):
        use(variant)
        torch.manual_seed(0)
        return device_and_build(p, args)

    results = {}
    for variant in ("current", "trial"):
        device, (_, loss, updater, optimizers, rb) = fresh(variant)
        if device.type != "cpu":
            p.error(f"--device {args.device!r}: this trial times ops by wall clock, which works on the CPU only")
        outs = [update_step(loss, optimizers, updater, rb.sample()) for _ in range(4)]
        results[variant] = ([{k: v.clone() for k, v in o.items()} for o in outs], loss.state_dict())
    (out_a, state_a), (out_b, state_b) = results["current"], results["trial"]
    bitwise = all(torch.equal(a[k], b[k]) for a, b in zip(out_a, out_b) for k in a) and \
        all(torch.equal(state_a[k], state_b[k]) for k in state_a)

    _, (_, loss, updater, optimizers, rb) = fresh("current")
    for _ in range(3):
        update_step(loss, optimizers, updater, rb.sample())
    one_update = lambda: update_step(loss, optimizers, updater, rb.sample())  # noqa: E731
    variants = ["current", "trial"]
    plain = {v: [] for v in variants}
    ms = {v: defaultdict(float) for v in variants}
    for i in range(args.updates):
        for variant in variants if i % 2 == 0 else variants[::-1]:
            use(variant)
            t0 = time.perf_counter()
            one_update()
            plain[variant].append((time.perf_counter() - t0) * 1e3)
        for variant in variants if i % 2 == 0 else variants[::-1]:
            use(variant)
            for name, is_view, _, seconds in time_dispatched_ops(one_update):
                ms[variant]["all ops"] += seconds * 1e3 / args.updates
                ms[variant]["views" if is_view else name] += seconds * 1e3 / args.updates
    use("current")
    shown = ("all ops", "aten::bmm", "aten::mul", "aten::baddbmm", "views")
    report = {
        "bitwise_equal_4_updates": bitwise,
        "plain_update_ms_median": {v: round(statistics.median(plain[v]), 2) for v in plain},
        "ms_per_update": {v: {k: round(ms[v][k], 2) for k in shown} for v in ms},
        "settings": {"mc_samples": args.mc_samples, "ensemble_size": args.ensemble_size,
                     "batch_size": args.batch_size, "updates_each": args.updates, **cpu_description()},
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"bitwise equal over 4 updates: {bitwise}")
        print(f"plain update, median: current {report['plain_update_ms_median']['current']:.2f} ms, "
              f"trial {report['plain_update_ms_median']['trial']:.2f} ms")
        for k in shown:
            print(f"{k:16s} current {ms['current'][k]:7.2f} ms   trial {ms['trial'][k]:7.2f} ms")


if __name__ == "__main__":
    main()
