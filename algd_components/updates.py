"""How one round of learning runs: a gradient update, the target-network update, the
on-policy epochs, and the CUDA-graph replay of an update.

TorchRL has the pieces (``SoftUpdate``, the losses); what is written here is the order in
which an update calls them, shared by every algorithm (docs/recipes.md, "What one iteration
does").  Measured costs of each choice are in docs/performance.md.
"""
from __future__ import annotations

import warnings
from typing import Mapping

import torch
from tensordict import TensorDictBase
from torchrl.objectives import SoftUpdate

__all__ = ["update_step", "ForeachSoftUpdate", "GraphedUpdate", "OnPolicyUpdate", "NonFiniteGuard", "NonFiniteError"]


class NonFiniteError(RuntimeError):
    """An update produced a NaN or infinite loss, gradient or parameter."""


class NonFiniteGuard:
    """Watches every update for the first NaN/inf loss, gradient or parameter, on the device.

    :meth:`check` runs inside each update: a handful of device ops (``isfinite`` of the
    losses, and of the norms of all gradients and all parameters, by ``torch._foreach_norm``)
    folded into device flags — no host sync, nothing captured differently by a CUDA graph.
    The host reads the flags once per collected batch (:meth:`tripped`), before
    evaluating or checkpointing, so non-finite weights are never evaluated or saved.  A norm
    that overflows float32 without a non-finite entry would trip it too; such weights are
    lost anyway.
    """

    def __init__(self):
        self.ok = None  # device tensors, created on the first check (on the loss's device)

    def _init(self, device, n_what: int):
        self.ok = torch.ones((), dtype=torch.bool, device=device)
        self.count = torch.zeros((), dtype=torch.long, device=device)
        self.bad_update = torch.full((), -1, dtype=torch.long, device=device)
        self.bad_what = torch.zeros(n_what, dtype=torch.bool, device=device)

    @torch.no_grad()
    def check(self, loss_td: TensorDictBase, grads: list, params: list) -> None:
        """Fold one update's losses (the ``loss_*`` entries), gradients (after clipping, before
        the step) and parameters (after the step) into the flags."""
        keys = sorted(k for k in loss_td.keys() if k.startswith("loss_"))
        self.names = [*keys, "gradient", "parameter"]
        finite = [torch.isfinite(loss_td.get(k)).all() for k in keys]
        for tensors in (grads, params):
            norms = torch._foreach_norm(tensors) if tensors else []
            finite.append(torch.isfinite(torch.stack(norms)).all() if norms else torch.ones((), dtype=torch.bool))
        finite = torch.stack([f.to(finite[0].device) for f in finite])
        if self.ok is None:
            self._init(finite.device, len(self.names))
        all_ok = finite.all()
        first = self.ok & ~all_ok
        self.bad_update = torch.where(first, self.count, self.bad_update)
        self.bad_what = torch.where(first, ~finite, self.bad_what)
        self.ok = self.ok & all_ok
        self.count = self.count + 1

    def tripped(self) -> bool:
        """Whether any checked update was non-finite (one host read)."""
        return self.ok is not None and not bool(self.ok)

    def describe(self, first_update: int = 1) -> str:
        """Which values of which update (``first_update``: the number of the guard's first
        checked update in the run)."""
        what = [n for n, bad in zip(self.names, self.bad_what.tolist()) if bad]
        return f"non-finite {', '.join(what)} at update {int(self.bad_update) + first_update}"


