"""Per-seed table of the paper-domain study (studies/paper_study.sh), from each run's metrics.csv and
episodes.csv, with the quantities of the paper's Fig. 2 (evaluation return, λ, constraint violation).

    .venv/bin/python studies/paper_table.py [OUT]      # OUT defaults to comparisons/paper_study

One markdown row per finished-or-running run and one row per (task, algorithm) over its seeds: evaluation
return and cost at the last evaluation; evaluations whose cost kept within the limit; the mean violation
of the evaluation episodes (``episodes.csv``, every deterministic evaluation episode), ``max(0, episode
cost - limit)``, and their share over the limit; the training cost, the mean cost of the last 10 finished
training episodes (``metrics.csv``'s ``train_episode_cost``) averaged over the evaluations (the runs log
no per-episode training record, so Fig. 2's training-violation panel has this windowed mean as its
nearest measure); λ at the first and the last evaluation, its range, and how often it changed direction
between successive evaluations (a count of reversals: how much λ oscillated at the evaluation spacing);
and the run's wall time.
"""
import csv
import statistics
import sys
from pathlib import Path

import numpy as np

from algd_components.runs import evaluations


def run_stats(path: Path) -> dict | None:
    try:
        e = evaluations(path)
    except ValueError:  # no evaluation yet
        return None
    cost, lam, limit = e["cost"], e["lam"], e["limit"]
    with open(path / "episodes.csv", newline="") as f:
        eval_costs = np.array([float(r["cost"]) for r in csv.DictReader(f)])
    steps = np.sign(np.diff(lam))
    steps = steps[steps != 0]
    return {"frames": int(e["frames"][-1]), "ret": e["ret"][-1], "cost": cost[-1],
            "within": int((cost <= limit).sum()), "evals": len(cost),
            "violation": np.maximum(eval_costs - limit, 0.0).mean(), "over": (eval_costs > limit).mean(),
            "train_cost": np.nanmean(e["train_cost"]),
            "lam0": lam[0], "lam": lam[-1], "lam_min": lam.min(), "lam_max": lam.max(),
            "reversals": int((steps[1:] != steps[:-1]).sum()), "wall": e["wall"][-1]}


def main(out: str = "comparisons/paper_study") -> None:
    cols = ["frames", "eval return at the end", "eval cost at the end", "evals within limit",
            "mean eval-episode violation", "eval episodes over the limit",
            "training cost (10-episode mean, averaged)", "λ first → last eval",
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
                  f"{r['within']}/{r['evals']} | {r['violation']:.1f} | {r['over']:.0%} | {r['train_cost']:.1f} | "
                  f"{r['lam0']:.2f} → {r['lam']:.3f} | {r['lam_min']:.3f}-{r['lam_max']:.2f} | {r['reversals']} | "
                  f"{r['wall']:.0f} |")
        if len(runs) > 1:
            m = {k: statistics.mean(r[k] for r in runs) for k in ("ret", "cost", "violation", "over", "train_cost", "lam", "reversals")}
            s = {k: statistics.stdev(r[k] for r in runs) for k in ("ret", "cost")}
            within = sum(r["within"] for r in runs), sum(r["evals"] for r in runs)
            print(f"| {task} | {algo} | mean ± sample std | | {m['ret']:.1f} ± {s['ret']:.1f} | {m['cost']:.1f} ± "
                  f"{s['cost']:.1f} | {within[0]}/{within[1]} | {m['violation']:.1f} | {m['over']:.0%} | {m['train_cost']:.1f} | "
                  f"→ {m['lam']:.3f} | | {m['reversals']:.1f} | |")


if __name__ == "__main__":
    main(*sys.argv[1:2])
