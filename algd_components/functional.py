"""Pure tensor functions behind the ALGD modules.

Everything here is stateless: the modules in :mod:`algd_components` hold parameters and
buffers and call these functions, the same split as TorchRL's
``torchrl/objectives/value/functional.py``.  Equation numbers refer to the ALGD paper
(Cheng et al., "How Does the Lagrangian Guide Safe Reinforcement Learning through
Diffusion Models?").
"""
from __future__ import annotations

import math
from typing import Callable

import torch

__all__ = [
    "standard_lagrangian",
    "augmented_lagrangian",
    "rectified_multiplier",
    "mc_score_target",
    "energy_and_action_grad",
    "episodic_to_discounted_limit",
    "geometric_sigmas",
    "ve_sde_increments",
    "vp_eps_to_score",
    "vp_score_to_eps",
    "vp_proposal",
    "vp_score_displacement",
    "VP_PROPOSALS",
]

VP_PROPOSALS = ("posterior", "code")


def _check_positive(name: str, value: float) -> None:
    # ``not value > 0`` also catches NaN.
    if isinstance(value, torch.Tensor):
        ok = bool((value > 0).all())
    else:
        ok = value > 0
    if not ok:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def _check_same_shape(q: torch.Tensor, qc: torch.Tensor) -> None:
    if q.shape != qc.shape:
        raise ValueError(
            f"qc must have the same shape as q: got q {tuple(q.shape)} and qc {tuple(qc.shape)}"
        )


def standard_lagrangian(
    q: torch.Tensor, qc: torch.Tensor, lam: torch.Tensor | float, cost_limit: float
) -> torch.Tensor:
    """State-action Lagrangian ``L = -Q + λ (Qc - h)`` (paper, Section 2).

    ``q`` and ``qc`` must share one shape; ``lam`` broadcasts against them.
    """
    _check_same_shape(q, qc)
    return -q + lam * (qc - cost_limit)


def augmented_lagrangian(
    q: torch.Tensor,
    qc: torch.Tensor,
    lam: torch.Tensor | float,
    cost_limit: float,
    rho: float,
) -> torch.Tensor:
    """Augmented Lagrangian, paper eq. (9).

    ``L_A = -Q + ([λ + ρ (Qc - h)]_+² - λ²) / (2ρ)``.

    Where ``λ + ρ(Qc - h) > 0`` this equals ``L + ρ/2 (Qc - h)²``; elsewhere it is
    ``-Q - λ²/(2ρ)``.  Both branches and their first derivatives meet at the switch.
    """
    _check_positive("rho", rho)
    _check_same_shape(q, qc)
    shifted = torch.clamp(lam + rho * (qc - cost_limit), min=0.0)
    return -q + (shifted.square() - lam * lam) / (2.0 * rho)


def rectified_multiplier(
    lam: torch.Tensor | float, penalty: float, cost_estimate: torch.Tensor, cost_limit: float
) -> torch.Tensor:
    """CAL's rectified multiplier ``[λ + c (Ĵc - h)]_+`` (Wu et al. 2024, local policy convexification).

    It is the derivative of the augmented-Lagrangian term ``([λ + c(Ĵc - h)]_+² - λ²) / (2c)``
    with respect to the constraint estimate ``Ĵc`` (a scalar: ``cost_estimate`` is averaged),
    so ``multiplier · Q̂c(s, a_π)`` with the multiplier held fixed has the augmented
    Lagrangian's policy gradient.  CAL's code writes it as ``λ - min(c·mean(h - Q̂c), λ)``
    (its "gradient rectification").  Returned detached.
    """
    _check_positive("penalty (c)", penalty)
    est = torch.as_tensor(cost_estimate).detach().mean()
    lam = torch.as_tensor(lam, dtype=est.dtype, device=est.device).detach()
    return torch.clamp(lam + penalty * (est - cost_limit), min=0.0)