def update_step(loss, optimizers: Mapping[str, torch.optim.Optimizer], target_updater, batch: TensorDictBase, *,
                max_grad_norm: float | None = None, step_dual: bool = True, guard: NonFiniteGuard | None = None,
                **dual_kwargs) -> TensorDictBase:
    """One gradient update as every algorithm does it.

    ``loss(batch)`` → backward of the sum of its ``loss_*`` entries (the losses keep their
    parameter sets disjoint, so one backward serves every optimiser) → the gradient norm over
    all optimised parameters clipped to ``max_grad_norm`` (when given) → each optimiser
    steps → ``target_updater.step()`` (when given) → ``loss.step_dual(loss_td, **dual_kwargs)``
    when ``step_dual`` and the loss has a dual variable (on-policy learning steps λ once per
    rollout instead).  ``guard`` (a :class:`NonFiniteGuard`) checks the losses, gradients and
    parameters on the device.  Returns the detached loss tensordict.  The same function trains
    S stacked seeds: ``loss`` a :class:`~algd_components.stacked.VmappedLoss`, whose ``[S]``
    losses are summed (each seed's parameters get exactly their own gradient).
    """
    loss_td = loss(batch)
    for opt in optimizers.values():
        opt.zero_grad(set_to_none=True)
    total = sum(v for k, v in loss_td.items() if k.startswith("loss_"))
    if total.dim() and max_grad_norm:  # one norm over all seeds would couple their updates
        raise ValueError("max_grad_norm clips one norm over all parameters: not for stacked seeds' [S] losses")
    (total.sum() if total.dim() else total).backward()  # [S] losses: S stacked seeds (stacked.VmappedLoss)
    params = [p for opt in optimizers.values() for g in opt.param_groups for p in g["params"]]
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    grads = [p.grad for p in params if p.grad is not None] if guard is not None else None
    for opt in optimizers.values():
        opt.step()
    if guard is not None:
        guard.check(loss_td, grads, params)
    if target_updater is not None:
        target_updater.step()
    if step_dual and hasattr(loss, "step_dual"):
        loss.step_dual(loss_td, **dual_kwargs)
    return loss_td.detach()


