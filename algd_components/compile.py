"""Optional ``torch.compile`` of the hot path (``compile.compile=true`` in the recipes)."""
from __future__ import annotations

import torch

__all__ = ["compile_modules"]


def compile_modules(loss, mode: str | None = None) -> None:
    """Compile the Monte-Carlo score target's energy and action gradient in place.

    Works on an :class:`~algd_components.ALGDLoss` (through its ``score_loss``) or an
    :class:`~algd_components.AugLagScoreTarget`.  That pass — the critics on the ``N·B``
    sampled actions, forward and backward to the actions — is the largest share of an
    update; compiled as one graph (:func:`algd_components.functional.energy_and_action_grad`),
    inductor fuses its element-wise work (docs/performance.md has the measured effect).
    The noise is still drawn eagerly, so a seed gives the same draws with and without
    compilation; the values agree to float rounding.  ``mode="reduce-overhead"`` asks for
    CUDA graphs on a GPU.
    """
    target = getattr(loss, "score_loss", loss)
    # the unbound method, called with the module: a deep copy of the loss then runs on its own
    # critics (a compiled bound method would keep pointing at the original's)
    target.compiled_energy_and_grad = torch.compile(type(target).energy_and_grad, mode=mode, dynamic=False)
