"""The chain-space study's table (studies/released_study/REPORT.md): per seed and per arm, the comparison
named before the runs were read — evaluations within the limit in the last quarter of the run, then
their mean return — and beside it the evaluations within the limit over the whole run, λ at the end and
its range, and the share of evaluation action entries with |a| > 0.99 (``saturation.csv``, written by
``studies/saturation.py``; "-" where the run has none).

    .venv/bin/python studies/chain_table.py \\
        pre_squash=studies/results/paper_study/algd/SafetyHopperVelocity-v1 \\
        action=studies/results/released_study/chain_action/algd/SafetyHopperVelocity-v1

Each ARM=FOLDER names a folder of ``seed<n>`` runs; every number comes from the runs' ``metrics.csv``
(columns by name, through ``algd_components.runs.evaluations``) and ``saturation.csv``.
"""
import csv
import statistics
import sys
from pathlib import Path

import numpy as np

from algd_components.runs import evaluations, load_run


def run_row(path: Path) -> dict:
    e = evaluations(path)
    total = int(load_run(path)[0]["collector.total_frames"])
    late = e["frames"] > 0.75 * total  # the last quarter's evaluations (16k, 18k, 20k of 20k)
    within = e["cost"] <= e["limit"]
    sat = path / "saturation.csv"
    share = float(next(csv.DictReader(open(sat)))["share_saturated"]) if sat.exists() else None
    return {"frames": int(e["frames"][-1]), "late_within": int(within[late].sum()), "late_evals": int(late.sum()),
            "late_return": float(e["ret"][late].mean()), "within": int(within.sum()), "evals": len(within),
            "lam": float(e["lam"][-1]), "lam_min": float(np.nanmin(e["lam"])), "lam_max": float(np.nanmax(e["lam"])),
            "saturated": share, "final_return": float(e["ret"][-1]), "final_cost": float(e["cost"][-1])}


def main(arms: list[str]) -> None:
    cols = ["frames", "last-quarter evals within limit", "last-quarter mean eval return", "evals within limit",
            "final eval return / cost", "λ at the end (range)", "eval actions within 1 % of the box edge"]
    print("| arm | seed | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 2) + "|")
    totals = []
    for arm in arms:
        label, _, folder = arm.partition("=")
        rows = [(d.name[4:], run_row(d)) for d in sorted(Path(folder).glob("seed*")) if (d / "metrics.csv").exists()]
        for seed, r in rows:
            sat = "-" if r["saturated"] is None else f"{r['saturated']:.3f}"
            print(f"| {label} | {seed} | {r['frames']} | {r['late_within']}/{r['late_evals']} | {r['late_return']:.1f} | "
                  f"{r['within']}/{r['evals']} | {r['final_return']:.1f} / {r['final_cost']:.1f} | "
                  f"{r['lam']:.3f} ({r['lam_min']:.3f}-{r['lam_max']:.3f}) | {sat} |")
        rets = [r["late_return"] for _, r in rows]
        std = statistics.stdev(rets) if len(rets) > 1 else float("nan")
        totals.append(f"| {label} | all ({len(rows)}) | | {sum(r['late_within'] for _, r in rows)}/"
                      f"{sum(r['late_evals'] for _, r in rows)} | {statistics.mean(rets):.1f} ± {std:.1f} (sample std) | "
                      f"{sum(r['within'] for _, r in rows)}/{sum(r['evals'] for _, r in rows)} | | | |")
    print("\n".join(totals))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
