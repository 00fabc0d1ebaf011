"""S seeds of one algorithm trained as one: their tensors stacked along a leading dimension,
one vectorised update (``torch.vmap``) for all of them.

Why: an update dispatches ~1,250 aten ops from the host (docs/performance.md).  S runs as S
processes pay that S times; stacked, one update pays it once for all S seeds.  Adam (and the
cost critics' L2 decay) is element-wise, so one optimiser over stacked parameters is S
independent ones, and the soft target update and λ's step are element-wise too.  (On a 2-core
CPU the arithmetic dominates and stacking gains nothing end to end; docs/scaling.md has the
measurement.  The host-bound case is a GPU's.)

How: the S losses are built as usual, each from its own seed.  :class:`StackedLosses` stacks
every tensor they hold — parameters, target parameters, buffers (λ and its Adam moments),
wherever the loss keeps them (its modules, the TensorDicts TorchRL's ``convert_to_functional``
keeps, the functional networks it holds outside its module tree).  In the update, one ``vmap``
over the seed dimension runs loss 0's unchanged code with each of its tensors swapped for the
vmapped slice of the stack (by identity: wherever loss 0 holds tensor ``t``, it sees the
stacked ``t``).  What is written by hand here is only that swap: ``TensorDict.from_modules(...)
.to_module(loss)`` does not reach the networks a ``LossModule`` keeps outside its module tree,
and the loss's own nested ``to_module`` calls (target and detached critic parameters) refuse to
unlock a stacked graph (tensordict 0.14).  Each loss keeps its own tensors for acting alone,
evaluating and saving: :meth:`StackedLosses.scatter` / :meth:`~StackedLosses.gather` copy
between them and the stack.

What cannot be stacked: ``max_grad_norm`` (a norm over all parameters mixes the seeds; the
off-policy recipes do not clip) and the ``episode`` dual source (a per-seed host number).
A non-finite value in any seed stops all S (the guard watches the stack).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torch import nn

from .updates import ForeachSoftUpdate

__all__ = ["StackedLosses", "VmappedLoss", "StackedSoftUpdate", "StackedPolicy", "stack_optimizers", "scatter_optimizer_state", "gather_optimizer_state"]


def _containers(root) -> list[tuple[dict, str]]:
    """Every ``(dict, key)`` holding a tensor of ``root``, in a fixed traversal order: the
    ``_parameters`` / ``_buffers`` of each module :func:`_modules` reaches, and the leaf dicts of
    the TensorDicts they hold (a TensorDictParams' own ``_param_td`` included)."""
    out, seen = [], set()

    def visit_td(td):
        if id(td) in seen:
            return
        seen.add(id(td))
        store = td.__dict__.get("_tensordict")
        if store is None:
            return
        for key in list(store):
            value = store[key]
            if isinstance(value, torch.Tensor):
                out.append((store, key))
            elif isinstance(value, TensorDictBase):
                visit_td(value)

    for mod in _modules(root):
        for store in (mod._parameters, mod._buffers):
            out.extend((store, key) for key in list(store) if isinstance(store[key], torch.Tensor))
        for name, value in list(vars(mod).items()):
            if isinstance(value, TensorDictBase) and (not name.startswith("_") or name == "_param_td"):
                visit_td(value)
    return out


class StackedLosses:
    """``S`` losses of one algorithm, built alike (each from its own seed), and their tensors
    stacked: :attr:`leaves` ``[S, *shape]`` hold what the update trains.

    Each loss keeps its own tensors, so each seed's policy, checkpoint and policy file stay
    what a single-seed run would have: :meth:`scatter` copies the stack into them (before
    evaluating or saving), :meth:`gather` copies them into the stack (after loading a
    checkpoint).  :meth:`call` runs loss 0's code on any values of the stack (vmapped slices).
    """

    def __init__(self, losses: Sequence[nn.Module]):
        if len(losses) < 1:
            raise ValueError("StackedLosses needs at least one loss")
        self.losses = list(losses)
        self.num_seeds = len(losses)
        per_loss = [_containers(loss) for loss in losses]
        n = len(per_loss[0])
        if any(len(c) != n for c in per_loss):
            raise ValueError("the losses differ in structure: build them with the same config")
        # the unique tensors of each loss, aligned by traversal order; every slot maps to one of them
        index: dict[int, int] = {}
        self.tensors: list[list[torch.Tensor]] = [[] for _ in losses]  # [seed][leaf]
        self._slots: list[tuple[dict, str, int]] = []  # loss 0's slots
        for j in range(n):
            store0, key0 = per_loss[0][j]
            t0 = store0[key0]
            i = index.get(id(t0))
            if i is None:
                i = index[id(t0)] = len(self.tensors[0])
                for s, containers in enumerate(per_loss):
                    store, key = containers[j]
                    if store[key].shape != t0.shape:
                        raise ValueError(f"the losses differ in the shape of {key!r}: build them with the same config")
                    self.tensors[s].append(store[key])
            self._slots.append((store0, key0, i))
        self.leaf_of = {id(t): i for tensors in self.tensors for i, t in enumerate(tensors)}
        self.leaves: list[torch.Tensor] = []
        for i, t0 in enumerate(self.tensors[0]):
            data = torch.stack([self.tensors[s][i].detach() for s in range(self.num_seeds)])
            self.leaves.append(nn.Parameter(data, requires_grad=t0.requires_grad) if isinstance(t0, nn.Parameter) else data)
        self._modules0 = _modules(self.losses[0])

    @torch.no_grad()
    def scatter(self) -> None:
        """Copy the stack into each loss's own tensors."""
        for s, tensors in enumerate(self.tensors):
            torch._foreach_copy_([t.data for t in tensors], [leaf.data[s] for leaf in self.leaves])

    @torch.no_grad()
    def gather(self) -> None:
        """Copy each loss's own tensors into the stack."""
        for s, tensors in enumerate(self.tensors):
            torch._foreach_copy_([leaf.data[s] for leaf in self.leaves], [t.data for t in tensors])

    def stacked(self, tensor: torch.Tensor) -> torch.Tensor:
        """The stacked leaf that holds ``tensor`` (a tensor of any of the losses)."""
        return self.leaves[self.leaf_of[id(tensor)]]

    def call(self, fn, values: Sequence[torch.Tensor], *args):
        """``fn(loss_0, *args)`` with every tensor of loss 0 replaced by ``values`` (one per leaf,
        e.g. the vmapped slices of :attr:`leaves`); what the loss caches or leaves behind from
        them is dropped afterwards, so nothing vmapped escapes."""
        saved = [store[key] for store, key, _ in self._slots]
        attrs = [(mod, set(vars(mod)), vars(mod).get("_cache")) for mod in self._modules0]
        for mod in self._modules0:  # a LossModule's _cache_values entries (detached parameter views)
            mod.__dict__["_cache"] = {}
        normal = torch.distributions.normal._standard_normal
        # torch's Normal.rsample draws by an in-place normal_() on a fresh tensor, which vmap
        # refuses under randomness="different" (TorchRL's TanhNormal samples through it): the
        # same draw out of place (torch.randn: the same numbers from the same generator state)
        torch.distributions.normal._standard_normal = _randn
        try:
            for store, key, i in self._slots:
                store[key] = values[i]
            return fn(self.losses[0], *args)
        finally:
            torch.distributions.normal._standard_normal = normal
            for (store, key, _), old in zip(self._slots, saved):
                store[key] = old
            # a nested to_module inside the loss leaves vmapped tensors as plain attributes
            # (tensordict writes what it cannot register as a parameter into __dict__)
            for mod, names, cache in attrs:
                for name in [n for n in vars(mod) if n not in names and isinstance(vars(mod)[n], torch.Tensor)]:
                    del mod.__dict__[name]
                if cache is None:
                    del mod.__dict__["_cache"]
                else:
                    mod.__dict__["_cache"] = cache


def _randn(shape, dtype, device) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype, device=device)


