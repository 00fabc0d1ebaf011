"""How far a run's cost critics are from the cost their replay buffer actually saw.

    .venv/bin/python studies/critic_check.py RUN [RUN ...] [--fit N]

For each run folder (its ``checkpoint.pt``): the budget ``h``, the mean cost per step in the replay
buffer, the Monte-Carlo discounted cost-to-go of every buffered transition (``Σ_k γ_c^k c_{t+k}`` to the
end of its episode; no bootstrap at truncation, so a lower bound for truncated episodes) and the critics'
estimate on the same (state, action) pairs, the one the dual step reads (ensemble mean, + k·std under
``algd=code``).  The Monte-Carlo value is that of the policies that filled the buffer, not of the current
one, so read a large gap, not a small one.

``--fit N`` then makes N more updates of the critics alone (twin Q and cost ensemble with their own Adam
states and target networks from the checkpoint; actor and λ frozen) on batches from that buffer and
prints the estimate every N/4.  Each soft target update moves the critics' mean by about the mean cost per
step towards the fixed point ``c̄ / (1 - γ)``, so with the run's own targets (τ = 0.005, every 2nd update
under ``algd=code`` and for CAL, every update for SAC-Lag) a few thousand updates barely move it;
``--target-tau 0.05`` (every update) makes ~20× more value-iteration sweeps per update (~10× for
SAC-Lag): if the estimate then climbs towards the Monte-Carlo value, the gap
was the critics not having converged yet, not a wrong target.  Nothing in the run folder is written.
"""
from __future__ import annotations

import argparse

import torch
from omegaconf import OmegaConf
from torchrl.objectives.value.functional import reward2go

from algd_components import algorithms
from algd_components.training.checkpoints import read_checkpoint
from algd_components.training.factories import make_envs
from algd_components.updates import update_step


def check(run: str, fit: int, target_tau: float | None) -> None:
    ckpt = read_checkpoint(f"{run}/checkpoint.pt")  # weights only: a crafted file runs nothing; the buffer as a TensorDict
    cfg = OmegaConf.create(ckpt["config"])
    env, eval_env, _, _, h = make_envs(cfg)
    obs_dim, action_spec = env.observation_spec["observation"].shape[-1], env.action_spec
    env.close()
    eval_env.close()
    alg = algorithms.get(cfg.algo).build(cfg, obs_dim, action_spec, h, torch.device("cpu"))
    alg.loss.load_state_dict(ckpt["loss"])
    data = ckpt["replay_buffer"]["data"]
    cost = data["next", "cost"].reshape(-1, 1)  # the buffer holds the single env's transitions in order
    ends = data["next", "terminated"] | data["next", "truncated"]
    mc = reward2go(cost.double(), ends.reshape(-1, 1), cfg.optim.cost_gamma, time_dim=-2).reshape(-1)

    def estimate() -> float:
        with torch.no_grad():
            return alg.loss.cost_network.estimate(data["observation"], data["action"]).mean().item()

    print(f"{run}: frames {ckpt['state']['frames']}, h {h:.3f}, buffer {cost.numel()} transitions, "
          f"{int(ends.sum())} episode ends, cost per step {cost.float().mean().item():.4f}")
    print(f"  Monte-Carlo discounted cost-to-go {mc.mean().item():.3f} (last quarter {mc[-len(mc) // 4:].mean().item():.3f}); "
          f"critics' estimate {estimate():.3f}")
    if fit:
        critics = {k: alg.optimizers[k] for k in ("qvalue", "cost")}
        for k, opt in critics.items():
            opt.load_state_dict(ckpt["optimizers"][k])
        if target_tau is not None:  # faster-moving targets: more value-iteration sweeps per update
            alg.target_updater.eps, alg.target_updater.interval = 1.0 - target_tau, 1
        g = torch.Generator().manual_seed(0)
        for i in range(1, fit + 1):
            batch = data[torch.randint(len(data), (cfg.optim.batch_size,), generator=g)]
            update_step(alg.loss, critics, alg.target_updater, batch, step_dual=False)
            if i % max(fit // 4, 1) == 0:
                print(f"  after {i} critic-only updates: critics' estimate {estimate():.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--fit", type=int, default=0, metavar="N", help="then N critic-only updates on the buffer")
    p.add_argument("--target-tau", type=float, default=None, metavar="T",
                   help="during --fit, soft-update the targets by T after every update (default: the run's own schedule)")
    args = p.parse_args()
    for run in args.runs:
        check(run, args.fit, args.target_tau)


if __name__ == "__main__":
    main()
