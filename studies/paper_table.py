"""Per-seed table of the paper-domain study (studies/paper_study.sh), from each run's metrics.csv and
episodes.csv, with the quantities of the paper's Fig. 2 (evaluation return, λ, constraint violation).

    .venv/bin/python studies/paper_table.py [OUT]      # OUT defaults to comparisons/paper_study

One markdown row per finished-or-running run and one row per (task, algorithm) over its seeds: evaluation
return and cost at the last evaluation; evaluations whose cost kept within the limit; the mean
violation of the training episodes, ``max(0, episode cost - limit)`` averaged over every training episode
(Fig. 2's bottom panel uses ``max(0, c - h)``; ours is per episode against the episode limit); the share
of training episodes over the limit; λ at the first and the last evaluation, its range, and how often it
changed direction between successive evaluations (a count of reversals: how much λ oscillated at the
evaluation spacing); and the run's wall time.
"""
import csv
import statistics
import sys
from pathlib import Path

import numpy as np

from algd_components.plot import cost_panel, load_run


def run_stats(path: Path) -> dict | None:
    try:
        cfg, cols = load_run(path)
    except ValueError:  # no evaluation yet
        return None
    cost_col, limit = cost_panel(cfg)
    evals = np.isfinite(cols["eval_return"])
    ret, cost = cols["eval_return"][evals], cols[cost_col][evals]
    lam = cols["lambda"][np.isfinite(cols["lambda"])]
    with open(path / "episodes.csv", newline="") as f:
        train_costs = np.array([float(r["cost"]) for r in csv.DictReader(f)])
    steps = np.sign(np.diff(lam))
    steps = steps[steps != 0]
    return {"frames": int(cols["frames"][evals][-1]), "ret": ret[-1], "cost": cost[-1],
            "within": int((cost <= limit).sum()), "evals": len(cost),
            "violation": np.maximum(train_costs - limit, 0.0).mean(), "over": (train_costs > limit).mean(),
            "lam0": lam[0], "lam": lam[-1], "lam_min": lam.min(), "lam_max": lam.max(),
            "reversals": int((steps[1:] != steps[:-1]).sum()), "wall": cols["wall_time_s"][evals][-1]}


def main(out: str = "comparisons/paper_study") -> None:
    cols = ["frames", "eval return at the end", "eval cost at the end", "evals within limit",
            "mean training-episode violation", "training episodes over the limit", "λ first → last eval",
            "λ range", "λ reversals", "wall time (s)"]
    print("| task | algorithm | seed | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 3) + "|")
    for task_dir in sorted(p for p in Path(out).glob("*/*") if p.is_dir()):
        algo, task = task_dir.parent.name, task_dir.name
        named = [(d.name[4:], run_stats(d)) for d in sorted(task_dir.glob("seed*"))]
        runs = [r for _, r in named if r is not None]
        for seed, r in named:
            if r is None:
                continue
            print(f"| {task} | {algo} | {seed} | {r['frames']} | {r['ret']:.1f} | {r['cost']:.1f} | "
                  f"{r['within']}/{r['evals']} | {r['violation']:.1f} | {r['over']:.0%} | "
                  f"{r['lam0']:.2f} → {r['lam']:.3f} | {r['lam_min']:.3f}-{r['lam_max']:.2f} | {r['reversals']} | "
                  f"{r['wall']:.0f} |")
        if len(runs) > 1:
            m = {k: statistics.mean(r[k] for r in runs) for k in ("ret", "cost", "violation", "over", "lam", "reversals")}
            s = {k: statistics.pstdev(r[k] for r in runs) for k in ("ret", "cost")}
            within = sum(r["within"] for r in runs), sum(r["evals"] for r in runs)
            print(f"| {task} | {algo} | mean ± std | | {m['ret']:.1f} ± {s['ret']:.1f} | {m['cost']:.1f} ± "
                  f"{s['cost']:.1f} | {within[0]}/{within[1]} | {m['violation']:.1f} | {m['over']:.0%} | "
                  f"→ {m['lam']:.3f} | | {m['reversals']:.1f} | |")


if __name__ == "__main__":
    main(*sys.argv[1:2])
