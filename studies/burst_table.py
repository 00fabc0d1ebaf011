"""The burst-vs-interleaved study's table (studies/released_study/REPORT.md, second part): per seed and
per arm, the comparison named before the runs were read — evaluations within the limit at 4k-12k
frames, then the last quarter's mean evaluation return — and beside it λ at every evaluation, its range
and its largest change between consecutive evaluations (over the whole run, then from 4k frames on, both as a
difference and as the largest |ln(λ'/λ)|: `algd=code` steps log λ), evaluations within the limit over all of
them, updates made and wall time.

    .venv/bin/python studies/burst_table.py \\
        burst=studies/results/released_study/utd5_burst/algd/SafetyHopperVelocity-v1 \\
        interleaved=studies/results/released_study/utd5_interleaved/algd/SafetyHopperVelocity-v1

Each ARM=FOLDER names a folder of ``seed<n>`` runs; every number comes from the runs' ``metrics.csv``
(columns by name, through ``algd_components.runs``).  Per arm, a last row sums the counts and gives the
mean ± sample standard deviation (ddof 1) over seeds of the last-quarter mean return.
"""
import statistics
import sys
from pathlib import Path

import numpy as np

from algd_components.runs import column_table, evaluations, load_run

FIRST_COUNTED = 4000  # the 2k evaluation follows the warm-up, where the arms' update counts differ most


def run_row(path: Path) -> dict:
    e = evaluations(path)
    total = int(load_run(path)[0]["collector.total_frames"])
    within = e["cost"] <= e["limit"]
    counted, late = e["frames"] >= FIRST_COUNTED, e["frames"] > 0.75 * total  # late: 10k and 12k of 12k
    lam = e["lam"]
    (_, updates, wall), = column_table([path], ["updates", "wall_time_s"], last=True)
    return {"frames": int(e["frames"][-1]), "within": int(within[counted].sum()), "counted": int(counted.sum()),
            "late_return": float(e["ret"][late].mean()), "late_evals": int(late.sum()),
            "within_all": int(within.sum()), "evals": len(within), "lam": " ".join(f"{x:.2f}" for x in lam),
            "lam_range": f"{lam.min():.3f}-{lam.max():.3f}", "lam_jump": float(np.abs(np.diff(lam)).max()),
            "lam_jump_late": float(np.abs(np.diff(lam[counted])).max()),
            "log_lam_jump_late": float(np.abs(np.diff(np.log(lam[counted]))).max()),
            "updates": int(float(updates)), "wall_min": float(wall) / 60}


def main(arms: list[str]) -> None:
    cols = ["frames", "evals within limit, 4k-12k", "last-quarter mean eval return", "evals within limit, all",
            "λ at each evaluation", "λ range", "largest λ change between evaluations",
            "largest λ change, 4k on", "largest abs ln(λ'/λ), 4k on", "updates", "wall time (min)"]
    print("| arm | seed | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 2) + "|")
    for arm in arms:
        label, _, folder = arm.partition("=")
        rows = [(d.name[4:], run_row(d)) for d in sorted(Path(folder).glob("seed*")) if (d / "metrics.csv").exists()]
        for seed, r in rows:
            print(f"| {label} | {seed} | {r['frames']} | {r['within']}/{r['counted']} | {r['late_return']:.1f} | "
                  f"{r['within_all']}/{r['evals']} | {r['lam']} | {r['lam_range']} | {r['lam_jump']:.3f} | "
                  f"{r['lam_jump_late']:.3f} | {r['log_lam_jump_late']:.3f} | {r['updates']} | {r['wall_min']:.0f} |")
        if len(rows) > 1:
            rs = [r for _, r in rows]
            late = [r["late_return"] for r in rs]
            print(f"| {label} | all | | {sum(r['within'] for r in rs)}/{sum(r['counted'] for r in rs)} | "
                  f"{statistics.mean(late):.1f} ± {statistics.stdev(late):.1f} | "
                  f"{sum(r['within_all'] for r in rs)}/{sum(r['evals'] for r in rs)} | | | "
                  f"{max(r['lam_jump'] for r in rs):.3f} (max) | {max(r['lam_jump_late'] for r in rs):.3f} (max) | "
                  f"{max(r['log_lam_jump_late'] for r in rs):.3f} (max) | | |")


if __name__ == "__main__":
    main(sys.argv[1:])