def energy_and_action_grad(
    energy_fn: Callable[[torch.Tensor], torch.Tensor], samples: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L(a), ∇_a L(a))`` for actions ``samples``, differentiated w.r.t. the actions only.

    The same values as ``torch.autograd.grad(energy_fn(a).sum(), a)``, written with
    ``torch.func.grad`` under ``no_grad`` so that ``torch.compile`` can trace the energy and
    its gradient as one graph (``autograd.grad`` would break it) and no graph is kept for
    the parameters inside ``energy_fn``.  Both outputs are detached.
    """

    def total(a):
        energy = energy_fn(a)
        return energy.sum(), energy

    with torch.no_grad():
        grad, energy = torch.func.grad(total, has_aux=True)(samples)
    return energy, grad


def mc_score_target(
    energy_fn: Callable[[torch.Tensor], torch.Tensor],
    action: torch.Tensor,
    sigma: torch.Tensor | float,
    num_samples: int,
    beta: float,
    generator: torch.Generator | None = None,
    energy_and_grad_fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> torch.Tensor:
    """Self-normalised Monte-Carlo score target, paper eq. (11) with the log-sum-exp
    weights of eqs. (47)-(48).

    ``φ_A(a) ≈ Σ_i -w_i ∇_a L(a_i) / β`` with ``a_i ~ N(action, σ² I)`` and
    ``w = softmax(-L(a_i)/β)`` over the ``num_samples`` draws.

    Args:
        energy_fn: maps actions of shape ``[num_samples, *batch, d]`` to energies of shape
            ``[num_samples, *batch]``.  Usually a closure over the observation.
        action: the noisy action ``a^τ``, shape ``[*batch, d]``.
        sigma: proposal standard deviation ``σ(τ)``; a float or a tensor broadcastable to
            ``action`` (e.g. ``[*batch, 1]`` for one σ per element).
        num_samples: ``N`` ≥ 1.
        beta: temperature ``β`` > 0.
        generator: optional :class:`torch.Generator` for reproducible draws.
        energy_and_grad_fn: optional replacement for differentiating ``energy_fn`` with
            autograd: maps the samples to ``(energy, ∇ energy)`` (e.g. a compiled
            :func:`energy_and_action_grad`).

    Returns:
        The detached estimate, with the shape of ``action``.
    """
    if int(num_samples) != num_samples or num_samples < 1:
        raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")
    _check_positive("beta", beta)
    if action.dim() < 1:
        raise ValueError(f"action must have a trailing action dimension, got shape {tuple(action.shape)}")
    sigma = torch.as_tensor(sigma, dtype=action.dtype, device=action.device)
    try:
        torch.broadcast_shapes(sigma.shape, action.shape)
    except RuntimeError:
        raise ValueError(
            f"sigma of shape {tuple(sigma.shape)} does not broadcast to action of shape {tuple(action.shape)}"
        ) from None

    action = action.detach()
    noise = torch.randn(
        (int(num_samples), *action.shape),
        dtype=action.dtype,
        device=action.device,
        generator=generator,
    )
    samples = action + sigma * noise
    expected = samples.shape[:-1]
    if energy_and_grad_fn is not None:
        energy, grad = energy_and_grad_fn(samples)
        if energy.shape != expected or grad.shape != samples.shape:
            raise ValueError(
                f"energy_and_grad_fn must return shapes {tuple(expected)} and {tuple(samples.shape)} for samples "
                f"of shape {tuple(samples.shape)}, got {tuple(energy.shape)} and {tuple(grad.shape)}"
            )
    else:
        def checked_energy(x):
            energy = energy_fn(x)
            if energy.shape != expected:
                raise ValueError(
                    f"energy_fn must return shape {tuple(expected)} for samples of shape "
                    f"{tuple(samples.shape)}, got {tuple(energy.shape)}"
                )
            return energy

        if torch._C._are_functorch_transforms_active():  # e.g. stacked seeds' vmap: no requires_grad_ there
            energy, vjp_fn = torch.func.vjp(checked_energy, samples)
            (grad,) = vjp_fn(torch.ones_like(energy))
        else:
            with torch.enable_grad():
                samples.requires_grad_(True)
                energy = checked_energy(samples)
                # Only the action gradient is taken: no weight gradients are accumulated.
                (grad,) = torch.autograd.grad(energy.sum(), samples)
    log_w = torch.log_softmax(-energy.detach() / beta, dim=0)
    weights = log_w.exp().unsqueeze(-1)
    return -(weights * grad).sum(0).div(beta).detach()


def episodic_to_discounted_limit(limit: float, gamma: float, horizon: int) -> float:
    """Turn an episodic cost budget ``d`` into a per-state discounted budget.

    ``h = d (1 - γ^T) / ((1 - γ) T)``: the discounted sum of a cost spread evenly as
    ``d/T`` per step over ``T`` steps.  This is how the released ALGD code sets the
    Safety-Gym budget for its cost critic.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit!r}")
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    if gamma == 1.0:
        return float(limit)
    return float(limit) * (1.0 - gamma**horizon) / ((1.0 - gamma) * horizon)


def geometric_sigmas(sigma_min: float, sigma_max: float, num_steps: int) -> torch.Tensor:
    """Noise levels ``σ(1..K)`` spaced geometrically, with ``σ(0) = 0`` prepended.

    Returns a tensor of length ``K + 1``; index ``τ`` holds ``σ(τ)``.
    """
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps (K) must be an integer >= 1, got {num_steps!r}")
    _check_positive("sigma_min", sigma_min)
    if not sigma_max >= sigma_min:
        raise ValueError(f"sigma_max must be >= sigma_min ({sigma_min}), got {sigma_max!r}")
    if num_steps == 1:
        levels = torch.tensor([float(sigma_max)], dtype=torch.float64)
    else:
        levels = torch.logspace(
            math.log10(sigma_min), math.log10(sigma_max), num_steps, dtype=torch.float64
        )
    return torch.cat([torch.zeros(1, dtype=torch.float64), levels])


