"""Loss modules.  :class:`AugLagScoreTarget` is the ALGD score-matching loss."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.utils import NestedKey
from torchrl.objectives.common import LossModule

from . import functional as F
from .actor import VESDEActor
from .critics import EnsembleCostValue, TwinQValue
from .dual import DualVariable
from .lagrangians import Lagrangian

__all__ = ["AugLagScoreTarget"]


class AugLagScoreTarget(LossModule):
    """Score matching against the Lagrangian-guided Monte-Carlo score target.

    Paper eq. (11) and Alg. 1 lines 18-20: for each element with noisy action ``a^τ`` and
    noise level ``σ(τ)``, the target is
    ``φ_A = Σ_i -w_i ∇_a L_A(s, a_i, λ)/β``, ``a_i ~ N(a^τ, σ²(τ) I)``,
    ``w = softmax(-L_A/β)``, and the loss is ``E ||φ_θ(s, a^τ, τ) - φ_A||²`` (squared
    norm over the action dimension, averaged over the batch).

    The energy is ``lagrangian(Q, Q̂c, λ, h)`` evaluated on the squashed actions
    ``actor.squash(a_i)``: ``Q`` is the clipped (min) twin critic, ``Q̂c`` the ensemble's
    estimate (``mean + k·std``), λ the dual variable's current value (not stepped here).
    Only the actor's score network receives gradients: the target is detached and the
    critics are differentiated w.r.t. the action alone.

    Args:
        actor: the :class:`VESDEActor` whose score network is trained.
        qvalue_network: the reward critic (:class:`TwinQValue` or anything with
            ``estimate(obs, action) -> [*, 1]``).
        cost_network: the :class:`EnsembleCostValue` (or anything with ``estimate``).
        lagrangian: a :class:`Lagrangian` (e.g. ``AugmentedLagrangian(rho=1.0)``).
        dual: the :class:`DualVariable` giving λ.
        cost_limit: ``h``, the budget for the discounted cost value.
        num_samples: ``N`` ≥ 1 (paper: 6).
        beta: ``β`` > 0 (released code: 1.0).

    Input keys (``set_keys`` to rename): ``observation``, ``noisy_action``,
    ``noise_sigma``, ``diffusion_step`` — what ``VESDEActor.sample_for_training`` writes.
    Output: ``loss_score`` and, for logging, ``score_target_norm`` and ``score_pred_norm``.
    """

    @dataclass
    class _AcceptedKeys:
        """Configurable tensordict keys.

        Attributes:
            observation: the conditioning observation. Defaults to ``"observation"``.
            noisy_action: the intermediate pre-squash action ``a^τ``. Defaults to ``"noisy_action"``.
            noise_sigma: ``σ(τ)`` per element, ``[*, 1]``. Defaults to ``"noise_sigma"``.
            diffusion_step: ``τ ∈ 1..K`` per element. Defaults to ``"diffusion_step"``.
        """

        observation: NestedKey = "observation"
        noisy_action: NestedKey = "noisy_action"
        noise_sigma: NestedKey = "noise_sigma"
        diffusion_step: NestedKey = "diffusion_step"

    default_keys = _AcceptedKeys
    tensor_keys: _AcceptedKeys

    def __init__(
        self,
        actor: VESDEActor,
        qvalue_network: TwinQValue,
        cost_network: EnsembleCostValue,
        lagrangian: Lagrangian,
        dual: DualVariable,
        cost_limit: float,
        num_samples: int = 6,
        beta: float = 1.0,
    ):
        super().__init__()
        if int(num_samples) != num_samples or num_samples < 1:
            raise ValueError(f"num_samples (N) must be an integer >= 1, got {num_samples!r}")
        if not (isinstance(beta, (int, float)) and beta > 0):
            raise ValueError(f"beta must be > 0, got {beta!r}")
        self.actor = actor
        self.qvalue_network = qvalue_network
        self.cost_network = cost_network
        self.lagrangian = lagrangian
        self.dual = dual
        self.cost_limit = float(cost_limit)
        self.num_samples = int(num_samples)
        self.beta = float(beta)

    def _forward_value_estimator_keys(self, **kwargs) -> None:
        pass

    @property
    def in_keys(self):
        k = self.tensor_keys
        return [k.observation, k.noisy_action, k.noise_sigma, k.diffusion_step]

    @property
    def out_keys(self):
        return ["loss_score", "score_target_norm", "score_pred_norm"]

    def energy(self, observation: torch.Tensor, pre_action: torch.Tensor) -> torch.Tensor:
        """``lagrangian(Q, Q̂c, λ, h)`` at pre-squash actions, shape ``pre_action.shape[:-1]``."""
        action = self.actor.policy.squash(pre_action)
        q = self.qvalue_network.estimate(observation, action)
        qc = self.cost_network.estimate(observation, action)
        return self.lagrangian(q, qc, self.dual.value, self.cost_limit).squeeze(-1)

    def score_target(self, tensordict: TensorDictBase, generator: torch.Generator | None = None) -> torch.Tensor:
        """``φ_A`` for each element, shape of the noisy action (detached)."""
        obs = tensordict.get(self.tensor_keys.observation)
        return F.mc_score_target(
            lambda a: self.energy(obs, a),
            tensordict.get(self.tensor_keys.noisy_action),
            tensordict.get(self.tensor_keys.noise_sigma),
            self.num_samples,
            self.beta,
            generator=generator,
        )

    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        k = self.tensor_keys
        obs = tensordict.get(k.observation)
        noisy = tensordict.get(k.noisy_action)
        if noisy.shape[:-1] != obs.shape[:-1]:
            raise ValueError(
                f"noisy_action batch shape {tuple(noisy.shape[:-1])} does not match observation {tuple(obs.shape[:-1])}"
            )
        target = self.score_target(tensordict)
        pred = self.actor.policy.score(obs, noisy.detach(), tensordict.get(k.diffusion_step))
        loss = (pred - target).square().sum(-1).mean()
        return TensorDict(
            {
                "loss_score": loss,
                "score_target_norm": target.norm(dim=-1).mean().detach(),
                "score_pred_norm": pred.norm(dim=-1).mean().detach(),
            },
            batch_size=[],
        )
