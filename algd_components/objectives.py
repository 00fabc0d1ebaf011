"""Loss modules.  :class:`AugLagScoreTarget` is the ALGD score-matching loss."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase, TensorDictParams
from tensordict.utils import NestedKey
from torchrl.objectives.common import LossModule
from torchrl.objectives.utils import _cache_values

from . import functional as F
from .actor import VESDEActor
from .critics import EnsembleCostValue, TwinQValue
from .dual import DUAL_SOURCES, DualVariable, step_dual
from .lagrangians import Lagrangian

__all__ = ["AugLagScoreTarget", "ALGDLoss", "CostCriticMixin", "COST_TARGETS", "SCORE_REDUCTIONS"]

SCORE_REDUCTIONS = ("sum", "mean")


class AugLagScoreTarget(LossModule):
    """Score matching against the Lagrangian-guided Monte-Carlo score target.

    Paper eq. (11) and Alg. 1 lines 18-20: for each element with noisy action ``a^τ`` and
    noise level ``σ(τ)``, the target is
    ``φ_A = Σ_i -w_i ∇_a L_A(s, a_i, λ)/β``, ``a_i ~ N(a^τ, σ²(τ) I)``,
    ``w = softmax(-L_A/β)``, and the loss is ``E ||φ_θ(s, a^τ, τ) - φ_A||²`` (squared
    norm over the action dimension, averaged over the batch).

    The energy is ``lagrangian(Q, Q̂c, λ, h)`` evaluated on the squashed actions
    ``actor.squash(a_i)`` — or, for a VE-SDE actor with ``chain_space="action"`` (the released
    code), on ``a_i ~ N(squash(u^τ), σ²(τ) I)`` as drawn, in action space, unclipped: ``Q`` is the clipped (min) twin critic, ``Q̂c`` the ensemble's
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
        reduction: ``"sum"`` — ``||φ_θ - φ_A||²`` summed over action dimensions, averaged over
            the batch (the paper) — or ``"mean"``, averaged over both (``F.mse_loss``, the
            released code): ``d_a`` times smaller, which matters only where the score term is
            mixed with another loss (``algd=code``'s pathwise energy term).
        grad_into_chain: ``False`` (the paper's eq. (11): ``a^τ`` is a sample, the loss trains
            ``φ_θ`` as a function) detaches ``noisy_action`` from the chain that made it;
            ``True`` lets the loss's gradient also flow through ``a^τ`` into the chain, as the
            released code's ``F.mse_loss(policy.score(state, a_tau, tau), phi_star)`` does
            (``a_tau`` is not detached there).  The target is detached either way.

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
        reduction: str = "sum",
        grad_into_chain: bool = False,
    ):
        super().__init__()
        if reduction not in SCORE_REDUCTIONS:
            raise ValueError(f"score reduction {reduction!r} is not one of {list(SCORE_REDUCTIONS)}")
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
        self.reduction = reduction
        self.grad_into_chain = bool(grad_into_chain)
        # set by algd_components.compile.compile_modules: torch.compile(type(self).energy_and_grad)
        self.compiled_energy_and_grad = None

    def energy_and_grad(self, observation: torch.Tensor, pre_action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(energy, ∇_a energy)`` at pre-squash actions ``[N, *batch, d]``, both detached."""
        return F.energy_and_action_grad(lambda a: self.energy(observation, a), pre_action)

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
        return self.action_energy(observation, self.actor.policy.squash(pre_action))

    def action_energy(self, observation: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``lagrangian(Q, Q̂c, λ, h)`` at actions as given (unclipped), shape ``action.shape[:-1]``."""
        q = self.qvalue_network.estimate(observation, action)
        qc = self.cost_network.estimate(observation, action)
        return self.lagrangian(q, qc, self.dual.value, self.cost_limit).squeeze(-1)

    def score_target(self, tensordict: TensorDictBase, generator: torch.Generator | None = None) -> torch.Tensor:
        """``φ_A`` for each element, shape of the noisy action (detached)."""
        obs = tensordict.get(self.tensor_keys.observation)
        compiled = self.compiled_energy_and_grad
        noisy = tensordict.get(self.tensor_keys.noisy_action).detach()
        policy = self.actor.policy
        energy = lambda a: self.energy(obs, a)  # noqa: E731
        if hasattr(policy, "proposal"):  # a noise process with its own proposal (VP: functional.vp_proposal)
            centre, std, scale = policy.proposal(noisy, tensordict.get(self.tensor_keys.diffusion_step))
        elif getattr(policy, "chain_space", "pre_squash") == "action":  # released: N(squash(u^τ), σ²(τ) I), unclipped
            centre, std, scale = policy.squash(noisy), tensordict.get(self.tensor_keys.noise_sigma), None
            energy, compiled = (lambda a: self.action_energy(obs, a)), None
        else:  # VE-SDE: N(a^τ, σ²(τ) I), eq. (11)
            centre, std, scale = noisy, tensordict.get(self.tensor_keys.noise_sigma), None
        target = F.mc_score_target(
            energy,
            centre,
            std,
            self.num_samples,
            self.beta,
            generator=generator,
            energy_and_grad_fn=None if compiled is None else (lambda a: compiled(self, obs, a)),
        )
        return target if scale is None else scale * target

    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        k = self.tensor_keys
        obs = tensordict.get(k.observation)
        noisy = tensordict.get(k.noisy_action)
        if noisy.shape[:-1] != obs.shape[:-1]:
            raise ValueError(
                f"noisy_action batch shape {tuple(noisy.shape[:-1])} does not match observation {tuple(obs.shape[:-1])}"
            )
        target = self.score_target(tensordict)
        pred = self.actor.policy.score(obs, noisy if self.grad_into_chain else noisy.detach(), tensordict.get(k.diffusion_step))
        if self.reduction == "sum":  # the squared norm over action dimensions (paper eq. (11)'s matching loss)
            loss = (pred - target).square().sum(-1).mean()
        else:  # F.mse_loss(pred, target): also averaged over action dimensions (the released code)
            loss = (pred - target).square().mean()
        return TensorDict(
            {
                "loss_score": loss,
                "score_target_norm": target.norm(dim=-1).mean().detach(),
                "score_pred_norm": pred.norm(dim=-1).mean().detach(),
            },
            batch_size=[],
        )


COST_TARGETS = ("mean", "member", "max")


class CostCriticMixin:
    """What every loss with a cost-critic ensemble and a dual variable shares
    (:class:`ALGDLoss`, :class:`~algd_components.SACLagLoss`): the cost critics' TD target and
    loss, their detached view for the actor's energy, and the dual step.

    Expects ``cost_network`` converted to functional with target parameters
    (``convert_to_functional(..., create_target_params=True)``), and the attributes
    ``cost_gamma``, ``cost_target_mode`` (one of :data:`COST_TARGETS`), ``dual``,
    ``dual_source`` and ``cost_limit``.
    """

    def cost_target(self, next_observation, next_action, cost, not_done) -> torch.Tensor:
        """The cost critics' TD target from the target ensemble (paper Alg. 1 lines 15-16), no gradient:

        * ``"mean"``: ``y_c = c + γ_c (1 - d) mean_i Q'_{c,i}(s', a')`` for every member, ``[*, 1]``;
        * ``"member"``: member i bootstraps from its own target member,
          ``y_{c,i} = c + γ_c (1 - d) Q'_{c,i}(s', a')``, ``[*, M, 1]`` (the released ALGD and CAL
          code: keeps the members' disagreement that a ``mean + k·std`` estimate relies on);
        * ``"max"``: ``c + γ_c (1 - d) max_i Q'_{c,i}`` for every member (CAL's ``intrgt_max``,
          its Humanoid setting); with ``cost_target_draws = M > 0`` the max is over ``M`` members
          drawn with replacement once per update, as CAL's ``np.random.choice(E, M)`` does.
        """
        mode = getattr(self, "cost_target_mode", "mean")
        with torch.no_grad():
            with self.target_cost_network_params.to_module(self.cost_network):
                members = self.cost_network.members(next_observation, next_action)
            if mode == "member":
                return cost.unsqueeze(-2) + self.cost_gamma * not_done.unsqueeze(-2) * members
            if mode == "mean":
                qc_next = members.mean(-2)
            else:
                draws = getattr(self, "cost_target_draws", 0)
                if draws:  # CAL's intrgt_max: np.random.choice(E, M) members, with replacement, once per update
                    members = members[..., torch.randint(members.shape[-2], (draws,), device=members.device), :]
                qc_next = members.max(-2).values
            return cost + self.cost_gamma * not_done * qc_next

    @staticmethod
    def cost_loss(members: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Every member regresses on its target (``[*, 1]`` shared, or ``[*, M, 1]`` per member):
        ``mean_B Σ_i (Q_{c,i} - y_{c,i})²``."""
        if target.dim() < members.dim():
            target = target.unsqueeze(-2)
        return (members - target).square().sum(-2).mean()

    # detached views of the online critics, for the policy's energy with the critics frozen;
    # built once, as TorchRL's SACLoss does (its cache is dropped when the loss is moved/cast):
    # in-place optimiser steps and load_state_dict keep them current
    @property
    @_cache_values
    def _cached_detached_cost_params(self):
        return self.cost_network_params.detach()

    def step_dual(self, loss_td: TensorDictBase, episode_cost: float | None = None,
                  episode_cost_limit: float | None = None) -> torch.Tensor:
        """Step λ from what :attr:`dual_source` names (:func:`algd_components.dual.step_dual`):
        ``"batch"`` (paper Alg. 1 line 21 and the released code): ``Q̂c`` on replay-buffer
        actions against ``h``; ``"policy"``: ``Q̂c`` on the current policy's actions;
        ``"episode"``: the mean cost of recent training episodes against the episodic limit
        (no step until an episode has finished)."""
        return step_dual(self.dual, self.dual_source, self.cost_limit, loss_td, episode_cost, episode_cost_limit)


class ALGDLoss(CostCriticMixin, LossModule):
    """The full ALGD update as one TorchRL loss (paper Alg. 1 lines 12-21).

    * ``loss_qvalue``: clipped double-Q TD loss, ``y = r + γ(1-d) min_j Q'_j(s', a')``
      with ``a' ~ π_θ(·|s')`` (lines 13-16).
    * ``loss_cost``: each ensemble member regresses on
      ``y_c = c + γ_c(1-d) mean_i Q'_{c,i}(s', a')`` (lines 15-16), or on its own target
      member's (``cost_target="member"``, the released code; see :meth:`cost_target`).
    * ``loss_actor = score_coef · ||φ_θ - φ_A||² + energy_coef · mean L(s, a^0)``: the
      score-matching loss of :class:`AugLagScoreTarget` (lines 18-20) plus, optionally,
      the released code's pathwise term — the energy of the policy's own action,
      back-propagated through the sampling chain with the critics frozen.
      Paper: ``score_coef=1, energy_coef=0``; released code: ``0.1`` and ``1``, with
      ``score_grad_into_chain=True`` (:class:`AugLagScoreTarget`'s ``grad_into_chain``).
      ``score_loss=`` takes another score-matching module with :class:`AugLagScoreTarget`'s
      interface (e.g. a subclass with its own ``score_target``; ``examples/lagrangian_qsm.py``).

    Target critics are held as ``target_*_params`` so TorchRL's ``SoftUpdate`` updates
    them.  The gradients of the three losses touch disjoint parameters, so their sum can
    be back-propagated once.  λ is not stepped in ``forward``: call :meth:`step_dual`
    after the optimiser steps; ``forward`` reports the cost estimates it may read
    (``cost_estimate_batch`` on replay actions, ``cost_estimate_policy`` on the current
    policy's actions).  :attr:`out_keys` lists every entry ``forward`` returns.
    """

    @dataclass
    class _AcceptedKeys:
        """Configurable tensordict keys (TorchRL names by default)."""

        observation: NestedKey = "observation"
        action: NestedKey = "action"
        reward: NestedKey = "reward"
        cost: NestedKey = "cost"
        terminated: NestedKey = "terminated"  # ends the reward's bootstrap (env.goal_terminal: "goal_terminated")
        cost_terminated: NestedKey = "terminated"  # ends the cost critics' bootstrap

    default_keys = _AcceptedKeys
    tensor_keys: _AcceptedKeys

    qvalue_network: TwinQValue
    qvalue_network_params: TensorDictParams
    target_qvalue_network_params: TensorDictParams
    cost_network: EnsembleCostValue
    cost_network_params: TensorDictParams
    target_cost_network_params: TensorDictParams

    def __init__(
        self,
        actor: VESDEActor,
        qvalue_network: TwinQValue,
        cost_network: EnsembleCostValue,
        lagrangian: Lagrangian,
        dual: DualVariable,
        cost_limit: float,
        *,
        num_samples: int = 6,
        beta: float = 1.0,
        gamma: float = 0.99,
        cost_gamma: float = 0.99,
        score_coef: float = 1.0,
        energy_coef: float = 0.0,
        dual_source: str = "batch",
        score_reduction: str = "sum",
        cost_target: str = "mean",
        score_loss: AugLagScoreTarget | None = None,
        score_grad_into_chain: bool = False,
    ):
        super().__init__()
        if cost_target not in COST_TARGETS:
            raise ValueError(f"cost_target {cost_target!r} is not one of {list(COST_TARGETS)}")
        for name, val in (("gamma", gamma), ("cost_gamma", cost_gamma)):
            if not 0.0 <= val <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {val!r}")
        for name, val in (("score_coef", score_coef), ("energy_coef", energy_coef)):
            if not val >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {val!r}")
        if score_coef == 0 and energy_coef == 0:
            raise ValueError("score_coef and energy_coef are both 0: the actor would not learn")
        if dual_source not in DUAL_SOURCES:
            raise ValueError(f"unknown dual_source {dual_source!r}; choose one of {list(DUAL_SOURCES)}")
        self.convert_to_functional(qvalue_network, "qvalue_network", create_target_params=True)
        self.convert_to_functional(cost_network, "cost_network", create_target_params=True)
        self.actor = actor
        self.lagrangian = lagrangian
        self.dual = dual
        # a score-matching loss of your own (e.g. another score target) replaces the Monte-Carlo one;
        # it must read the same actor, critics, Lagrangian and dual variable
        self.score_loss = score_loss if score_loss is not None else AugLagScoreTarget(
            actor, qvalue_network, cost_network, lagrangian, dual, cost_limit, num_samples, beta, score_reduction,
            score_grad_into_chain,
        )
        self.cost_target_mode = cost_target
        self.cost_limit = float(cost_limit)
        self.gamma, self.cost_gamma = float(gamma), float(cost_gamma)
        self.score_coef, self.energy_coef = float(score_coef), float(energy_coef)
        self.dual_source = dual_source

    def _forward_value_estimator_keys(self, **kwargs) -> None:
        pass

    @property
    def in_keys(self):
        k = self.tensor_keys
        return [k.observation, k.action, ("next", k.observation), ("next", k.reward), ("next", k.cost), ("next", k.terminated),
                *([("next", k.cost_terminated)] if k.cost_terminated != k.terminated else [])]

    @property
    def out_keys(self):
        return ["loss_qvalue", "loss_cost", "loss_actor", "score_loss", "score_target_norm", "energy", "q_value",
                "cost_estimate_batch", "cost_estimate_policy", "lambda"]

    @property
    @_cache_values
    def _cached_detached_qvalue_params(self):  # as CostCriticMixin's, for the reward critic
        return self.qvalue_network_params.detach()

    def _td_targets(self, next_obs, reward, cost, not_done, cost_not_done):
        policy = self.actor.policy
        with torch.no_grad():
            next_action = policy.squash(policy.sample_chain(next_obs)[0])
            with self.target_qvalue_network_params.to_module(self.qvalue_network):
                q_next = self.qvalue_network.estimate(next_obs, next_action)
            y_q = reward + self.gamma * not_done * q_next
        return y_q, self.cost_target(next_obs, next_action, cost, cost_not_done)

    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        k = self.tensor_keys
        obs, action = tensordict.get(k.observation), tensordict.get(k.action)
        nxt = tensordict.get("next")
        not_done = 1.0 - nxt.get(k.terminated).to(obs.dtype)
        cost_not_done = not_done if k.cost_terminated == k.terminated else 1.0 - nxt.get(k.cost_terminated).to(obs.dtype)
        y_q, y_c = self._td_targets(nxt.get(k.observation), nxt.get(k.reward), nxt.get(k.cost), not_done, cost_not_done)

        q_members = self.qvalue_network.members(obs, action)
        loss_qvalue = (q_members - y_q.unsqueeze(-2)).square().sum(-2).mean()
        c_members = self.cost_network.members(obs, action)
        loss_cost = self.cost_loss(c_members, y_c)

        into_chain = getattr(self.score_loss, "grad_into_chain", False)
        sample = self.actor.policy.sample_for_training(obs, with_grad=self.energy_coef > 0 or into_chain,
                                                       **({"detach_noisy": False} if into_chain else {}))
        score_td = TensorDict(
            {
                "observation": obs,
                "noisy_action": sample["noisy_action"],
                "noise_sigma": sample["noise_sigma"],
                "diffusion_step": sample["diffusion_step"],
            },
            batch_size=obs.shape[:-1],
        )
        score_out = self.score_loss(score_td)
        policy_action = sample["action"]
        lam = self.dual.value
        pathwise = self.energy_coef > 0
        # critics frozen (detached parameters): the pathwise term trains the actor only; without
        # it the same pass only reports the policy's energy and cost estimate, so no graph is kept
        with torch.set_grad_enabled(pathwise and torch.is_grad_enabled()), \
                self._cached_detached_qvalue_params.to_module(self.qvalue_network, preserve_module_state=False), \
                self._cached_detached_cost_params.to_module(self.cost_network, preserve_module_state=False):
            q_pi = self.qvalue_network.estimate(obs, policy_action)
            qc_pi = self.cost_network.estimate(obs, policy_action)
        energy = self.lagrangian(q_pi, qc_pi, lam, self.cost_limit).mean()
        cost_policy = qc_pi.detach().mean()
        loss_actor = self.score_coef * score_out["loss_score"]
        if pathwise:
            loss_actor = loss_actor + self.energy_coef * energy
        cost_batch = self.cost_network.reduce(c_members.detach())[1].mean()
        return TensorDict(
            {
                "loss_qvalue": loss_qvalue,
                "loss_cost": loss_cost,
                "loss_actor": loss_actor,
                "score_loss": score_out["loss_score"].detach(),
                "score_target_norm": score_out["score_target_norm"],
                "energy": energy.detach(),
                "q_value": q_members.detach().mean(),
                "cost_estimate_batch": cost_batch,
                "cost_estimate_policy": cost_policy,
                "lambda": lam.detach().clone(),
            },
            batch_size=[],
        )
