"""The math of algd_components.functional against closed forms."""
import math

import pytest
import torch

from algd_components import functional as F


def gaussian_energy(mu, s, beta):
    # exp(-L/β) ∝ N(μ, s² I)  <=>  L(a) = β ||a - μ||² / (2 s²)
    return lambda a: beta * (a - mu).square().sum(-1) / (2 * s * s)


def test_mc_score_target_converges_to_smoothed_gaussian_score():
    # For a Gaussian Boltzmann density N(μ, s²I) the σ-smoothed density is N(μ, (s²+σ²)I),
    # whose score at x is -(x-μ)/(s²+σ²).  The self-normalised estimator with proposal
    # N(x, σ²I) targets the posterior mean of -(a-μ)/s², which equals that score exactly.
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    s, sigma, beta, d = 1.0, 1.0, 0.5, 3
    mu = torch.tensor([0.3, -0.7, 1.2])
    x = mu + torch.randn(64, d)
    exact = -(x - mu) / (s * s + sigma * sigma)
    # Tolerance: the SNIS error of each coordinate has std ≈ sqrt(Var_post(g)·(1+χ²)/N)
    # (Kong's effective sample size), with g = -(a-μ)/s², Var_post(g) = σ²/(s²(s²+σ²)) = 0.5
    # and, for s = σ = 1, 1+χ² = E_q[w²]/E_q[w]² = (2/√3)^d · exp(|x-μ|²/6) in closed form.
    inflation = (2 / math.sqrt(3)) ** d * torch.exp((x - mu).square().sum(-1, keepdim=True) / 6)
    errors = {}
    for n in (16, 8192):
        est = F.mc_score_target(gaussian_energy(mu, s, beta), x, sigma, n, beta, generator=g)
        assert est.shape == x.shape and not est.requires_grad
        errors[n] = (est - exact).abs()
        std_err = (0.5 * inflation / n).sqrt()
        # 5 standard errors per coordinate: < 1e-4 chance of a false failure over 192.
        assert (errors[n] < 5 * std_err).all(), (n, (errors[n] / std_err).max())
    assert errors[8192].max() < 0.1
    # and it converges: the large-N error is far below the small-N error.
    assert errors[8192].mean() < errors[16].mean() / 5


def test_mc_score_target_per_element_sigma_broadcasts():
    g = torch.Generator().manual_seed(0)
    mu = torch.zeros(2)
    x = torch.tensor([[1.0, -1.0], [2.0, 0.5]])
    sigma = torch.tensor([[0.5], [2.0]])
    est = F.mc_score_target(gaussian_energy(mu, 1.0, 1.0), x, sigma, 20000, 1.0, generator=g)
    exact = -(x - mu) / (1.0 + sigma**2)
    assert torch.allclose(est, exact, atol=0.08)


def test_mc_score_target_finite_at_huge_energies():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4)
    est = F.mc_score_target(lambda a: 1e6 + 1e6 * a.square().sum(-1), x, 0.1, 6, 1.0, generator=g)
    assert torch.isfinite(est).all()
    est = F.mc_score_target(lambda a: -1e6 * a.square().sum(-1), x, 0.1, 6, 1e-3, generator=g)
    assert torch.isfinite(est).all()


def test_mc_score_target_reproducible_with_generator():
    x = torch.randn(4, 2)
    fn = gaussian_energy(torch.zeros(2), 1.0, 1.0)
    a = F.mc_score_target(fn, x, 0.3, 5, 1.0, generator=torch.Generator().manual_seed(3))
    b = F.mc_score_target(fn, x, 0.3, 5, 1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_mc_score_target_does_not_touch_weight_grads():
    lin = torch.nn.Linear(2, 1)
    F.mc_score_target(lambda a: lin(a).squeeze(-1), torch.randn(3, 2), 0.5, 4, 1.0)
    assert lin.weight.grad is None


def test_energy_and_action_grad_is_autograd_and_leaves_weights_alone():
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.SiLU(), torch.nn.Linear(8, 1))
    a = torch.randn(4, 3, 2)
    energy, grad = F.energy_and_action_grad(lambda x: net(x).squeeze(-1), a)
    a_req = a.clone().requires_grad_()
    want = net(a_req).squeeze(-1)
    (want_grad,) = torch.autograd.grad(want.sum(), a_req)
    assert torch.allclose(energy, want.detach()) and torch.allclose(grad, want_grad)
    assert not energy.requires_grad and not grad.requires_grad
    assert all(p.grad is None for p in net.parameters())
    # as the score target's gradient path: same draws, same estimate
    fn = lambda x: net(x).squeeze(-1)  # noqa: E731
    by_autograd = F.mc_score_target(fn, a[0], 0.3, 5, 1.0, generator=torch.Generator().manual_seed(1))
    by_func = F.mc_score_target(fn, a[0], 0.3, 5, 1.0, generator=torch.Generator().manual_seed(1),
                                energy_and_grad_fn=lambda x: F.energy_and_action_grad(fn, x))
    assert torch.allclose(by_autograd, by_func, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="energy_and_grad_fn"):
        F.mc_score_target(fn, a[0], 0.3, 5, 1.0, energy_and_grad_fn=lambda x: (x.sum(-1), x[..., :1]))


