"""Algorithms by name: ``algorithms.get("algd").build(...)``, ``algorithms.register(...)``.

Built in: ``algd``, ``lgd`` and ``algd_ddpm`` (:mod:`.algd`), ``sac_lag``, ``sac_auglag`` and ``cal``
(:mod:`.sac`), ``ppo_lag`` (:mod:`.ppo_lag`).  Add your own with :func:`register` (see
docs/components.md, "Your own algorithm"); ``algd-train algo=NAME`` and
``algd-compare --algos NAME`` then find it.
"""
from __future__ import annotations

from hydra.core.config_store import ConfigStore

from . import algd, ppo_lag, sac
from .base import ENTRY_POINT_GROUP, Algorithm, AlgorithmSpec, get, names, register
from .compose import compose, compose_config, validate

__all__ = ["Algorithm", "AlgorithmSpec", "register", "get", "names", "validate", "compose", "compose_config",
           "ENTRY_POINT_GROUP", "store_schema"]


def store_schema(name: str, node) -> None:
    """Put a config dataclass into Hydra's ConfigStore as ``name`` (what a preset's
    defaults list starts with)."""
    ConfigStore.instance().store(name=name, node=node)


store_schema("algd_schema", algd.ALGDTrainConfig)
store_schema("sac_schema", sac.SACTrainConfig)
store_schema("ppo_lag_schema", ppo_lag.PPOTrainConfig)

register("algd", config="algd", build=algd.build, make_policy=algd.make_policy, validate=algd.validate,
         description="ALGD: VE-SDE diffusion actor, augmented-Lagrangian Monte-Carlo score target")
register("lgd", config="algd", build=algd.build, make_policy=algd.make_policy, validate=algd.validate,
         overrides=["lagrangian=standard"], description="LGD: ALGD with the standard Lagrangian (the paper's ablation)")
register("algd_ddpm", config="algd", build=algd.build, make_policy=algd.make_policy, validate=algd.validate,
         overrides=["algd.actor=ddpm"], description="ALGD with a DDPM (variance-preserving) actor on TorchRL's DiffusionActor")
register("sac_lag", config="sac_lag", build=sac.build, make_policy=sac.make_policy, validate=sac.validate,
         description="SAC-Lag: SAC with the standard Lagrangian energy")
register("sac_auglag", config="sac_lag", build=sac.build, make_policy=sac.make_policy, validate=sac.validate,
         overrides=["lagrangian=augmented"], description="SAC-AugLag: SAC with the augmented Lagrangian energy")
register("cal", config="cal", build=sac.build, make_policy=sac.make_policy, validate=sac.validate_cal,
         description="CAL: conservative augmented Lagrangian (Wu et al. 2024)")
register("ppo_lag", config="ppo_lag", build=ppo_lag.build, make_policy=ppo_lag.make_policy, validate=ppo_lag.validate,
         overrides=["collector.init_random_frames=0"], description="PPO-Lag (on-policy)")
