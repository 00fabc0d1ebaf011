"""A user-defined Lagrangian living outside the library, selected from config by _target_."""
import torch

from algd_components import Lagrangian


class HingePenalty(Lagrangian):
    """-Q + λ(Qc-h) + weight·relu(Qc-h)²; counts its calls so a test can see it was used."""

    calls = 0

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = weight

    def forward(self, q, qc, lam, cost_limit):
        HingePenalty.calls += 1
        return -q + lam * (qc - cost_limit) + self.weight * torch.relu(qc - cost_limit) ** 2


class NaNAfter(Lagrangian):
    """The standard Lagrangian until it has been called ``after`` times, NaN from then on:
    a forced divergence for the non-finite guard's tests."""

    def __init__(self, after: int = 0):
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, q, qc, lam, cost_limit):
        self.calls += 1
        energy = -q + lam * (qc - cost_limit)
        return energy * float("nan") if self.calls > self.after else energy
