"""The Lagrange multiplier λ ≥ 0 as a module with a state dict."""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["DualVariable", "DUAL_RULES", "DUAL_SOURCES", "step_dual"]

DUAL_RULES = ("projected", "log_adam", "adam")
# what a dual step reads: Q̂c on replay-buffer actions, Q̂c on the current policy's actions,
# or the mean cost of recent training episodes (see step_dual)
DUAL_SOURCES = ("batch", "policy", "episode")

# log λ is kept inside [LOG_MIN, LOG_MAX] under the log-space rule so that λ stays a finite,
# positive float32 (e^-20 ≈ 2e-9, e^20 ≈ 5e8).
LOG_MIN, LOG_MAX = -20.0, 20.0


class DualVariable(nn.Module):
    """λ ≥ 0 with a selectable update rule; all state (λ, optimiser moments) in buffers.

    Rules:

    * ``"projected"`` — paper Alg. 1 line 21: ``λ ← [λ + η (Q̄c - h)]_+``.
    * ``"log_adam"`` — the released ALGD code: λ is stored as ``log λ`` and stepped by
      Adam on the loss ``λ·(h - Q̄c)``, i.e. with gradient ``λ (h - Q̄c)`` w.r.t. ``log λ``.
    * ``"adam"`` — PPO-Lag as in OmniSafe / Safety-Gymnasium's baselines: λ itself stepped by
      Adam on the loss ``-λ (Ĵc - d)`` (gradient ``d - Ĵc``), then projected onto ``λ ≥ 0``.

    ``step(cost_estimate, cost_limit)`` takes the cost estimate (a tensor, averaged) and the
    budget ``h``.  λ never goes negative and never becomes NaN: a non-finite cost
    estimate leaves λ (and the optimiser state) unchanged, without a host sync.

    Args:
        init_value: initial λ (≥ 0; > 0 for ``"log_adam"``, which cannot represent 0).
        rule: one of :data:`DUAL_RULES`.
        lr: step size ``η`` (> 0).
        betas, eps: Adam constants for ``"log_adam"``.
    """

    def __init__(
        self,
        init_value: float = 1.0,
        rule: str = "projected",
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        super().__init__()
        if rule not in DUAL_RULES:
            raise ValueError(f"unknown dual rule {rule!r}; choose one of {list(DUAL_RULES)}")
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"dual lr must be > 0, got {lr!r}")
        if not (isinstance(init_value, (int, float)) and init_value >= 0 and math.isfinite(init_value)):
            raise ValueError(f"dual init_value (initial lambda) must be a finite number >= 0, got {init_value!r}")
        if rule == "log_adam" and init_value <= 0:
            raise ValueError(f"dual init_value must be > 0 for rule 'log_adam' (it stores log lambda), got {init_value!r}")
        self.rule = rule
        self.lr = float(lr)
        self.betas = tuple(float(b) for b in betas)
        self.eps = float(eps)
        self.register_buffer("lagrange_multiplier", torch.tensor(float(init_value)))
        self.register_buffer("adam_exp_avg", torch.zeros(()))
        self.register_buffer("adam_exp_avg_sq", torch.zeros(()))
        self.register_buffer("adam_step", torch.zeros((), dtype=torch.long))

    @property
    def value(self) -> torch.Tensor:
        """λ as a detached 0-d tensor."""
        return self.lagrange_multiplier

    def forward(self) -> torch.Tensor:
        return self.lagrange_multiplier

    @torch.no_grad()
    def step(self, cost_estimate: torch.Tensor | float, cost_limit: float) -> torch.Tensor:
        """One dual update from ``cost_estimate`` (its mean is used) against ``cost_limit``.

        Returns the new λ.
        """
        lam = self.lagrange_multiplier
        cost = torch.as_tensor(cost_estimate, dtype=lam.dtype, device=lam.device).mean()
        violation = cost - cost_limit
        finite = torch.isfinite(violation)
        violation = torch.where(finite, violation, torch.zeros_like(violation))
        if self.rule == "projected":
            new = torch.clamp(lam + self.lr * violation, min=0.0)
        else:
            b1, b2 = self.betas
            # d/d(log λ) of λ·(h - Qc) for log_adam; d/dλ of -λ·(Qc - h) for adam
            grad = lam * (-violation) if self.rule == "log_adam" else -violation
            m = b1 * self.adam_exp_avg + (1 - b1) * grad
            v = b2 * self.adam_exp_avg_sq + (1 - b2) * grad * grad
            t = self.adam_step + 1
            m_hat = m / (1 - b1 ** t.to(m.dtype))
            v_hat = v / (1 - b2 ** t.to(m.dtype))
            adam_step = self.lr * m_hat / (v_hat.sqrt() + self.eps)
            if self.rule == "log_adam":
                log_lam = torch.log(lam.clamp(min=math.exp(LOG_MIN)))
                new = (log_lam - adam_step).clamp(LOG_MIN, LOG_MAX).exp()
            else:
                new = torch.clamp(lam - adam_step, min=0.0)
            self.adam_exp_avg.copy_(torch.where(finite, m, self.adam_exp_avg))
            self.adam_exp_avg_sq.copy_(torch.where(finite, v, self.adam_exp_avg_sq))
            self.adam_step.copy_(torch.where(finite, t, self.adam_step))
        self.lagrange_multiplier.copy_(torch.where(finite, new, lam))
        return self.lagrange_multiplier

    def extra_repr(self) -> str:
        return f"rule={self.rule!r}, lr={self.lr}, value={float(self.lagrange_multiplier):.4g}"


def step_dual(
    dual: DualVariable,
    source: str,
    cost_limit: float,
    loss_td,
    episode_cost: float | None = None,
    episode_cost_limit: float | None = None,
) -> torch.Tensor:
    """One dual step from what ``source`` (one of :data:`DUAL_SOURCES`) names.

    ``"batch"`` (paper Alg. 1 line 21 and the released code) / ``"policy"`` read
    ``cost_estimate_batch`` / ``cost_estimate_policy`` from a loss's output ``loss_td``
    against the discounted budget ``cost_limit``; ``"episode"`` reads ``episode_cost`` (the
    mean cost of recent training episodes) against ``episode_cost_limit`` and does nothing
    until an episode has finished.  Returns λ.
    """
    if source == "batch":
        return dual.step(loss_td["cost_estimate_batch"], cost_limit)
    if source == "policy":
        return dual.step(loss_td["cost_estimate_policy"], cost_limit)
    if source != "episode":
        raise ValueError(f"unknown dual source {source!r}; choose one of {list(DUAL_SOURCES)}")
    if episode_cost_limit is None:
        raise ValueError("dual source 'episode' needs episode_cost_limit (the episodic budget)")
    if episode_cost is None:
        return dual.value
    return dual.step(torch.tensor(float(episode_cost)), episode_cost_limit)
