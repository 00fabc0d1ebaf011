"""SAC-Lag builders: the SAC-based recipes (this one and ``recipes/cal``) share them, so they
live in :mod:`algd_components.builders`; the loop is in :mod:`algd_components.trainer`.
"""
from algd_components.builders import build_sac, validate_sac

__all__ = ["validate_sac", "build_sac"]
