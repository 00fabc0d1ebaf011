"""Lagrangian-guided Q-score matching (LQSM): a constrained diffusion method that is not ALGD,
built from algd-components' public parts, outside the package.

The diffusion actor is trained to match the energy's own action gradient at the noisy action,
``φ_target(s, a^τ) = -∇_a L_A(s, a^τ, λ) / β`` (Q-score matching, Psenka et al. 2024, with the
augmented Lagrangian as the energy), with no Monte-Carlo smoothing around ``a^τ``.  Critics,
cost ensemble, dual variable, presets and the training loop are ALGD's, reused as they are.

    python examples/lagrangian_qsm.py env.name=SafetyHopperVelocity-v1 collector.total_frames=20000
"""
import sys

from algd_components import ALGDLoss, AugLagScoreTarget, algorithms
from algd_components import functional as F
from algd_components.algorithms import algd
from algd_components.algorithms.common import make_dual, make_lagrangian
from algd_components.updates import ForeachSoftUpdate


class QScoreTarget(AugLagScoreTarget):
    """AugLagScoreTarget with the Monte-Carlo target replaced by the gradient at ``a^τ`` itself."""

    def score_target(self, tensordict, generator=None):
        obs = tensordict.get(self.tensor_keys.observation)
        noisy = tensordict.get(self.tensor_keys.noisy_action)
        _, grad = F.energy_and_action_grad(lambda a: self.energy(obs, a), noisy)
        return -grad / self.beta


def build(cfg, obs_dim, action_spec, h, device):
    """ALGD's modules and optimisers, with the Q-score target in the loss."""
    a, o = cfg.algd, cfg.optim
    actor, qvalue, cost = algd.make_modules(cfg, obs_dim, action_spec, device)
    lagrangian, dual = make_lagrangian(cfg), make_dual(a.dual, device)
    score = QScoreTarget(actor, qvalue, cost, lagrangian, dual, h, num_samples=1, beta=float(a.beta),
                         reduction=a.score_reduction)
    loss = ALGDLoss(actor, qvalue, cost, lagrangian, dual, h, gamma=o.gamma, cost_gamma=o.cost_gamma,
                    score_coef=float(a.score_coef), energy_coef=float(a.energy_coef), dual_source=a.dual.source,
                    cost_target=a.cost_target, score_loss=score)
    updater = ForeachSoftUpdate(loss, eps=o.target_update_polyak, interval=o.target_update_interval)
    return algorithms.Algorithm(actor, loss, updater, algd.make_optimizers(cfg, actor, qvalue, cost))


algorithms.register("lqsm", config="algd", build=build, make_policy=algd.make_policy, validate=algd.validate,
                    overrides=["logger.exp_name=lqsm"], replace=True,
                    description="Lagrangian-guided Q-score matching (examples/lagrangian_qsm.py)")

if __name__ == "__main__":
    from algd_components.cli import train_main

    train_main(["algo=lqsm", *sys.argv[1:]])
