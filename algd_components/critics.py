"""Critics as TensorDict modules: the twin reward critic and the cost-critic ensemble."""
from __future__ import annotations

from typing import Sequence

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from tensordict.utils import NestedKey
from torch import nn

from .nn import EnsembleMLP, SiLU

__all__ = ["TwinQValue", "EnsembleCostValue"]


class TwinQValue(TensorDictModuleBase):
    """Clipped double-Q reward critic (paper Alg. 1 line 14; Table 3 "Reward Critic").

    Two independent MLPs (ReLU, 256 hidden by default) evaluated in one batched call.
    Writes the per-member values ``[*, 2, 1]`` and their minimum ``[*, 1]``.

    Keys: reads ``observation``, ``action``; writes ``state_action_value_members`` and
    ``state_action_value`` (change them with ``in_keys`` / ``out_keys``).
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        num_cells: Sequence[int] = (256, 256),
        activation_class: type[nn.Module] = nn.ReLU,
        num_members: int = 2,
        in_keys: Sequence[NestedKey] = ("observation", "action"),
        out_keys: Sequence[NestedKey] = ("state_action_value_members", "state_action_value"),
    ):
        super().__init__()
        self.in_keys = list(in_keys)
        self.out_keys = list(out_keys)
        self.net = EnsembleMLP(obs_dim + action_dim, 1, num_members, num_cells, activation_class)

    def members(self, observation: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Per-member values ``[*batch, M, 1]``."""
        return self.net(observation, action)

    def estimate(self, observation: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The clipped (minimum) value ``[*batch, 1]``."""
        return self.members(observation, action).min(-2).values

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        members = self.members(tensordict.get(self.in_keys[0]), tensordict.get(self.in_keys[1]))
        tensordict.set(self.out_keys[0], members)
        tensordict.set(self.out_keys[1], members.min(-2).values)
        return tensordict


class EnsembleCostValue(TensorDictModuleBase):
    """Ensemble of ``M`` cost critics ``Q_c^{ψ_i}`` (paper Section 3.3 and Table 3).

    Members share one architecture (SiLU, 256 hidden) with independent initialisations and
    are evaluated in one batched call.  The paper averages them (``Q̄_c``, Alg. 1 line 17);
    the released code uses the pessimistic ``mean + k·std`` with ``k = 1``.  Both are
    :attr:`risk_coef` (``k``; 0 gives the paper's plain mean).  The standard deviation is
    the unbiased one across members (0 when ``M = 1``).

    Keys: reads ``observation``, ``action``; writes ``cost_value_members`` ``[*, M, 1]``,
    ``cost_value`` (mean, ``[*, 1]``) and ``cost_value_risk`` (``mean + k·std``).

    Per-layer weight decay (Table 3: 3e-5, 6e-5, 1e-4) through
    ``ensemble.net.param_groups(weight_decay=[...])``.
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        num_members: int = 6,
        num_cells: Sequence[int] = (256, 256),
        activation_class: type[nn.Module] = SiLU,
        risk_coef: float = 0.0,
        in_keys: Sequence[NestedKey] = ("observation", "action"),
        out_keys: Sequence[NestedKey] = ("cost_value_members", "cost_value", "cost_value_risk"),
    ):
        super().__init__()
        if not risk_coef >= 0:
            raise ValueError(f"risk_coef (k in mean + k*std) must be >= 0, got {risk_coef!r}")
        self.in_keys = list(in_keys)
        self.out_keys = list(out_keys)
        self.risk_coef = float(risk_coef)
        self.net = EnsembleMLP(obs_dim + action_dim, 1, num_members, num_cells, activation_class)

    @property
    def num_members(self) -> int:
        return self.net.num_members

    def members(self, observation: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Per-member values ``[*batch, M, 1]``."""
        return self.net(observation, action)

    def reduce(self, members: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, mean + k·std)`` over the member dimension of ``[*, M, 1]`` values."""
        mean = members.mean(-2)
        if self.risk_coef == 0.0 or self.num_members == 1:
            return mean, mean
        return mean, mean + self.risk_coef * members.std(-2)

    def estimate(self, observation: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The cost estimate used in the energy: ``mean + k·std``, ``[*batch, 1]``."""
        return self.reduce(self.members(observation, action))[1]

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        members = self.members(tensordict.get(self.in_keys[0]), tensordict.get(self.in_keys[1]))
        mean, risk = self.reduce(members)
        tensordict.set(self.out_keys[0], members)
        tensordict.set(self.out_keys[1], mean)
        tensordict.set(self.out_keys[2], risk)
        return tensordict
