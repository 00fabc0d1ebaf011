"""Bad input gives a ValueError that names the parameter."""
import pytest
import torch

import algd_components as A
from algd_components import functional as F


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: A.AugmentedLagrangian(rho=0.0), "rho"),
        (lambda: A.AugmentedLagrangian(rho=-1.0), "rho"),
        (lambda: F.augmented_lagrangian(torch.zeros(2), torch.zeros(2), 0.0, 0.0, rho=0.0), "rho"),
        (lambda: F.mc_score_target(lambda a: a.sum(-1), torch.zeros(2, 2), 0.1, 4, beta=0.0), "beta"),
        (lambda: F.mc_score_target(lambda a: a.sum(-1), torch.zeros(2, 2), 0.1, 0, beta=1.0), "num_samples"),
        (lambda: F.mc_score_target(lambda a: a.sum(-1), torch.zeros(2, 2), torch.ones(3, 1), 2, 1.0), "sigma"),
        (lambda: F.mc_score_target(lambda a: a.sum(), torch.zeros(2, 2), 0.1, 2, 1.0), "energy_fn"),
        (lambda: A.EnsembleCostValue(3, 2, num_members=0), "num_members"),
        (lambda: A.EnsembleCostValue(3, 2, risk_coef=-1.0), "risk_coef"),
        (lambda: A.VESDEActor(3, 2, num_steps=0), "num_steps"),
        (lambda: A.VESDEActor(3, 2, action_low=1.0, action_high=-1.0), "action bounds"),
        (lambda: A.DualVariable(rule="sgd"), "dual rule"),
        (lambda: A.DualVariable(lr=0.0), "lr"),
        (lambda: A.DualVariable(init_value=-1.0), "init_value"),
        (lambda: A.DualVariable(init_value=0.0, rule="log_adam"), "init_value"),
        (lambda: F.standard_lagrangian(torch.zeros(2, 1), torch.zeros(2), 0.0, 0.0), "qc"),
        (lambda: F.augmented_lagrangian(torch.zeros(3), torch.zeros(2), 0.0, 0.0, 1.0), "qc"),
        (lambda: F.episodic_to_discounted_limit(10.0, 1.5, 100), "gamma"),
        (lambda: F.episodic_to_discounted_limit(10.0, 0.99, 0), "horizon"),
    ],
)
def test_bad_values_raise_named_value_error(build, name):
    with pytest.raises(ValueError, match=name):
        build()


@pytest.mark.parametrize("kw, name", [({"num_samples": 0}, "num_samples"), ({"beta": -1.0}, "beta")])
def test_score_loss_rejects_bad_n_and_beta(kw, name):
    args = dict(
        actor=A.VESDEActor(3, 2),
        qvalue_network=A.TwinQValue(3, 2),
        cost_network=A.EnsembleCostValue(3, 2),
        lagrangian=A.AugmentedLagrangian(),
        dual=A.DualVariable(),
        cost_limit=1.0,
    )
    with pytest.raises(ValueError, match=name):
        A.AugLagScoreTarget(**args, **kw)


def test_ensemble_rejects_wrong_input_width():
    c = A.EnsembleCostValue(3, 2)
    with pytest.raises(ValueError, match="in_features"):
        c.members(torch.zeros(4, 3), torch.zeros(4, 5))
