"""Every private member of torch, TorchRL, tensordict, OmegaConf, gymnasium / safety-gymnasium and
the standard library that this package uses, with where and why: the one place that says what a
new release can break.  Public API is used wherever it exists (subclass hooks, ``tensor_keys``,
the replay buffer's writer through its ``state_dict``); what is here has no public equivalent.

``tests/test_private_api.py`` fails by name when an installed version no longer has one of these
members, and when the package's code uses a private member (``x._name`` or a ``"_name"`` string)
that is not listed here: add it with its reason, or use the public way.

Each entry: member name → (owner, kind, where and why).  ``kind`` says how the test finds it:
``"attr"``: ``getattr(import(owner), member)`` exists; ``"source"``: the source files of the owner
(a module, or a class and its bases) assign or read it (an instance attribute, made in ``__init__``).
"""
from __future__ import annotations

__all__ = ["PRIVATE_API"]

PRIVATE_API: dict[str, tuple[str, str, str]] = {
    # torch
    "_C": ("torch", "attr", "reaches torch._C._are_functorch_transforms_active (below)"),
    "_are_functorch_transforms_active": (
        "torch._C", "attr",
        "nn.py, functional.py: inside vmap (stacked seeds) take the vmap-safe branch; no public query exists"),
    "_foreach_norm": ("torch", "attr", "updates.NonFiniteGuard: every gradient and parameter norm in one fused call"),
    "_foreach_lerp_": ("torch", "attr", "ForeachSoftUpdate, StackedSoftUpdate: every target lerped in one call"),
    "_foreach_copy_": ("torch", "attr", "stacked.StackedLosses.scatter/gather: all of a seed's tensors in one call"),
    "_standard_normal": (
        "torch.distributions.normal", "attr",
        "stacked.StackedLosses.call: swapped, inside each vmapped call only, for an out-of-place draw of the same "
        "numbers (vmap refuses the in-place normal_ through which TorchRL's TanhNormal samples)"),
    "_parameters": ("torch.nn.Module", "source", "stacked.StackedLosses: a loss's tensors found and swapped by slot"),
    "_buffers": ("torch.nn.Module", "source", "stacked.StackedLosses: as _parameters, for λ and its Adam moments"),
    "_modules": ("torch.nn.Module", "source", "stacked._modules: every module a loss reaches"),
    # tensordict
    "_tensordict": ("tensordict.TensorDict", "source", "stacked.StackedLosses: the leaf dict of a TensorDict a loss keeps"),
    "_param_td": ("tensordict.nn.TensorDictParams", "source", "stacked.StackedLosses: a TensorDictParams' own tensors"),
    # TorchRL
    "_cache_values": ("torchrl.objectives.utils", "attr",
                      "objectives.py: the caching decorator TorchRL's own losses put on their detached parameters"),
    "_cache": ("torchrl.objectives.utils", "source",
               "stacked.StackedLosses.call: _cache_values' per-module cache, emptied around a vmapped call"),
    "_reduce": ("torchrl.objectives.utils", "attr", "baselines.SACLagLoss: reduces its losses as SACLoss does"),
    "_AcceptedKeys": ("torchrl.objectives.SACLoss", "attr",
                      "baselines.SACLagLoss: its keys dataclass extends SACLoss's (TorchRL's own subclassing pattern)"),
    "_alpha": ("torchrl.objectives.SACLoss", "attr", "baselines.SACLagLoss: the entropy coefficient, as SACLoss reads it"),
    "_alpha_loss": ("torchrl.objectives.SACLoss", "attr", "baselines.SACLagLoss: SACLoss's temperature loss, unchanged"),
    "_cached_critic_network_params_detached": (
        "torchrl.objectives.PPOLoss", "attr", "baselines.PPOLagLoss: the value estimator's detached critic, as PPOLoss"),
    "_clear_weakrefs": ("torchrl.objectives.SACLoss", "attr", "baselines.SACLagLoss.forward: SACLoss's clean-up call"),
    "_maybe_get_priority_weight": ("torchrl.objectives.SACLoss", "attr",
                                   "baselines.SACLagLoss: importance weights of a prioritised buffer, as SACLoss"),
    "_reduce_loss": ("torchrl.objectives.SACLoss", "attr", "baselines.SACLagLoss: SACLoss's weighted reduction"),
    "_version": ("torchrl.objectives.SACLoss", "source", "baselines.SACLagLoss: v1 (value network) against v2"),
    "_vmap_qnetworkN0": ("torchrl.objectives.SACLoss", "source",
                         "baselines.SACLagLoss: the critic ensemble vmapped as SACLoss builds it"),
    "_sources": ("torchrl.objectives.SoftUpdate", "source",
                 "ForeachSoftUpdate.pairs: the (source, target) pairs SoftUpdate itself steps (StackedSoftUpdate too)"),
    "_targets": ("torchrl.objectives.SoftUpdate", "source", "as _sources"),
    "_target_names": ("torchrl.objectives.SoftUpdate", "source",
                      "ForeachSoftUpdate.step: read each target as SoftUpdate does (marks it used)"),
    "_cursor": ("torchrl.data.replay_buffers.writers.RoundRobinWriter", "source",
                "training/checkpoints: the writer's position, read and restored through its public state_dict (its key)"),
    "_carrier": ("torchrl.collectors.Collector", "source",
                 "training/env_replay.replay: the collector's env state between steps, stepped through the logged "
                 "actions on resume and handed back (no public setter: Collector.reset only starts new episodes)"),
    "_carrier_has_no_device": ("torchrl.collectors.Collector", "source",
                               "training/env_replay.replay: the carrier's device kept as the rollout keeps it"),
    "_update_traj_ids": ("torchrl.collectors.Collector", "attr",
                         "training/env_replay.replay: trajectory ids advanced at each replayed episode end, as the "
                         "rollout does (the replay buffer's ids then match an uninterrupted run's)"),
    "_env": ("torchrl.envs.GymEnv", "source", "training/metrics.record_video: frames rendered by the gym env itself"),
    # OmegaConf
    "_get_node": ("omegaconf.DictConfig", "attr", "config.check_ranges: a node without resolving interpolations"),
    "_is_none": ("omegaconf.DictConfig", "attr", "config.check_ranges: a null sub-config is skipped"),
    # safety-gymnasium
    "_viewers": ("safety_gymnasium.bases.underlying.Underlying", "source",
                 "training/metrics: its off-screen GL viewers freed while EGL is up (the builder has no close for them)"),
    # standard library
    "_processes": ("concurrent.futures.ProcessPoolExecutor", "source",
                   "compare: SIGTERM passed on to --jobs workers (the executor exposes no process list)"),
}
