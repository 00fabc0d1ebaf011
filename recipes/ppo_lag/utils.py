"""PPO-Lag builders: they live in :mod:`algd_components.builders` beside the SAC ones; the loop
(with ``Algorithm.learn`` for on-policy updates) is in :mod:`algd_components.trainer`.
"""
from algd_components.builders import build_ppo_lag, validate_ppo

__all__ = ["build_ppo_lag", "validate_ppo"]
