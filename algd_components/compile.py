"""Optional ``torch.compile`` of the hot modules (``compile.compile=true`` in the recipes)."""
from __future__ import annotations

import torch

__all__ = ["compile_modules"]


def compile_modules(loss, mode: str | None = None) -> None:
    """Compile the critic ensembles' forward passes in place.

    Works on an :class:`~algd_components.ALGDLoss` (or anything with ``actor``,
    ``qvalue_network`` and ``cost_network``).  Target parameters are swapped in with
    ``to_module``, so each compiled function keeps one graph per parameter set.
    """
    # The score network is left eager: its chain passes the step as a Python int, which
    # would specialise (and recompile) a compiled graph once per step value.
    for net in (loss.qvalue_network.net, loss.cost_network.net):
        net.forward = torch.compile(net.forward, mode=mode, dynamic=False)
