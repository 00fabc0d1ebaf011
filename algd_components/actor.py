"""The VE-SDE diffusion actor (paper eq. (2), Alg. 1 lines 4-7, Table 3)."""
from __future__ import annotations

from typing import Sequence

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModule
from tensordict.utils import NestedKey
from torch import nn
from torchrl.envs.utils import ExplorationType, exploration_type
from torchrl.modules import MLP

from . import functional as F

__all__ = ["ScoreNetwork", "VESDEPolicy", "VESDEActor", "DDPMPolicy", "DDPMActor"]

CHAIN_SPACES = ("pre_squash", "action")
DDPM_VARIANTS = ("eps", "released")
_DETERMINISTIC = {ExplorationType.DETERMINISTIC, ExplorationType.MODE, ExplorationType.MEAN}


class ScoreNetwork(nn.Module):
    """``φ_θ(s, a^τ, τ)``: an MLP over ``[s, a^τ, e(τ)]`` (paper Table 3).

    ``e`` is a learned ``Embedding(K, time_embed_dim)``; ``step`` holds ``τ ∈ 1..K``.
    The first layer ``Linear(d_s + d_a + d_e → h)`` is applied as the sum of its three
    column blocks, so a sampling chain projects the observation once (not ``K`` times) and
    the time embedding once per step value (not once per batch element):
    :meth:`observation_features` + :meth:`from_features` equal :meth:`forward` exactly.
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        num_steps: int,
        num_cells: Sequence[int] = (128, 128, 128),
        time_embed_dim: int = 16,
        activation_class: type[nn.Module] = nn.ReLU,
    ):
        super().__init__()
        num_cells = list(num_cells)
        if not num_cells:
            raise ValueError("num_cells (score network hidden sizes) needs at least one layer")
        self.num_steps = num_steps
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.time_embedding = nn.Embedding(num_steps, time_embed_dim)
        self.input_layer = nn.Linear(obs_dim + action_dim + time_embed_dim, num_cells[0])
        self.activation = activation_class()
        self.mlp = MLP(
            in_features=num_cells[0],
            out_features=action_dim,
            num_cells=num_cells[1:],
            activation_class=activation_class,
        )

    def observation_features(self, observation: torch.Tensor) -> torch.Tensor:
        """The observation's share of the first layer (bias included)."""
        w = self.input_layer.weight
        return nn.functional.linear(observation, w[:, : self.obs_dim], self.input_layer.bias)

    def time_features(self) -> torch.Tensor:
        """The time embedding's share of the first layer for the ``K`` step values, ``[K, h]``."""
        return self.time_embedding.weight @ self.input_layer.weight[:, self.obs_dim + self.action_dim :].T

    def from_features(
        self,
        obs_features: torch.Tensor,
        noisy_action: torch.Tensor,
        step: torch.Tensor | int,
        time_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``step``: a tensor of per-element steps, or one ``int`` shared by the batch;
        ``time_features``: :meth:`time_features`, passed in by a chain that runs all ``K`` steps."""
        w = self.input_layer.weight
        a0 = self.obs_dim + self.action_dim
        if time_features is None:
            time_features = self.time_features()
        # e(τ) W_e for the K step values, then one row per element
        if isinstance(step, int):
            time_part = time_features[step - 1]
        else:
            time_part = nn.functional.embedding(step - 1, time_features)  # backward: no index_put
        h = noisy_action @ w[:, self.obs_dim : a0].T + (obs_features + time_part)
        return self.mlp(self.activation(h))

    def forward(self, observation: torch.Tensor, noisy_action: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        return self.from_features(self.observation_features(observation), noisy_action, step)


def _per_dimension(bound, action_dim: int) -> torch.Tensor:
    """A bound as one value per action dimension; a batched env's spec (``[n_envs, d]``)
    repeats the same row, and the first is taken."""
    bound = torch.as_tensor(bound, dtype=torch.float32)
    if bound.dim() > 1:
        bound = bound.reshape(-1, bound.shape[-1])[0]
    return bound.expand(action_dim).clone()


class VESDEPolicy(nn.Module):
    """Reverse VE-SDE sampler: observation → action.

    ``u^K ~ N(0, σ²(K) I)``, then for ``τ = K..1``
    ``u^{τ-1} = u^τ + Δσ²(τ) φ_θ(s, u^τ, τ) + sqrt(Δσ²(τ)) ε`` (paper eq. (2), Alg. 1 line 6),
    with ``Δσ²(τ) = σ²(τ) - σ²(τ-1)`` and ``σ(0) = 0``.  The action is
    ``loc + scale · tanh(u^0)``, inside ``[low, high]``.  Deterministic sampling starts
    from ``u^K = 0`` and adds no noise (as the released code evaluates).

    ``chain_space`` says what the score network sees and in which space its score lives:
    ``"pre_squash"`` (ours): ``φ_θ(s, u^τ, τ)``, the score of the variable the SDE moves, trained
    against the energy of ``squash(u)`` (the tanh Jacobian is in the target; it vanishes where
    actions saturate); ``"action"`` (the released ``VESDE.DiffusionPolicy.p_sample``):
    ``φ_θ(s, a^τ, τ)`` with ``a^τ = squash(u^τ)``, trained against the action-space gradient of
    the energy at unclipped samples around ``a^τ``, and added to ``u`` as it is:
    ``u^{τ-1} = u^τ + Δσ²(τ) φ_θ(s, squash(u^τ), τ) + ...`` (no Jacobian: the pull does not fade
    at the box's edge).  The paper's chain has no squashing; both are readings of it.
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        action_low: torch.Tensor | float = -1.0,
        action_high: torch.Tensor | float = 1.0,
        num_steps: int = 5,
        sigma_min: float = 0.01,
        sigma_max: float = 1.0,
        num_cells: Sequence[int] = (128, 128, 128),
        time_embed_dim: int = 16,
        chain_space: str = "pre_squash",
    ):
        super().__init__()
        if int(num_steps) != num_steps or num_steps < 1:
            raise ValueError(f"num_steps (K) must be an integer >= 1, got {num_steps!r}")
        if chain_space not in CHAIN_SPACES:
            raise ValueError(f"chain_space {chain_space!r} is not one of {list(CHAIN_SPACES)}")
        self.chain_space = chain_space
        self.obs_dim, self.action_dim, self.num_steps = obs_dim, action_dim, int(num_steps)
        low, high = (_per_dimension(b, action_dim) for b in (action_low, action_high))
        if not (torch.isfinite(low).all() and torch.isfinite(high).all() and (high > low).all()):
            raise ValueError(f"action bounds must be finite with high > low, got low={low.tolist()} high={high.tolist()}")
        sigmas = F.geometric_sigmas(sigma_min, sigma_max, self.num_steps)
        self.register_buffer("action_loc", (high + low) / 2)
        self.register_buffer("action_scale", (high - low) / 2)
        self.register_buffer("sigmas", sigmas.float())
        self.register_buffer("sigma_sq_increments", F.ve_sde_increments(sigmas).float())
        self.score_network = ScoreNetwork(obs_dim, action_dim, self.num_steps, num_cells, time_embed_dim)

    def squash(self, pre_action: torch.Tensor) -> torch.Tensor:
        """``u ↦ loc + scale · tanh(u)``: pre-squash diffusion space to the action box."""
        return self.action_loc + self.action_scale * torch.tanh(pre_action)

    def score_input(self, pre_action: torch.Tensor) -> torch.Tensor:
        """What the score network reads for the chain state ``u``: ``u`` itself, or
        ``squash(u)`` with ``chain_space="action"``."""
        return self.squash(pre_action) if self.chain_space == "action" else pre_action

    def score(self, observation: torch.Tensor, noisy_action: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """``φ_θ`` at the chain state ``noisy_action`` (``u^τ``) and step ``τ``."""
        return self.score_network(observation, self.score_input(noisy_action), step)

    def sample_chain(
        self,
        observation: torch.Tensor,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Run the reverse chain; returns all pre-squash states ``[K+1, *batch, d]``,
        index ``τ`` holding ``u^τ`` (index 0 is ``u^0``).  Differentiable in θ."""
        batch = observation.shape[:-1]
        shape = (*batch, self.action_dim)
        dev, dt = observation.device, observation.dtype
        K = self.num_steps
        if deterministic:
            u = torch.zeros(shape, device=dev, dtype=dt)
            noise = None
        else:
            noise = torch.randn((K + 1, *shape), device=dev, dtype=dt, generator=generator)
            u = self.sigmas[K] * noise[K]
        states = [u]
        obs_features = self.score_network.observation_features(observation)
        time_features = self.score_network.time_features()  # once per chain, not once per step
        for tau in range(K, 0, -1):
            d2 = self.sigma_sq_increments[tau]
            u = u + d2 * self.score_network.from_features(obs_features, self.score_input(u), tau, time_features)
            if noise is not None:
                u = u + d2.sqrt() * noise[tau - 1]
            states.append(u)
        return torch.stack(states[::-1])

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        deterministic = exploration_type() in _DETERMINISTIC
        chain = self.sample_chain(observation, deterministic=deterministic)
        return self.squash(chain[0])

    def sample_for_training(
        self,
        observation: torch.Tensor,
        with_grad: bool = True,
        generator: torch.Generator | None = None,
        detach_noisy: bool = True,
    ) -> dict[str, torch.Tensor]:
        """One stochastic chain per element plus one intermediate state for score matching.

        Returns ``action`` (``a^0``, squashed; differentiable through the chain when
        ``with_grad``), ``pre_action`` (``u^0``), and for a step ``τ`` drawn uniformly
        from ``1..K`` per element: ``noisy_action`` (``u^τ``; detached unless
        ``detach_noisy=False``, when a loss on it also trains the chain that made it — the
        released code's score loss), ``diffusion_step`` (``τ``) and ``noise_sigma``
        (``σ(τ)``, shape ``[*batch, 1]``).
        """
        with torch.set_grad_enabled(with_grad and torch.is_grad_enabled()):
            chain = self.sample_chain(observation, generator=generator)
        batch = observation.shape[:-1]
        step = torch.randint(1, self.num_steps + 1, batch, device=observation.device, generator=generator)
        index = step.view(1, *batch, 1).expand(1, *batch, self.action_dim)
        noisy = (chain.detach() if detach_noisy else chain).gather(0, index).squeeze(0)
        return {
            "action": self.squash(chain[0]),
            "pre_action": chain[0],
            "noisy_action": noisy,
            "diffusion_step": step,
            "noise_sigma": self.sigmas[step].unsqueeze(-1),
        }


class VESDEActor(TensorDictModule):
    """:class:`VESDEPolicy` as a TensorDict module (``observation`` → ``action``).

    Samples stochastically by default and deterministically (zero start, no noise) under
    ``torchrl.envs.utils.set_exploration_type(ExplorationType.DETERMINISTIC)``, so it plugs
    into TorchRL collectors and ``env.rollout`` as any policy does.

    ``actor.sample_for_training(td)`` writes the training quantities (see
    :meth:`VESDEPolicy.sample_for_training`) under ``out_keys`` names prefixed as
    documented in ``docs/components.md``.

    Args:
        obs_dim, action_dim: sizes.
        action_spec: a TorchRL ``Bounded`` spec giving the bounds (or pass
            ``action_low`` / ``action_high``).
        num_steps: ``K`` (paper: 5).
        sigma_min, sigma_max: geometric noise schedule ends (released code: 0.01, 1.0).
        num_cells, time_embed_dim: score network sizes (Table 3: 3×128, 16).
        chain_space: ``"pre_squash"`` or ``"action"`` (the released code; see :class:`VESDEPolicy`).
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        action_spec=None,
        action_low: torch.Tensor | float = -1.0,
        action_high: torch.Tensor | float = 1.0,
        num_steps: int = 5,
        sigma_min: float = 0.01,
        sigma_max: float = 1.0,
        num_cells: Sequence[int] = (128, 128, 128),
        time_embed_dim: int = 16,
        in_keys: Sequence[NestedKey] = ("observation",),
        out_keys: Sequence[NestedKey] = ("action",),
        chain_space: str = "pre_squash",
    ):
        if action_spec is not None:
            action_low, action_high = action_spec.space.low, action_spec.space.high
        policy = VESDEPolicy(
            obs_dim, action_dim, action_low, action_high, num_steps, sigma_min, sigma_max, num_cells, time_embed_dim,
            chain_space,
        )
        super().__init__(policy, in_keys=list(in_keys), out_keys=list(out_keys))

    @property
    def policy(self) -> VESDEPolicy:
        return self.module

    def sample_for_training(
        self, tensordict: TensorDictBase, with_grad: bool = True, generator: torch.Generator | None = None
    ) -> TensorDictBase:
        """Write ``policy_action``, ``noisy_action``, ``diffusion_step``, ``noise_sigma``."""
        out = self.module.sample_for_training(tensordict.get(self.in_keys[0]), with_grad, generator)
        tensordict.set("policy_action", out["action"])
        for key in ("noisy_action", "diffusion_step", "noise_sigma"):
            tensordict.set(key, out[key])
        return tensordict


class DDPMPolicy(nn.Module):
    r"""A variance-preserving (DDPM) diffusion sampler, in one of two variants.

    Both run ``K`` reverse steps on a pre-squash state ``x`` with the linear schedule
    ``β_t = linspace(beta_start, beta_end, K)``, ``α_t = 1 - β_t``, ``ᾱ_t = Π_{j≤t} α_j``
    (steps ``t = 1..K``, buffers indexed ``t - 1``), and return the action
    ``loc + scale · tanh(x^0)`` (inside ``[low, high]``), as :class:`VESDEPolicy` and the
    released ALGD-DDPM agent do.  The DDPM mean of a step,

    ``μ_t(x) = (x - β_t/sqrt(1-ᾱ_t) ε_θ(s, x, t)) / sqrt(α_t)``,

    equals the released code's posterior-mean form ``c_1 x̂_0 + c_2 x`` with
    ``x̂_0 = (x - sqrt(1-ᾱ_t) ε)/sqrt(ᾱ_t)``, ``c_1 = sqrt(ᾱ_{t-1}) β_t/(1-ᾱ_t)``,
    ``c_2 = sqrt(α_t)(1-ᾱ_{t-1})/(1-ᾱ_t)`` (the same algebra, without its ``+1e-8``'s).
    Writing ``ε = -sqrt(1-ᾱ_t) φ`` it is ``(x + β_t φ)/sqrt(α_t)``: a score ``φ`` moves a sample
    by ``Σ_t β_t/sqrt(α_t)`` over the chain (:func:`functional.vp_score_displacement`), about
    0.05 for β in [1e-4, 0.02] with ``K = 5`` — against ``Σ Δσ² = σ_max² = 1`` for the VE-SDE.

    ``variant="eps"`` (default; TorchRL's :class:`~torchrl.modules.DiffusionActor`): one
    ε-network (input ``[x, s, t-1]``, the 0-based step as a float) and its schedule;
    ``x^{t-1} = μ_t(x^t) + [t > 1] sqrt(β_t) z``, ``x^K ~ N(0, I)``; deterministic: ``x^K = 0`` and
    no noise (DiffusionActor's convention).  The score the loss trains is
    ``φ_θ = -ε_θ / sqrt(1 - ᾱ_t)`` (:func:`functional.vp_eps_to_score`), so score matching
    alone (``algd=paper``) trains the chain's drift, but the drift moves a sample by only
    ``≈ 0.05 φ``: the policy stays close to its ``N(0, I)`` start whatever the state.
    Why not ``DiffusionActor``'s own forward: it returns only the final latent — not the
    intermediate ``(x^t, t)`` pairs the score-matching loss trains on — and no action box.

    ``variant="released"`` (the authors' ``agents/algd/DDPM.py``, ``DiffusionPolicy``): a shared
    trunk ``h = MLP([s, x, e(t)])`` (``e = Embedding(K, time_embed_dim)``, ``len(num_cells)``
    layers of Linear + ReLU; released: 3 × 128, 16) with two linear heads,

    * ``ε_θ = eps_head(h)``, used in ``μ_t`` only — trained by the pathwise energy term
      (``ALGDLoss``'s ``energy_coef``) through the chain, never matched to a target;
    * ``φ_θ = score_head(h)``, what :meth:`score` returns and the score-matching loss matches
      directly to the Monte-Carlo target ``φ*`` (not ``-ε/sqrt(1-ᾱ)``);

    and the reverse step

    ``x^{t-1} = μ_t(x^t) + g · φ_θ(s, x^t, t)/(‖φ_θ‖ + 1e-8) + [t > 1] sqrt(β̃_t) z``,

    ``g = guidance`` (released 0.05) at every step, and the posterior variance
    ``β̃_t = β_t (1-ᾱ_{t-1})/(1-ᾱ_t)`` (``ᾱ_0 = 1``, so ``β̃_1 = 0``; no noise at the last step).
    The guidance gives the score head a fixed-length push of ``g`` per step (``≈ K g = 0.25`` in
    all), whatever the score's magnitude.  Deterministic sampling starts from ``x^K = 0``
    and, as released (``sample_deterministic`` calls the same ``p_sample``), still adds the
    ``β̃`` noise — ``eval_noise=False`` turns that off for a repeatable evaluation.

    Where this differs from the released code, on purpose:

    * the score head sees the pre-squash ``x^t``, the state the chain carries, so one trunk pass
      per step gives both heads; the released ``p_sample`` feeds it the squashed action
      ``loc + scale · tanh(x^t)`` (a second trunk pass) and trains it on squashed ``a^τ`` too.
      Which space the chain and score live in is left to a separate switch.
    * the pair trained on is ``(x^t, t)`` — the state step ``t`` consumes, as guidance evaluates
      it — with ``t`` uniform in ``1..K``; the released ``sample_with_traj`` pairs the *output*
      of step ``i`` (0-based) with embedding ``i``, so it trains on ``x^0`` but never ``x^K``.
    * the noise std is ``sqrt(β̃_t)``, not ``sqrt(β̃_t + 1e-8)``; weights use PyTorch's default
      initialisation (``network.init=released`` applies the released Xavier one).

    Args:
        obs_dim, action_dim, action_low, action_high: sizes and the action box.
        num_steps: ``K``.  beta_start, beta_end: the linear β schedule.
        num_cells: hidden sizes (ε-network for ``"eps"``, trunk for ``"released"``).
        proposal: the score target's Monte-Carlo proposal (:func:`functional.vp_proposal`).
        variant: ``"eps"`` or ``"released"`` (above).
        guidance: ``g ≥ 0``, the released variant's normalised-score guidance per step (0: off).
        eval_noise: released variant: whether deterministic sampling still adds ``β̃`` noise.
        time_embed_dim: released variant: the step embedding's size.
        ``guidance``, ``eval_noise`` and ``time_embed_dim`` are ignored by ``"eps"``.
    """

    VARIANTS = DDPM_VARIANTS

    def __init__(self, obs_dim: int, action_dim: int, action_low=-1.0, action_high=1.0, num_steps: int = 5,
                 beta_start: float = 1e-4, beta_end: float = 0.02, num_cells: Sequence[int] = (128, 128, 128),
                 proposal: str = "posterior", *, variant: str = "eps", guidance: float = 0.05,
                 eval_noise: bool = True, time_embed_dim: int = 16):
        super().__init__()
        from torchrl.modules import DiffusionActor

        if int(num_steps) != num_steps or num_steps < 1:
            raise ValueError(f"num_steps (K) must be an integer >= 1, got {num_steps!r}")
        if not 0 < beta_start <= beta_end < 1:
            raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start!r}, {beta_end!r}")
        if proposal not in F.VP_PROPOSALS:
            raise ValueError(f"proposal {proposal!r} is not one of {list(F.VP_PROPOSALS)}")
        if variant not in self.VARIANTS:
            raise ValueError(f"DDPM variant {variant!r} is not one of {list(self.VARIANTS)}")
        if not (isinstance(guidance, (int, float)) and 0 <= guidance < float("inf")):
            raise ValueError(f"guidance must be a finite number >= 0, got {guidance!r}")
        self.obs_dim, self.action_dim, self.num_steps, self.proposal_kind = obs_dim, action_dim, int(num_steps), proposal
        self.variant, self.guidance, self.eval_noise = variant, float(guidance), bool(eval_noise)
        low, high = (_per_dimension(b, action_dim) for b in (action_low, action_high))
        if not (torch.isfinite(low).all() and torch.isfinite(high).all() and (high > low).all()):
            raise ValueError(f"action bounds must be finite with high > low, got low={low.tolist()} high={high.tolist()}")
        self.register_buffer("action_loc", (high + low) / 2)
        self.register_buffer("action_scale", (high - low) / 2)
        if variant == "eps":
            eps_net = MLP(in_features=action_dim + obs_dim + 1, out_features=action_dim, num_cells=list(num_cells),
                          activation_class=nn.ReLU)
            self.ddpm = DiffusionActor(action_dim, obs_dim, score_network=eps_net, num_steps=self.num_steps,
                                       beta_start=beta_start, beta_end=beta_end)
            return
        num_cells = list(num_cells)
        if not num_cells:
            raise ValueError("num_cells (trunk hidden sizes) needs at least one layer for the released variant")
        if int(time_embed_dim) != time_embed_dim or time_embed_dim < 1:
            raise ValueError(f"time_embed_dim must be an integer >= 1, got {time_embed_dim!r}")
        betas = torch.linspace(beta_start, beta_end, self.num_steps)  # as DiffusionActor and the released code
        alphas = 1.0 - betas
        self.register_buffer("betas", betas)
        self.register_buffer("alphas", alphas)
        self.register_buffer("alphas_cumprod", torch.cumprod(alphas, 0))
        self.time_embedding = nn.Embedding(self.num_steps, int(time_embed_dim))
        layers, width = [], obs_dim + action_dim + int(time_embed_dim)
        for cells in num_cells:
            layers += [nn.Linear(width, cells), nn.ReLU()]
            width = cells
        self.trunk = nn.Sequential(*layers)
        self.eps_head = nn.Linear(width, action_dim)
        self.score_head = nn.Linear(width, action_dim)

    @property
    def schedule(self):
        """``(β, α, ᾱ)`` of steps ``1..K`` (index ``t - 1``): the DiffusionActor's (``"eps"``)
        or this module's own buffers (``"released"``; the same values)."""
        if self.variant == "released":
            return self.betas, self.alphas, self.alphas_cumprod
        m = self.ddpm.module
        return m.betas, m.alphas, m.alphas_cumprod

    @property
    def posterior_variance(self) -> torch.Tensor:
        """``β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t)`` of steps ``1..K`` (index ``t - 1``, ``ᾱ_0 = 1``,
        so ``β̃_1 = 0``): the variance of ``q(x^{t-1} | x^t, x^0)``, the released variant's
        reverse-step noise."""
        betas, _, alpha_bars = self.schedule
        prev = torch.cat([torch.ones_like(alpha_bars[:1]), alpha_bars[:-1]])
        return betas * (1.0 - prev) / (1.0 - alpha_bars)

    def squash(self, pre_action: torch.Tensor) -> torch.Tensor:
        return self.action_loc + self.action_scale * torch.tanh(pre_action)

    def features(self, observation, noisy_action, step) -> torch.Tensor:
        """Released variant: the trunk's output ``h(s, x, e(t))``, ``step`` ∈ ``1..K`` (a tensor of
        per-element steps or an int)."""
        batch = noisy_action.shape[:-1]
        if isinstance(step, int):
            emb = self.time_embedding.weight[step - 1].expand(*batch, -1)
        else:
            emb = self.time_embedding(step - 1)
        obs = observation.expand(*batch, observation.shape[-1])
        return self.trunk(torch.cat([obs, noisy_action, emb], -1))

    def eps(self, observation, noisy_action, step) -> torch.Tensor:
        """``ε_θ(s, x^t, t)``; ``step`` ∈ ``1..K`` (a tensor of per-element steps or an int)."""
        if self.variant == "released":
            return self.eps_head(self.features(observation, noisy_action, step))
        index = (step - 1) if isinstance(step, int) else (step - 1).to(noisy_action.dtype)
        t = torch.as_tensor(index, dtype=noisy_action.dtype, device=noisy_action.device).expand(noisy_action.shape[:-1])
        obs = observation.expand(*noisy_action.shape[:-1], observation.shape[-1])
        return self.ddpm.module.score_network(torch.cat([noisy_action, obs, t.unsqueeze(-1)], -1))

    def alpha_bar(self, step: torch.Tensor) -> torch.Tensor:
        """``ᾱ_t`` per element, ``[*, 1]``."""
        return self.schedule[2][step - 1].unsqueeze(-1)

    def score(self, observation, noisy_action, step) -> torch.Tensor:
        """``φ_θ(s, x^t, t)``, what the score-matching loss matches to ``φ*``: the score head
        (``"released"``) or ``-ε_θ / sqrt(1 - ᾱ_t)`` (``"eps"``)."""
        if self.variant == "released":
            return self.score_head(self.features(observation, noisy_action, step))
        return F.vp_eps_to_score(self.eps(observation, noisy_action, step), self.alpha_bar(step))

    def proposal(self, noisy_action, step):
        """The Monte-Carlo proposal of level ``step`` (:func:`functional.vp_proposal`)."""
        return F.vp_proposal(noisy_action, self.alpha_bar(step), self.proposal_kind)

    def sample_chain(self, observation, deterministic: bool = False, generator=None) -> torch.Tensor:
        """All states ``[K+1, *batch, d]``, index ``t`` holding ``x^t``; differentiable in θ.
        ``deterministic``: ``x^K = 0``, and no noise unless the released variant's ``eval_noise``."""
        if self.variant == "released":
            return self._released_chain(observation, deterministic, generator)
        batch = observation.shape[:-1]
        shape = (*batch, self.action_dim)
        dev, dt = observation.device, observation.dtype
        betas, alphas, alpha_bars = self.schedule
        K = self.num_steps
        noise = None if deterministic else torch.randn((K + 1, *shape), device=dev, dtype=dt, generator=generator)
        x = torch.zeros(shape, device=dev, dtype=dt) if deterministic else noise[K]
        states = [x]
        for t in range(K, 0, -1):
            eps = self.eps(observation, x, t)
            x = (x - betas[t - 1] / (1.0 - alpha_bars[t - 1]).sqrt() * eps) / alphas[t - 1].sqrt()
            if noise is not None and t > 1:
                x = x + betas[t - 1].sqrt() * noise[t - 1]
            states.append(x)
        return torch.stack(states[::-1])

    def _released_chain(self, observation, deterministic: bool, generator) -> torch.Tensor:
        batch = observation.shape[:-1]
        shape = (*batch, self.action_dim)
        dev, dt = observation.device, observation.dtype
        betas, alphas, alpha_bars = self.schedule
        noise_std = self.posterior_variance.sqrt()
        K = self.num_steps
        noisy = not deterministic or self.eval_noise
        noise = torch.randn((K + 1, *shape), device=dev, dtype=dt, generator=generator) if noisy else None
        x = torch.zeros(shape, device=dev, dtype=dt) if deterministic else noise[K]
        states = [x]
        for t in range(K, 0, -1):
            h = self.features(observation, x, t)  # one trunk pass feeds both heads
            mean = (x - betas[t - 1] / (1.0 - alpha_bars[t - 1]).sqrt() * self.eps_head(h)) / alphas[t - 1].sqrt()
            if self.guidance != 0.0:
                phi = self.score_head(h)
                mean = mean + self.guidance * phi / (phi.norm(dim=-1, keepdim=True) + 1e-8)
            x = mean + noise_std[t - 1] * noise[t - 1] if noise is not None and t > 1 else mean
            states.append(x)
        return torch.stack(states[::-1])

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        chain = self.sample_chain(observation, deterministic=exploration_type() in _DETERMINISTIC)
        return self.squash(chain[0])

    def sample_for_training(self, observation, with_grad: bool = True, generator=None,
                            detach_noisy: bool = True) -> dict[str, torch.Tensor]:
        """As :meth:`VESDEPolicy.sample_for_training`: ``noisy_action`` is ``x^t`` for a step ``t``
        uniform in ``1..K`` (detached unless ``detach_noisy=False``: then a score loss on it also
        trains the chain that made it, as the released ``update_actor`` does with ``a_tau``);
        ``noise_sigma`` is ``sqrt(1 - ᾱ_t)``."""
        with torch.set_grad_enabled(with_grad and torch.is_grad_enabled()):
            chain = self.sample_chain(observation, generator=generator)
        batch = observation.shape[:-1]
        step = torch.randint(1, self.num_steps + 1, batch, device=observation.device, generator=generator)
        index = step.view(1, *batch, 1).expand(1, *batch, self.action_dim)
        return {
            "action": self.squash(chain[0]),
            "pre_action": chain[0],
            "noisy_action": (chain.detach() if detach_noisy else chain).gather(0, index).squeeze(0),
            "diffusion_step": step,
            "noise_sigma": (1.0 - self.alpha_bar(step)).sqrt(),
        }


class DDPMActor(TensorDictModule):
    """:class:`DDPMPolicy` as a TensorDict module (``observation`` → ``action``): the same
    contract and training interface as :class:`VESDEActor` (``policy``,
    ``sample_for_training``), so :class:`~algd_components.ALGDLoss` trains either variant.

    Args:
        obs_dim, action_dim, action_spec / action_low, action_high: as :class:`VESDEActor`.
        num_steps: ``K``; beta_start, beta_end: the linear β schedule (released code and
            TorchRL: 1e-4, 0.02).
        num_cells: ε-network (``"eps"``) or shared-trunk (``"released"``) hidden sizes.
        proposal: the Monte-Carlo proposal of the score target, ``"posterior"`` or ``"code"``
            (:func:`~algd_components.functional.vp_proposal`).
        variant: ``"eps"`` (one ε-network, score ``-ε/sqrt(1-ᾱ)``; TorchRL's DiffusionActor) or
            ``"released"`` (the authors' agent: trunk + ε head + score head, normalised-score
            guidance, posterior-variance noise); see :class:`DDPMPolicy`.
        guidance: released variant: guidance length per step (released 0.05; 0 turns it off).
        eval_noise: released variant: deterministic sampling still adds ``β̃`` noise (released: yes).
        time_embed_dim: released variant: step-embedding size (released 16).
    """

    def __init__(self, obs_dim: int, action_dim: int, action_spec=None, action_low=-1.0, action_high=1.0,
                 num_steps: int = 5, beta_start: float = 1e-4, beta_end: float = 0.02,
                 num_cells: Sequence[int] = (128, 128, 128), proposal: str = "posterior",
                 in_keys: Sequence[NestedKey] = ("observation",), out_keys: Sequence[NestedKey] = ("action",),
                 *, variant: str = "eps", guidance: float = 0.05, eval_noise: bool = True, time_embed_dim: int = 16):
        if action_spec is not None:
            action_low, action_high = action_spec.space.low, action_spec.space.high
        policy = DDPMPolicy(obs_dim, action_dim, action_low, action_high, num_steps, beta_start, beta_end, num_cells,
                            proposal, variant=variant, guidance=guidance, eval_noise=eval_noise,
                            time_embed_dim=time_embed_dim)
        super().__init__(policy, in_keys=list(in_keys), out_keys=list(out_keys))

    @property
    def policy(self) -> DDPMPolicy:
        return self.module

    def sample_for_training(self, tensordict: TensorDictBase, with_grad: bool = True, generator=None) -> TensorDictBase:
        out = self.module.sample_for_training(tensordict.get(self.in_keys[0]), with_grad, generator)
        tensordict.set("policy_action", out["action"])
        for key in ("noisy_action", "diffusion_step", "noise_sigma"):
            tensordict.set(key, out[key])
        return tensordict