def _modules(root: nn.Module) -> list[nn.Module]:
    """Every module reachable from ``root``, also those held in a module's ``__dict__``."""
    seen, out = set(), []

    def visit(mod):
        if id(mod) in seen:
            return
        seen.add(id(mod))
        out.append(mod)
        for value in [*mod._modules.values(), *(v for v in vars(mod).values() if isinstance(v, nn.Module))]:
            if value is not None:
                visit(value)

    visit(root)
    return out


def stack_optimizers(stack: StackedLosses, optimizers: Mapping[str, torch.optim.Optimizer]) -> dict:
    """Loss 0's optimisers rebuilt over the stacked leaves: same class, groups and settings
    (Adam and L2 decay are element-wise, so each is S independent optimisers)."""
    out = {}
    for name, opt in optimizers.items():
        groups = []
        for g in opt.param_groups:
            group = {k: v for k, v in g.items() if k != "params"}
            group["params"] = [stack.stacked(p) for p in g["params"]]
            groups.append(group)
        out[name] = type(opt)(groups, **opt.defaults)
    return out


def _params(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for g in opt.param_groups for p in g["params"]]


@torch.no_grad()
def scatter_optimizer_state(stacked: torch.optim.Optimizer, per_seed: Sequence[torch.optim.Optimizer]) -> None:
    """Each seed's slice of ``stacked``'s state (Adam's moments; shared step counts copied)
    into that seed's own optimiser (built for its loss as a single run builds it)."""
    for s, opt in enumerate(per_seed):
        for p_stack, p in zip(_params(stacked), _params(opt)):
            state = stacked.state.get(p_stack)
            if not state:
                continue
            # moments are per element (seed s's slice); the step count is shared
            opt.state[p] = {k: (v if k == "step" else v[s]).clone() for k, v in state.items()}


@torch.no_grad()
def gather_optimizer_state(stacked: torch.optim.Optimizer, per_seed: Sequence[torch.optim.Optimizer]) -> None:
    """The seeds' optimiser states (e.g. restored from their checkpoints) stacked into ``stacked``."""
    params = [_params(opt) for opt in per_seed]
    for j, p_stack in enumerate(_params(stacked)):
        states = [opt.state.get(ps[j]) for opt, ps in zip(per_seed, params)]
        if not all(states):
            stacked.state.pop(p_stack, None)
            continue
        # moments are per element (stacked); the step count is shared by the S seeds
        stacked.state[p_stack] = {k: (v.clone() if k == "step" else torch.stack([st[k] for st in states]))
                                  for k, v in states[0].items()}


