"""Lagrangians as small modules with one interface, selectable by name or ``_target_``.

Each Lagrangian maps ``(q, qc, lam, cost_limit)`` to an energy: lower is better.  The
energy is what guides the diffusion policy (paper eq. (5)/(8)) and what the Monte-Carlo
score target differentiates (eq. (11)).

Adding your own
---------------
Subclass :class:`Lagrangian` anywhere (your own package is fine) and either

* point the config at it: ``lagrangian: {_target_: mypkg.MyLagrangian, ...}`` (Hydra
  instantiates it, nothing here needs editing), or
* decorate it with :func:`register_lagrangian` and select it by name.
"""
from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from . import functional as F

__all__ = [
    "Lagrangian",
    "StandardLagrangian",
    "AugmentedLagrangian",
    "register_lagrangian",
    "make_lagrangian",
    "LAGRANGIANS",
]

LAGRANGIANS: dict[str, type["Lagrangian"]] = {}


def register_lagrangian(name: str):
    """Class decorator: make a :class:`Lagrangian` subclass selectable as ``name``."""

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, Lagrangian)):
            raise TypeError(f"{cls!r} must subclass algd_components.Lagrangian to be registered")
        LAGRANGIANS[name] = cls
        return cls

    return deco


class Lagrangian(nn.Module):
    """Interface: ``energy = lagrangian(q, qc, lam, cost_limit)``.

    ``q`` and ``qc`` have one shape (``[..., 1]`` in the TorchRL convention) and ``lam``
    broadcasts against them.  Subclasses implement :meth:`forward`.
    """

    def forward(self, q, qc, lam, cost_limit):  # pragma: no cover - interface
        raise NotImplementedError


@register_lagrangian("standard")
class StandardLagrangian(Lagrangian):
    """``L = -Q + λ (Qc - h)`` (paper Section 2; the "LGD" ablation)."""

    def forward(self, q, qc, lam, cost_limit):
        return F.standard_lagrangian(q, qc, lam, cost_limit)


@register_lagrangian("augmented")
class AugmentedLagrangian(Lagrangian):
    """``L_A = -Q + ([λ + ρ(Qc - h)]_+² - λ²)/(2ρ)``, paper eq. (9) (ALGD).

    Theorem 3.2(b) of the paper: at a KKT point (with complementary slackness,
    ``λ*(Qc - h) = 0``) ``L_A`` equals ``L``, so the optimal policy is unchanged there;
    away from such points ``L_A`` reshapes the energy landscape (adds curvature
    ``ρ ∇Qc ∇Qcᵀ`` where ``λ + ρ(Qc - h) > 0``, eq. (10)).
    """

    def __init__(self, rho: float = 1.0):
        super().__init__()
        if not (isinstance(rho, (int, float)) and rho > 0):
            raise ValueError(f"rho must be a number > 0, got {rho!r}")
        self.rho = float(rho)

    def forward(self, q, qc, lam, cost_limit):
        return F.augmented_lagrangian(q, qc, lam, cost_limit, self.rho)

    def extra_repr(self) -> str:
        return f"rho={self.rho}"


def make_lagrangian(spec: Any = "augmented", **kwargs) -> Lagrangian:
    """Build a Lagrangian from a name, a mapping, a class or an instance.

    * ``"augmented"`` / ``"standard"`` / any registered name (``kwargs`` are passed on);
    * a mapping with ``name`` (plus constructor keys) or with Hydra's ``_target_``;
    * a :class:`Lagrangian` subclass or instance.
    """
    if isinstance(spec, Lagrangian):
        return spec
    if isinstance(spec, type) and issubclass(spec, Lagrangian):
        return spec(**kwargs)
    if isinstance(spec, Mapping):
        spec = dict(spec)
        if "_target_" in spec:
            # resolved and checked before anything is called: a _target_ that is not a Lagrangian class
            # (os.makedirs, say) is refused without running it
            from hydra.utils import get_object

            target = spec.pop("_target_")
            try:
                cls = get_object(target) if isinstance(target, str) else target
            except Exception as err:  # an import error: keep the message short
                raise ValueError(f"could not import lagrangian _target_={target!r}: {str(err).splitlines()[0]}") from None
            if not (isinstance(cls, type) and issubclass(cls, Lagrangian)):
                raise ValueError(f"lagrangian _target_={target!r} is not an algd_components.Lagrangian subclass "
                                 f"(it is {cls!r})")
            try:
                return cls(**spec, **kwargs)
            except TypeError as err:
                raise ValueError(f"could not build lagrangian {target!r}: {err}") from None
        if "name" not in spec:
            raise ValueError(f"lagrangian config needs 'name' or '_target_', got keys {sorted(spec)}")
        name = spec.pop("name")
        return make_lagrangian(name, **spec, **kwargs)
    if isinstance(spec, str):
        if spec not in LAGRANGIANS:
            raise ValueError(
                f"unknown lagrangian {spec!r}; registered: {sorted(LAGRANGIANS)} "
                "(or give a _target_ to your own Lagrangian subclass)"
            )
        cls = LAGRANGIANS[spec]
        if cls is StandardLagrangian:
            kwargs.pop("rho", None)  # a shared config may carry rho for both
        return cls(**kwargs)
    raise ValueError(f"cannot build a lagrangian from {spec!r}")