def test_standard_lagrangian():
    q, qc = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 0.5])
    assert torch.allclose(F.standard_lagrangian(q, qc, 2.0, 1.0), torch.tensor([3.0, -3.0]))


@pytest.mark.parametrize("lam", [0.0, 0.5, 2.0])
def test_augmented_lagrangian_branches(lam):
    rho, h = 1.5, 1.0
    q = torch.linspace(-1, 1, 41)
    qc = torch.linspace(-3, 4, 41)
    la = F.augmented_lagrangian(q, qc, lam, h, rho)
    active = lam + rho * (qc - h) > 0
    quad = F.standard_lagrangian(q, qc, lam, h) + rho / 2 * (qc - h) ** 2
    flat = -q - lam**2 / (2 * rho)
    assert torch.allclose(la[active], quad[active], atol=1e-6)
    assert torch.allclose(la[~active], flat[~active], atol=1e-6)


def test_augmented_lagrangian_continuous_value_and_gradient_at_switch():
    rho, h, lam = 2.0, 1.0, 0.8
    switch = h - lam / rho  # λ + ρ(qc - h) = 0
    q = torch.tensor(0.3)
    vals, grads = [], []
    for qc0 in (switch - 1e-4, switch + 1e-4):
        qc = torch.tensor(qc0, dtype=torch.float64, requires_grad=True)
        v = F.augmented_lagrangian(q.double(), qc, lam, h, rho)
        (g,) = torch.autograd.grad(v, qc)
        vals.append(v.item())
        grads.append(g.item())
    assert abs(vals[0] - vals[1]) < 1e-6
    assert abs(grads[0] - grads[1]) < 1e-3  # dL_A/dqc = [λ + ρ(qc-h)]_+ → 0 from both sides


def test_augmented_equals_standard_at_kkt_points():
    # Theorem 3.2(b): with complementary slackness λ*(qc - h) = 0, L_A = L.
    rho, h = 1.0, 2.0
    q = torch.randn(10)
    # active constraint (qc = h), any λ* ≥ 0
    qc = torch.full((10,), h)
    for lam in (0.0, 0.7, 3.0):
        assert torch.allclose(F.augmented_lagrangian(q, qc, lam, h, rho), F.standard_lagrangian(q, qc, lam, h))
    # inactive constraint (qc < h) with λ* = 0
    qc = h - torch.rand(10) - 0.1
    assert torch.allclose(F.augmented_lagrangian(q, qc, 0.0, h, rho), F.standard_lagrangian(q, qc, 0.0, h))
    # away from KKT (λ > 0, qc < h) the landscapes differ: L_A reshapes it
    assert not torch.allclose(F.augmented_lagrangian(q, qc, 1.0, h, rho), F.standard_lagrangian(q, qc, 1.0, h))


def test_augmented_lagrangian_curvature_term_eq10():
    # ∇²L_A = ∇²L + ρ ∇Qc∇Qcᵀ + ρ(Qc-h)∇²Qc where λ + ρ(Qc-h) > 0 (eq. (10); the last
    # term is the O(|Qc-h|) remainder).
    torch.manual_seed(0)
    d, rho, lam, h = 3, 1.7, 0.4, 0.2
    A = torch.randn(d, d, dtype=torch.float64)
    A = A @ A.T
    w = torch.randn(d, dtype=torch.float64)
    B = torch.randn(d, d, dtype=torch.float64)
    B = B + B.T

    def Q(a):
        return -(a @ B @ a) / 2 + a.sum()

    def Qc(a):
        return 0.5 * a @ A @ a + w @ a + 1.0

    a0 = torch.randn(d, dtype=torch.float64)
    assert lam + rho * (Qc(a0) - h) > 0
    H_A = torch.autograd.functional.hessian(lambda a: F.augmented_lagrangian(Q(a), Qc(a), lam, h, rho), a0)
    H_L = torch.autograd.functional.hessian(lambda a: F.standard_lagrangian(Q(a), Qc(a), lam, h), a0)
    g = torch.autograd.functional.jacobian(Qc, a0)
    expected = H_L + rho * torch.outer(g, g) + rho * (Qc(a0) - h) * A
    assert torch.allclose(H_A, expected, atol=1e-9)
    # the dominant added term is positive semidefinite
    assert torch.linalg.eigvalsh(rho * torch.outer(g, g)).min() > -1e-12


def test_episodic_to_discounted_limit():
    h = F.episodic_to_discounted_limit(10.0, 0.99, 400)
    assert math.isclose(h, 10 * (1 - 0.99**400) / (0.01 * 400))
    # a cost of d/T every step, discounted, sums to h
    assert math.isclose(sum((10 / 400) * 0.99**t for t in range(400)), h, rel_tol=1e-9)
    assert F.episodic_to_discounted_limit(5.0, 1.0, 10) == 5.0


def test_geometric_sigmas():
    s = F.geometric_sigmas(0.01, 1.0, 5)
    assert s[0] == 0 and torch.allclose(s[1:], torch.tensor([0.01, 0.0316228, 0.1, 0.316228, 1.0], dtype=s.dtype), rtol=1e-5)
    inc = F.ve_sde_increments(s)
    assert torch.allclose(inc.sum(), s[-1] ** 2) and (inc[1:] > 0).all()