class ForeachSoftUpdate(SoftUpdate):
    """TorchRL's :class:`~torchrl.objectives.SoftUpdate` (Polyak averaging,
    ``θ' ← θ' + (1 - eps)(θ - θ')``) stepping every target tensor with one
    ``torch._foreach_lerp_`` call.

    Same constructor, rule, checks and state as ``SoftUpdate``, and bitwise the same result
    (tested).  ``interval=k`` steps the targets on every k-th call only (the 1st, k+1-th, ...;
    the released ALGD and CAL code: ``critic_target_update_frequency = 2``).  Why it exists: ``SoftUpdate.step`` lerps network by network through
    TensorDict ``.data`` views built anew on every call, which costs several times more
    host time per update (studies/performance_log/REPORT.md).
    """

    def __init__(self, loss_module, *, eps: float | None = None, tau: float | None = None, interval: int = 1):
        if int(interval) != interval or interval < 1:
            raise ValueError(f"interval must be an integer >= 1, got {interval!r}")
        kwargs = {"eps": eps} if tau is None else {"tau": tau}
        super().__init__(loss_module, **kwargs)
        self.interval, self.calls = int(interval), 0

    def step(self) -> None:
        self.calls += 1
        if (self.calls - 1) % self.interval:
            return
        if not self.initialized:
            return super().step()  # SoftUpdate's own error
        for name in self._target_names:  # as SoftUpdate does: lets the loss see its targets are used
            getattr(self.loss_module, name)
        sources, targets = self.pairs()
        if any(t.requires_grad for t in targets):
            raise RuntimeError("the target parameter is part of a graph.")
        torch._foreach_lerp_([t.data for t in targets], [s.data for s in sources], 1 - self.eps)

    def pairs(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``(sources, targets)``: the tensors SoftUpdate itself steps, in its pairing (also what
        :class:`~algd_components.stacked.StackedSoftUpdate` stacks)."""
        sources, targets = [], []
        for key, source in self._sources.items(True, True):
            key = key if isinstance(key, tuple) else (key,)
            sources.append(source)
            targets.append(self._targets.get(("target_" + key[0], *key[1:])))
        return sources, targets


class GraphedUpdate:
    """:func:`update_step` replayed as one CUDA graph (``compile.cudagraphs=true`` on a GPU).

    Why: an eager update dispatches on the order of a thousand aten ops, each a kernel launch
    on a GPU, so the GPU waits on the host; captured once, the whole update replays with one
    launch (docs/performance.md, "GPU").

    The losses, backward and optimiser steps are captured by TensorDict's
    :class:`~tensordict.nn.CudaGraphModule` (TorchRL's own recipes use it the same way) after
    ``warmup`` eager calls, and replayed from then on.  After each replay, eagerly and in
    :func:`update_step`'s order: the non-finite guard, the target networks' soft update (its
    ``interval`` — every 2nd update under ``algd=code`` — is a host-side counter, and a graph
    replays whichever branch it was captured in: inside, the targets would move on every update
    or on none; outside, it is one ``_foreach_lerp_`` over all target tensors), and the dual
    step (its ``episode`` source reads a number from the host).  λ is a device buffer updated
    in place, so the replayed loss reads its current value.  Capture requires (checked by
    tests/test_cuda.py): no host syncs inside the update, optimisers built with
    ``capturable=True``, the batch on the graph's device (only ``loss.in_keys`` are copied into
    the graph's static inputs).  Without CUDA the module runs the update as is (TensorDict's
    documented fallback); the ALGD config refuses ``compile.cudagraphs=true`` there instead.
    """

    def __init__(self, loss, optimizers: Mapping[str, torch.optim.Optimizer], target_updater, *,
                 warmup: int = 5, max_grad_norm: float | None = None):
        from tensordict.nn import CudaGraphModule

        self.loss, self.target_updater = loss, target_updater
        self.params = [p for opt in optimizers.values() for g in opt.param_groups for p in g["params"]]
        self.in_keys = list(loss.in_keys)

        def update(batch: TensorDictBase) -> TensorDictBase:  # the captured part: no host-side decision in it
            return update_step(loss, optimizers, None, batch, max_grad_norm=max_grad_norm, step_dual=False)

        with warnings.catch_warnings():
            # only its "no CUDA here, passing through" notice (the config checks the device);
            # its other notices (e.g. that it takes TensorDicts out of PyTree, process-wide) still show
            warnings.filterwarnings("ignore", message="This module is instantiated on a machine without CUDA",
                                    category=UserWarning)
            self.graphed = CudaGraphModule(update, in_keys=[], out_keys=[], warmup=warmup)

    def __call__(self, batch: TensorDictBase, guard: NonFiniteGuard | None = None, **dual_kwargs) -> TensorDictBase:
        loss_td = self.graphed(batch.select(*self.in_keys))
        if guard is not None:  # outside the graph: the replay's losses, gradients and parameters
            guard.check(loss_td, [p.grad for p in self.params if p.grad is not None], self.params)
        if self.target_updater is not None:
            self.target_updater.step()
        if hasattr(self.loss, "step_dual"):
            self.loss.step_dual(loss_td, **dual_kwargs)
        return loss_td


class OnPolicyUpdate:
    """On-policy learning from one collected batch, as TorchRL's PPO recipes do it.

    One dual step on the recent training episodes' mean cost (before the policy moves, as
    OmniSafe's PPO-Lag), ``loss.compute_advantages(batch)`` (no gradient), then ``epochs``
    passes over the batch in shuffled minibatches, each an :func:`update_step` without a
    dual step.  Returns ``(last loss tensordict, number of updates)``.
    """

    def __init__(self, loss, optimizers: dict, epochs: int, minibatch_size: int, max_grad_norm: float | None):
        self.loss, self.optimizers = loss, optimizers
        self.epochs, self.minibatch_size, self.max_grad_norm = epochs, minibatch_size, max_grad_norm

    def __call__(self, batch, episode_cost: float | None = None, episode_cost_limit: float | None = None,
                 guard: NonFiniteGuard | None = None):
        self.loss.step_dual(None, episode_cost, episode_cost_limit)
        flat = self.loss.compute_advantages(batch).reshape(-1)
        n = 0
        for _ in range(self.epochs):
            for idx in torch.randperm(flat.numel(), device=flat.device).split(self.minibatch_size):
                loss_td = update_step(self.loss, self.optimizers, None, flat[idx],
                                      max_grad_norm=self.max_grad_norm, step_dual=False, guard=guard)
                n += 1
        return loss_td, n