def ve_sde_increments(sigmas: torch.Tensor) -> torch.Tensor:
    """``Δσ²(τ) = σ²(τ) - σ²(τ-1)`` for ``τ = 1..K`` (index ``τ``; index 0 is 0).

    This is the discretised ``dσ²/dτ`` of the reverse VE-SDE, eq. (2).
    """
    sq = sigmas.square()
    return torch.cat([torch.zeros_like(sq[:1]), sq[1:] - sq[:-1]])


def vp_eps_to_score(eps: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """Score of a variance-preserving (DDPM) level from its noise prediction:
    ``∇ log p_t(a^t) = -ε / sqrt(1 - ᾱ_t)``, since ``a^t = sqrt(ᾱ_t) a^0 + sqrt(1 - ᾱ_t) ε``.
    ``alpha_bar`` broadcasts against ``eps`` (e.g. ``[*, 1]``)."""
    return -eps / (1.0 - alpha_bar).sqrt()


def vp_score_to_eps(score: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`vp_eps_to_score`: ``ε = -sqrt(1 - ᾱ_t) · score``."""
    return -(1.0 - alpha_bar).sqrt() * score


def vp_proposal(noisy_action: torch.Tensor, alpha_bar: torch.Tensor, kind: str = "posterior"):
    """Monte-Carlo proposal for the smoothed score of a VP level: ``(centre, std, scale)`` with
    the target ``scale · Σ_i -w_i ∇L(a_i)/β``, ``a_i ~ N(centre, std² I)``.

    ``"posterior"`` (derivation-correct): for ``a^t = sqrt(ᾱ) a^0 + sqrt(1-ᾱ) ε`` the smoothed
    score is ``∇ log p_t(a^t) = E[∇ log p_0(a^0) | a^t] / sqrt(ᾱ)``; with a flat prior the
    posterior of ``a^0`` is ``N(a^t / sqrt(ᾱ), (1-ᾱ)/ᾱ I)``, so centre ``a^t/sqrt(ᾱ)``, std
    ``sqrt((1-ᾱ)/ᾱ)``, scale ``1/sqrt(ᾱ)`` (self-normalised weights ``∝ exp(-L/β)``, as eq. (11)).
    ``"code"`` (the released ALGD-DDPM agent, ``compute_score_target_mc``): centre ``a^t``, std
    ``sqrt(1 - ᾱ + 1e-8)``, scale 1 — the VE estimate with ``σ² = 1 - ᾱ``, which differs by the
    ``sqrt(ᾱ)`` rescaling (small when ``ᾱ`` is near 1, as with 5 steps of β in [1e-4, 0.02]).
    """
    if kind == "posterior":
        root = alpha_bar.sqrt()
        return noisy_action / root, ((1.0 - alpha_bar) / alpha_bar).sqrt(), 1.0 / root
    if kind == "code":
        return noisy_action, (1.0 - alpha_bar + 1e-8).sqrt(), torch.ones_like(alpha_bar)
    raise ValueError(f"VP proposal {kind!r} is not one of {list(VP_PROPOSALS)}")


def vp_score_displacement(betas) -> float:
    """``Σ_t β_t / sqrt(α_t)`` (``α_t = 1 - β_t``): the total coefficient of a perfect score in a
    variance-preserving (DDPM) chain's mean — how far score matching alone can move a sample.

    With ``ε = -sqrt(1 - ᾱ_t) φ`` (:func:`vp_score_to_eps`) the DDPM reverse mean
    ``(x - β_t/sqrt(1-ᾱ_t) ε) / sqrt(α_t)`` is ``(x + β_t φ) / sqrt(α_t)``: step ``t`` adds
    ``β_t/sqrt(α_t) · φ``, so a score held fixed over the chain moves a sample by this sum
    times ``φ`` (the later steps' ``1/sqrt(α)`` factors scale each term by at most
    ``Π_t 1/sqrt(α_t)``, about 1.03 for the default schedule).  The VE-SDE counterpart is
    ``Σ Δσ² = σ_max²`` (1 for the released sampler).  For the released DDPM schedule, ``K = 5``
    steps of ``β`` in ``[1e-4, 0.02]``, it is about 0.051: a policy trained by score matching
    alone (no pathwise term) barely leaves its ``N(0, I)`` start, whatever the state — a config
    validator can refuse such a setting, or require a pathwise term or larger β.

    ``betas``: the ``β_t`` of steps ``1..K`` (a sequence or tensor, each in ``(0, 1)``).
    """
    b = torch.as_tensor(betas, dtype=torch.float64).reshape(-1)
    if b.numel() == 0:
        raise ValueError("betas must hold at least one step")
    if not bool(((b > 0) & (b < 1)).all()):
        raise ValueError(f"every beta must be in (0, 1), got {b.tolist()}")
    return float((b / (1.0 - b).sqrt()).sum())
