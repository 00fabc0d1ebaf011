"""The energy landscape of one state (the paper's Figure 1): ``Q``, ``Q̂c``, the Lagrangian ``L``
and the augmented Lagrangian ``L_A`` over a 2-D slice of the action space, with the constraint
boundary ``Q̂c = h`` and the policy's samples.

    python -m algd_components.landscape RUN --state reset:0 --dims 0 1 -o landscape.png
    python -m algd_components.landscape --synthetic -o landscape.png

From a run (an ALGD-family checkpoint): the critics, λ, ρ and h are the run's; the other action
dimensions are held at the deterministic action's values; ``--state`` is ``reset:SEED`` (the
task's initial observation for that seed), ``buffer:I`` (row I of the checkpoint's replay
buffer) or the observation as comma-separated numbers.  ``--synthetic`` draws an illustrative
2-D example instead (no checkpoint): a reward with its peak outside a disc-shaped safe set,
``Q̂c = |a|²``, ``h = 0.25``, λ = 1, ρ = 4 — in the spirit of the paper's Figure 1, whose robot
model the paper does not give.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torchrl.envs.utils import ExplorationType, set_exploration_type

from . import functional as F
from .config import ConfigError
from .plot import save_figure

__all__ = ["landscape_from_run", "synthetic_landscape", "draw", "main"]


def _grid(low, high, n):
    return torch.linspace(float(low), float(high), n)


def synthetic_landscape(n: int = 121, lam: float = 1.0, rho: float = 4.0, h: float = 0.25) -> dict:
    """Q, Qc, L, L_A on ``[-1, 1]²`` for the illustrative example (see the module docstring)."""
    x, y = _grid(-1, 1, n), _grid(-1, 1, n)
    a = torch.stack(torch.meshgrid(x, y, indexing="xy"), -1)
    peak = torch.tensor([0.7, 0.45])
    q = 2.0 * torch.exp(-((a - peak) ** 2).sum(-1) / 0.08) + 0.8 * torch.exp(-((a + 0.4) ** 2).sum(-1) / 0.3) \
        + 0.3 * torch.cos(6 * a[..., 0]) * torch.sin(5 * a[..., 1])
    qc = (a ** 2).sum(-1)
    return {"x": x, "y": y, "q": q, "qc": qc, "L": F.standard_lagrangian(q, qc, lam, h),
            "LA": F.augmented_lagrangian(q, qc, lam, h, rho), "lam": lam, "rho": rho, "h": h, "dims": (0, 1),
            "samples": None, "deterministic": None, "title": "synthetic example"}


def _state(spec: str, blob: dict, ckpt: dict, obs_dim: int) -> torch.Tensor:
    from .envs import get_task, make_env

    if spec.startswith("reset:"):
        cfg = blob["config"]
        task = get_task(cfg["env"]["name"])
        try:
            seed = int(spec.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"--state={spec!r} is not allowed: reset:SEED with an integer seed") from None
        env = make_env(task.name, seed=seed)
        try:
            return env.reset()["observation"].reshape(-1)[:obs_dim].float()
        finally:
            env.close()
    if spec.startswith("buffer:"):
        data = (ckpt.get("replay_buffer") or {}).get("data")
        n = 0 if data is None else data.shape[0]
        try:
            i = int(spec.split(":", 1)[1])
        except ValueError:
            i = -1
        if not 0 <= i < n:
            raise ConfigError(f"--state={spec!r} is not allowed: buffer:I with 0 <= I < {n} (the checkpoint's buffer rows)")
        return data["observation"][i].float()
    try:
        values = [float(v) for v in spec.split(",")]
    except ValueError:
        values = []
    if len(values) != obs_dim:
        raise ConfigError(f"--state={spec!r} is not allowed: reset:SEED, buffer:I, or {obs_dim} comma-separated numbers")
    return torch.tensor(values)


@torch.no_grad()
def landscape_from_run(run, state: str = "reset:0", dims=(0, 1), n: int = 101, samples: int = 64) -> dict:
    """Q, Q̂c (the energy's estimate, ``mean + k·std``), L and L_A of the run's critics over
    action dims ``dims`` for one state, with λ, ρ (the run's, or 1 for a standard-Lagrangian
    run) and h as in the run, and ``samples`` stochastic policy actions plus the deterministic one."""
    from . import algorithms
    from .policy import load_policy, read_policy_file
    from .training.checkpoints import CHECKPOINT_FILE, read_checkpoint

    blob = read_policy_file(run)
    run_dir = Path(run) if Path(run).is_dir() else Path(run).parent
    if not (run_dir / CHECKPOINT_FILE).is_file():
        raise ConfigError(f"{str(run)!r}: no {CHECKPOINT_FILE} beside the policy file (the critics live there)")
    from omegaconf import OmegaConf
    from torchrl.data import Bounded

    from .envs import cost_limit_for_critic, episode_cost_limit, get_task

    cfg = OmegaConf.create(blob["config"])
    if "algd" not in cfg:
        raise ConfigError(f"{str(run)!r} is a run of algo={blob['algo']!r}: the landscape needs an ALGD-family run "
                          "(a twin critic, a cost ensemble and a Lagrangian)")
    low, high = blob["action_low"], blob["action_high"]
    act_dim = low.numel()
    d0, d1 = (int(d) for d in dims)
    if len({d0, d1}) != 2 or not (0 <= d0 < act_dim and 0 <= d1 < act_dim):
        raise ConfigError(f"--dims={d0} {d1} is not allowed: two different action dimensions in 0..{act_dim - 1}")
    ckpt = read_checkpoint(run_dir / CHECKPOINT_FILE)
    task = get_task(cfg.env.name)
    steps = cfg.env.max_episode_steps or task.max_episode_steps
    h = cost_limit_for_critic(task, cfg.optim.cost_gamma, steps, episode_cost_limit(task, steps, cfg.env.cost_limit))
    algo = algorithms.get(blob["algo"]).build(cfg, blob["obs_dim"], Bounded(low=low, high=high, shape=low.shape), h, "cpu")
    loss = algo.loss
    try:
        loss.load_state_dict(ckpt["loss"])
    except (RuntimeError, KeyError) as err:  # a checkpoint of another run or version beside this policy file
        raise ConfigError(f"{run_dir / CHECKPOINT_FILE} does not fit the run's policy file ({str(err).splitlines()[0][:160]})") from None
    obs = _state(state, blob, ckpt, blob["obs_dim"])
    policy = load_policy(run_dir)
    from tensordict import TensorDict

    det = policy(TensorDict(observation=obs[None], batch_size=[1]))["action"][0]
    with set_exploration_type(ExplorationType.RANDOM):
        sto = policy.policy(TensorDict(observation=obs.expand(samples, -1), batch_size=[samples]))["action"]
    x, y = _grid(low[d0], high[d0], n), _grid(low[d1], high[d1], n)
    a = det.expand(n, n, act_dim).clone()
    gx, gy = torch.meshgrid(x, y, indexing="xy")
    a[..., d0], a[..., d1] = gx, gy
    flat = a.reshape(-1, act_dim)
    o = obs.expand(flat.shape[0], -1)
    q = loss.qvalue_network.estimate(o, flat).reshape(n, n)
    qc = loss.cost_network.estimate(o, flat).reshape(n, n)
    lam = float(loss.dual.value)
    rho = float(getattr(loss.lagrangian, "rho", 1.0))
    return {"x": x, "y": y, "q": q, "qc": qc, "L": F.standard_lagrangian(q, qc, lam, h),
            "LA": F.augmented_lagrangian(q, qc, lam, h, rho), "lam": lam, "rho": rho, "h": h, "dims": (d0, d1),
            "samples": sto[:, [d0, d1]], "deterministic": det[[d0, d1]],
            "title": f"{blob['algo']} on {task.name}, {blob['frames']} frames, state {state}"}


def draw(land: dict, output) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 8.6))
    panels = (("q", "Q (reward critic)"), ("qc", "Q̂c (cost estimate)"), ("L", "L = -Q + λ(Q̂c - h)"),
              ("LA", f"L_A (ρ = {land['rho']:g})"))
    X, Y = np.meshgrid(land["x"].numpy(), land["y"].numpy())
    for ax, (key, title) in zip(axes.flat, panels):
        im = ax.contourf(X, Y, land[key].numpy(), levels=30, cmap="viridis")
        fig.colorbar(im, ax=ax)
        ax.contour(X, Y, land["qc"].numpy(), levels=[land["h"]], colors="white", linewidths=2)
        if land["samples"] is not None:
            s = land["samples"].numpy()
            ax.scatter(s[:, 0], s[:, 1], s=8, c="red", alpha=0.6, label="policy samples")
            d = land["deterministic"].numpy()
            ax.scatter([d[0]], [d[1]], marker="*", s=180, c="orange", edgecolors="k", label="deterministic action")
        ax.set_title(title)
        ax.set_xlabel(f"action dim {land['dims'][0]}")
        ax.set_ylabel(f"action dim {land['dims'][1]}")
    if land["samples"] is not None:
        axes.flat[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{land['title']} — λ = {land['lam']:.3g}, h = {land['h']:.3g}; white: Q̂c = h")
    return save_figure(fig, output, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m algd_components.landscape", description=__doc__.split("\n\n")[0].replace("\n", " ").replace("``", ""))
    p.add_argument("run", nargs="?", help="a run folder of an ALGD-family algorithm")
    p.add_argument("--state", default="reset:0", help="reset:SEED | buffer:I | comma-separated observation")
    p.add_argument("--dims", nargs=2, type=int, default=[0, 1], help="the two action dimensions to sweep")
    p.add_argument("--samples", type=int, default=64, help="stochastic policy samples to overlay")
    p.add_argument("--grid", type=int, default=101)
    p.add_argument("--synthetic", action="store_true", help="the illustrative example, no run needed")
    p.add_argument("-o", "--output", default="landscape.png")
    args = p.parse_args(argv)
    try:
        if args.synthetic:
            land = synthetic_landscape(args.grid)
        elif args.run is None:
            raise ConfigError("give a run folder, or --synthetic")
        else:
            land = landscape_from_run(args.run, args.state, args.dims, args.grid, args.samples)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(draw(land, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
