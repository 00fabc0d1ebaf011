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
