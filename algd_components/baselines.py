"""Baseline losses built from the same parts as ALGD.

:class:`SACLagLoss` is TorchRL's :class:`~torchrl.objectives.SACLoss` with the actor's
objective replaced by the entropy-regularised Lagrangian energy
``α log π(a|s) + lagrangian(min_j Q_j(s,a), Q̂c(s,a), λ, h)``, a cost-critic ensemble trained
as in ALGD, and a :class:`DualVariable`.  With ``StandardLagrangian`` it is SAC-Lag; with
``AugmentedLagrangian`` it is SAC-AugLag — only the Lagrangian module differs.

CAL (Wu et al. 2024, "Off-Policy Primal-Dual Safe Reinforcement Learning") is the same loss
with a UCB cost estimate (``EnsembleCostValue(risk_coef=k)``), the standard Lagrangian, the
multiplier rectified by :func:`~algd_components.functional.rectified_multiplier`
(``rectification_coef=c``) and the log-λ Adam dual step on replay-buffer actions; see
``recipes/cal`` and docs/recipes.md for what was followed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase, TensorDictParams
from tensordict.utils import NestedKey
from tensordict.nn import TensorDictModule
from torchrl.envs.utils import ExplorationType, set_exploration_type
from torchrl.objectives import ClipPPOLoss, SACLoss, ValueEstimators
from torchrl.objectives.utils import _reduce
from torchrl.objectives.value import GAE

from .critics import EnsembleCostValue
from .dual import DUAL_SOURCES, DualVariable, step_dual
from .lagrangians import Lagrangian
from .functional import rectified_multiplier
from .objectives import COST_TARGETS, CostCriticMixin

__all__ = ["PPOLagLoss", "SACLagLoss"]


def _rsample_log_prob(dist):
    action = dist.rsample()
    return action, dist.log_prob(action)


class SACLagLoss(CostCriticMixin, SACLoss):
    """SAC (TorchRL's ``SACLoss``, v2: no separate value net) with a Lagrangian actor energy.

    Args:
        actor_network: a TorchRL ``ProbabilisticActor`` (e.g. ``TanhNormal``).
        qvalue_network: a TorchRL Q-value module (``ValueOperator``) for one critic;
            ``SACLoss`` makes ``num_qvalue_nets`` copies of it.
        cost_network: an :class:`EnsembleCostValue` (paper F.5: M = 6 for every baseline).
        lagrangian, dual, cost_limit: as in :class:`~algd_components.ALGDLoss`.
        cost_gamma: discount of the cost critic.
        dual_source: ``"batch"``, ``"policy"`` or ``"episode"`` (see ``ALGDLoss.step_dual``).
        rectification_coef: CAL's ``c`` (0 = off).  When > 0 the actor's energy receives
            ``[λ + c (mean_B Q̂c(s, a_B) - h)]_+`` in place of λ, ``a_B`` the replay-buffer
            actions — the augmented-Lagrangian gradient on the batch's constraint estimate
            (CAL's local policy convexification).  Meant for the standard Lagrangian.
        cost_target: the cost critics' TD target, ``"mean"``, ``"member"`` or ``"max"``
            (:meth:`~algd_components.CostCriticMixin.cost_target`).
        cost_target_draws: with ``cost_target="max"``, the max over this many members drawn with
            replacement (CAL's ``--M``); 0: over all members.
        **sac_kwargs: passed to ``SACLoss`` (``gamma`` via ``make_value_estimator`` as usual,
            ``alpha_init``, ``target_entropy``, ...).

    Keys: SACLoss's, plus ``observation``, ``cost`` and ``cost_terminated`` (``set_keys`` renames them).
    Output keys: SACLoss's ``loss_actor``, ``loss_qvalue``, ``loss_alpha``, ``alpha``,
    ``entropy`` plus ``loss_cost``, ``cost_estimate_batch``, ``cost_estimate_policy``,
    ``lambda`` and ``actor_multiplier`` (what the actor's energy used as λ: λ itself, or the
    rectified multiplier).
    """

    @dataclass
    class _AcceptedKeys(SACLoss._AcceptedKeys):
        """SACLoss's keys plus the observation the critics read and the cost reward."""

        observation: NestedKey = "observation"
        cost: NestedKey = "cost"
        cost_terminated: NestedKey = "terminated"  # ends the cost critics' bootstrap (``terminated``: the reward's)

    default_keys = _AcceptedKeys

    cost_network: EnsembleCostValue
    cost_network_params: TensorDictParams
    target_cost_network_params: TensorDictParams

    def __init__(
        self,
        actor_network: TensorDictModule,
        qvalue_network: TensorDictModule,
        cost_network: EnsembleCostValue,
        lagrangian: Lagrangian,
        dual: DualVariable,
        cost_limit: float,
        *,
        cost_gamma: float = 0.99,
        dual_source: str = "batch",
        rectification_coef: float = 0.0,
        cost_target: str = "mean",
        cost_target_draws: int = 0,
        **sac_kwargs,
    ):
        if cost_target not in COST_TARGETS:
            raise ValueError(f"cost_target {cost_target!r} is not one of {list(COST_TARGETS)}")
        if dual_source not in DUAL_SOURCES:
            raise ValueError(f"unknown dual_source {dual_source!r}; choose one of {list(DUAL_SOURCES)}")
        if not 0.0 <= cost_gamma <= 1.0:
            raise ValueError(f"cost_gamma must be in [0, 1], got {cost_gamma!r}")
        if not rectification_coef >= 0:
            raise ValueError(f"rectification_coef (CAL's c) must be >= 0, got {rectification_coef!r}")
        sac_kwargs.setdefault("num_qvalue_nets", 2)
        super().__init__(actor_network, qvalue_network, **sac_kwargs)
        self.convert_to_functional(cost_network, "cost_network", create_target_params=True)
        self.lagrangian = lagrangian
        self.dual = dual
        self.cost_limit = float(cost_limit)
        self.cost_gamma = float(cost_gamma)
        self.dual_source = dual_source
        self.rectification_coef = float(rectification_coef)
        self.cost_target_mode = cost_target
        self.cost_target_draws = int(cost_target_draws)

    @property
    def out_keys(self):
        return ["loss_actor", "loss_qvalue", "loss_alpha", "loss_cost", "alpha", "entropy", "cost_estimate_batch",
                "cost_estimate_policy", "actor_multiplier", "lambda"]

    def actor_multiplier(self, batch_cost_estimate: torch.Tensor) -> torch.Tensor:
        """λ, or CAL's ``[λ + c (Q̂c(s, a_B) - h)]_+`` when ``rectification_coef`` > 0."""
        if self.rectification_coef == 0.0:
            return self.dual.value
        return rectified_multiplier(self.dual.value, self.rectification_coef, batch_cost_estimate, self.cost_limit)

    def _sample(self, tensordict: TensorDictBase):
        with set_exploration_type(ExplorationType.RANDOM), self.actor_network_params.to_module(
            self.actor_network, preserve_module_state=False
        ):
            return _rsample_log_prob(self.actor_network.get_dist(tensordict))

    def actor_loss(self, tensordict: TensorDictBase, batch_cost_estimate: torch.Tensor | None = None):
        """``α log π(a|s) + lagrangian(min_j Q_j(s,a), Q̂c(s,a), λ, h)`` with ``a`` reparameterised
        and the critics frozen (SACLoss's actor loss with ``-min Q`` replaced by the energy).

        ``batch_cost_estimate``: ``Q̂c`` on the replay actions, for CAL's multiplier (``forward``
        hands over the one its cost loss computed; without it, the ensemble is evaluated here).
        Returns ``(loss, metadata)``; the metadata holds ``log_prob``, the policy's cost
        estimate ``cost_estimate_policy`` and the ``actor_multiplier`` used.
        """
        k = self.tensor_keys
        weights = self._maybe_get_priority_weight(tensordict)
        action, log_prob = self._sample(tensordict)
        td_q = tensordict.select(*self.qvalue_network.in_keys, strict=False)
        td_q.set(k.action, action)
        td_q = self._vmap_qnetworkN0(td_q, self._cached_detached_qvalue_params)
        q = td_q.get(k.state_action_value).min(0)[0]  # [*, 1]
        obs = tensordict.get(k.observation)
        with self._cached_detached_cost_params.to_module(self.cost_network, preserve_module_state=False):
            qc = self.cost_network.estimate(obs, action)
            if self.rectification_coef and batch_cost_estimate is None:
                with torch.no_grad():
                    batch_cost_estimate = self.cost_network.estimate(obs, tensordict.get(k.action))
        lam = self.actor_multiplier(batch_cost_estimate) if self.rectification_coef else self.dual.value
        energy = self.lagrangian(q, qc, lam, self.cost_limit).squeeze(-1)
        loss = self._reduce_loss(self._alpha * log_prob + energy, tensordict=tensordict, weights=weights)
        return loss, {"log_prob": log_prob.detach(), "cost_estimate_policy": qc.detach().mean(), "actor_multiplier": lam}

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        """SACLoss's forward (v2, reduced losses) with the Lagrangian actor loss, plus the cost
        ensemble's loss and the cost estimates a dual step reads.

        One ensemble pass on the replay actions serves the cost loss, the batch estimate and
        (with CAL's rectification) the actor's multiplier.
        """
        if self._version != 2 or self.reduction == "none":
            raise ValueError("SACLagLoss supports SACLoss version 2 (no value network) with a reducing `reduction`")
        k = self.tensor_keys
        obs = tensordict.get(k.observation)
        members = self.cost_network.members(obs, tensordict.get(k.action))
        batch_estimate = self.cost_network.reduce(members.detach())[1]
        loss_qvalue, value_metadata = self.qvalue_v2_loss(tensordict)
        loss_actor, actor_metadata = self.actor_loss(tensordict, batch_cost_estimate=batch_estimate)
        weights = self._maybe_get_priority_weight(tensordict)
        loss_alpha = self._reduce_loss(self._alpha_loss(log_prob=actor_metadata["log_prob"]), tensordict=tensordict,
                                       weights=weights)
        tensordict.set(k.priority, value_metadata["td_error"])
        nxt = tensordict.get("next")
        not_done = 1.0 - nxt.get(k.cost_terminated).to(obs.dtype)
        with torch.no_grad():
            next_action, _ = self._sample(nxt)
        y_c = self.cost_target(nxt.get(k.observation), next_action, nxt.get(k.cost), not_done)
        out = TensorDict({
            "loss_actor": loss_actor,
            "loss_qvalue": loss_qvalue,
            "loss_alpha": loss_alpha,
            "alpha": self._alpha,
            "entropy": -actor_metadata["log_prob"].mean(),
            "loss_cost": self.cost_loss(members, y_c),
            "cost_estimate_batch": batch_estimate.mean(),
            "actor_multiplier": self.actor_multiplier(batch_estimate.mean()).clone(),
            "cost_estimate_policy": actor_metadata["cost_estimate_policy"],
            "lambda": self.dual.value.detach().clone(),
        }, batch_size=[])
        self._clear_weakrefs(tensordict, out, "actor_network_params", "qvalue_network_params",
                             "target_actor_network_params", "target_qvalue_network_params")
        return out


class PPOLagLoss(ClipPPOLoss):
    """PPO-Lagrangian: TorchRL's ``ClipPPOLoss`` on the penalised advantage, with GAE for
    both reward and cost and λ from a :class:`DualVariable` (as OmniSafe's / Safety-Gymnasium's
    PPO-Lag).

    :meth:`compute_advantages` runs TorchRL's :class:`~torchrl.objectives.value.GAE` twice — on
    ``("next", "reward")`` with the value critic and on ``("next", "cost")`` with the cost
    critic — and writes the advantage PPO clips,
    ``A = (Â_r - λ Â_c) / (1 + λ)`` with ``Â_r`` standardised and ``Â_c`` centred over the
    batch.  :meth:`forward` is ``ClipPPOLoss.forward`` plus ``loss_cost`` (the cost critic's
    squared error to its GAE value target, weighted like ``loss_critic``) and ``lambda``.
    :meth:`step_dual` steps λ from the mean cost of recent training episodes against the
    episodic limit (``source="episode"``), once per collected batch.

    Args:
        actor_network: a ``ProbabilisticActor`` with ``return_log_prob=True``.
        critic_network: the reward value network (``ValueOperator`` writing ``state_value``).
        cost_critic_network: the cost value network, writing ``cost_state_value``.
        dual: the :class:`DualVariable` (OmniSafe's rule: ``rule="adam"``).
        gamma, lmbda: discount and GAE λ of the reward; ``cost_gamma``, ``cost_lmbda`` of the cost.
        **ppo_kwargs: passed to ``ClipPPOLoss`` (``clip_epsilon``, ``entropy_coeff``, ``critic_coeff``, ...).
    """

    def __init__(
        self,
        actor_network: TensorDictModule,
        critic_network: TensorDictModule,
        cost_critic_network: TensorDictModule,
        dual: DualVariable,
        *,
        gamma: float = 0.99,
        lmbda: float = 0.95,
        cost_gamma: float = 0.99,
        cost_lmbda: float = 0.95,
        **ppo_kwargs,
    ):
        for name, v in (("gamma", gamma), ("lmbda", lmbda), ("cost_gamma", cost_gamma), ("cost_lmbda", cost_lmbda)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v!r}")
        ppo_kwargs.setdefault("normalize_advantage", False)  # compute_advantages scales Â_r itself
        super().__init__(actor_network, critic_network, **ppo_kwargs)
        self.cost_critic_network = cost_critic_network
        self.dual = dual
        self.make_value_estimator(ValueEstimators.GAE, gamma=gamma, lmbda=lmbda)
        self.cost_value_estimator = GAE(gamma=cost_gamma, lmbda=cost_lmbda, value_network=cost_critic_network)
        self.cost_value_estimator.set_keys(
            reward="cost", value="cost_state_value", advantage="cost_advantage", value_target="cost_value_target"
        )

    @torch.no_grad()
    def compute_advantages(self, tensordict: TensorDictBase) -> TensorDictBase:
        """GAE for reward and cost on a collected batch (time on the last batch dim), then the
        penalised advantage under ``advantage``.  Returns ``tensordict``, written in place."""
        self.value_estimator(tensordict, params=self._cached_critic_network_params_detached,
                             target_params=self.target_critic_network_params)
        self.cost_value_estimator(tensordict)
        adv_r = tensordict.get(self.tensor_keys.advantage)
        adv_c = tensordict.get("cost_advantage")
        adv_r = (adv_r - adv_r.mean()) / (adv_r.std() + 1e-8)
        adv_c = adv_c - adv_c.mean()
        lam = self.dual.value
        tensordict.set(self.tensor_keys.advantage, (adv_r - lam * adv_c) / (1.0 + lam))
        return tensordict

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        out = super().forward(tensordict)
        pred = self.cost_critic_network(tensordict.select(*self.cost_critic_network.in_keys).clone())
        err = (pred.get("cost_state_value") - tensordict.get("cost_value_target")).square()
        coeff = self.critic_coeff if self.critic_coeff is not None else 1.0
        out.set("loss_cost", coeff * _reduce(err.squeeze(-1), self.reduction))
        out.set("lambda", self.dual.value.detach().clone())
        return out

    def step_dual(self, loss_td=None, episode_cost: float | None = None, episode_cost_limit: float | None = None):
        """λ from the mean cost of recent training episodes against ``episode_cost_limit``."""
        return step_dual(self.dual, "episode", float("nan"), loss_td, episode_cost, episode_cost_limit)