class VmappedLoss:
    """The S seeds' loss as one loss: :func:`~algd_components.updates.update_step` (the update
    every run makes) trains all S through it, with :func:`stack_optimizers`'s optimisers and a
    :class:`StackedSoftUpdate`.

    Calling it on a ``[S, B]`` batch (seed ``s``'s replay batch in row ``s``) runs loss 0's code
    under ``vmap`` over the seed dimension and returns the ``[S]`` loss tensordict; the update's
    backward of its sum gives each seed's parameters exactly their own gradient.
    :meth:`step_dual` steps each seed's λ from its own loss output, in place in the stacked
    buffers.  Given the same batches and the same noise, an update of it equals S single-seed
    updates (tests/test_stacked.py).  ``randomness``: ``vmap``'s — ``"different"`` (each seed
    its own noise, training) or ``"same"`` (one draw shared by all seeds, as tests inject it).
    """

    def __init__(self, stack: StackedLosses, randomness: str = "different"):
        self.stack, self.randomness = stack, randomness
        loss0 = stack.losses[0]
        if hasattr(loss0, "step_dual") and getattr(loss0, "dual_source", "batch") == "episode":
            raise ValueError("dual source 'episode' reads one host number per run; stacked seeds need 'batch' or 'policy'")
        self._forward = torch.vmap(lambda values, batch: stack.call(lambda loss, b: loss(b), values, batch), (0, 0),
                                   randomness=randomness)
        if hasattr(loss0, "step_dual"):
            dual = torch.vmap(lambda values, td: stack.call(lambda loss, t: loss.step_dual(t), values, td), (0, 0),
                              randomness=randomness)

            def step_dual(loss_td: TensorDictBase, **_) -> None:  # per-run host numbers (episode cost): unused
                with torch.no_grad():
                    dual(self.stack.leaves, loss_td.detach())

            self.step_dual = step_dual

    def __call__(self, batch: TensorDictBase) -> TensorDictBase:
        return self._forward(self.stack.leaves, batch)


class StackedSoftUpdate:
    """``target_updater`` (a :class:`~algd_components.updates.ForeachSoftUpdate` of loss 0) on
    the stacked tensors: the same rule ``θ' ← θ' + (1 - eps)(θ - θ')`` and interval, one
    ``torch._foreach_lerp_`` for all S seeds (the rule is element-wise)."""

    def __init__(self, stack: StackedLosses, target_updater: ForeachSoftUpdate):
        if not isinstance(target_updater, ForeachSoftUpdate):
            raise TypeError(f"stacked targets step by ForeachSoftUpdate's rule; got {type(target_updater).__name__}")
        sources, targets = target_updater.pairs()
        self.sources, self.targets = [stack.stacked(s) for s in sources], [stack.stacked(t) for t in targets]
        self.eps, self.interval, self.calls = float(target_updater.eps), target_updater.interval, 0

    @torch.no_grad()
    def step(self) -> None:
        self.calls += 1
        if not (self.calls - 1) % self.interval:
            torch._foreach_lerp_(self.targets, self.sources, 1 - self.eps)


class StackedPolicy(TensorDictModuleBase):
    """The S seeds' acting policy in one call: ``observation`` ``[S, ...]`` (seed ``s``'s env in
    row ``s``) → ``action`` ``[S, ...]``, each row from its seed's own parameters (the current
    stack) and its own noise (``vmap``, ``randomness="different"``).  ``policy`` is loss 0's
    acting module (``Algorithm.policy``), whose tensors :class:`StackedLosses` swaps."""

    def __init__(self, stack: StackedLosses, policy: nn.Module):
        super().__init__()
        held = {id(t) for t in stack.tensors[0]}
        missing = [n for n, t in [*policy.named_parameters(), *policy.named_buffers()] if id(t) not in held]
        if missing:  # it would act with its own, unstacked values for every seed
            raise ValueError(f"the policy's tensors {missing[:3]} are not loss 0's: pass the acting module that "
                             "loss 0 holds (Algorithm.policy of the first seed)")
        self.in_keys, self.out_keys = list(policy.in_keys), list(policy.out_keys)
        self.__dict__["stack"], self.__dict__["policy"] = stack, policy  # not submodules: no parameters of its own

        def act(values, td):
            return stack.call(lambda loss, t: policy(t.copy()).select(*self.out_keys), values, td)

        self._act = torch.vmap(act, (0, 0), randomness="different")

    @torch.no_grad()
    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        if tensordict.batch_size[:1] != torch.Size([self.stack.num_seeds]):
            raise ValueError(f"expected a batch of {self.stack.num_seeds} seeds first, got batch size "
                             f"{tuple(tensordict.batch_size)}")
        out = self._act([leaf.detach() for leaf in self.stack.leaves], tensordict.select(*self.in_keys))
        return tensordict.update(out)
