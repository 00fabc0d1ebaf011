"""Per-seed table of the updates-per-frame study (studies/utd_study.sh), from each run's metrics.csv.

Run from the repository root: ``.venv/bin/python studies/utd_table.py``. Prints one markdown row per run and
one mean row per arm: evaluation return and cost at the last evaluation, their means over all evaluations,
how many evaluations kept the cost within the limit, λ at the end and its largest value, the run's wall time,
and the mean episode length of the final policy on 3 held-out episodes (``algd-eval RUN --episodes 3``:
deterministic, seeds env.seed + 20000 on), which tells a hopper that stays up from one that falls.
"""

import statistics
from pathlib import Path

from algd_components.evaluate import evaluate_run
from algd_components.runs import evaluations

ARMS = {"5 per frame, targets every 2nd (released)": "comparisons/hopper_utd5",
        "1 per frame, targets every 2nd": "comparisons/hopper_utd1"}
TASK = "algd/SafetyHopperVelocity-v1"


def run_row(path: Path) -> dict | None:
    try:
        e = evaluations(path)  # cost: the task's episode cost (limit 25 on Hopper) unless the run set its own limit
    except ValueError:  # no evaluation yet
        return None
    ret, cost, lam = e["ret"], e["cost"], e["lam"]
    return {"frames": int(e["frames"][-1]), "ret": ret[-1], "cost": cost[-1],
            "mean_ret": ret.mean(), "mean_cost": cost.mean(), "within": int((cost <= e["limit"]).sum()), "evals": len(cost),
            "lam": lam[-1], "lam_max": lam.max(), "wall": e["wall"][-1],
            "length": statistics.mean(ep["length"] for ep in evaluate_run(path, episodes=3)["episodes"])}


def main() -> None:
    cols = ["frames", "eval return at the end", "eval cost at the end", "mean eval return", "mean eval cost",
            "evals within limit", "λ at the end", "largest λ", "wall time (s)", "held-out episode length"]
    print("| arm | seed | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 2) + "|")
    for arm, out in ARMS.items():
        runs = {}
        for seed_dir in sorted(Path(out, TASK).glob("seed*")):
            r = run_row(seed_dir)
            if r is None:
                continue
            runs[seed_dir.name[4:]] = r
            print(f"| {arm} | {seed_dir.name[4:]} | {r['frames']} | {r['ret']:.0f} | {r['cost']:.1f} | "
                  f"{r['mean_ret']:.0f} | {r['mean_cost']:.1f} | {r['within']}/{r['evals']} | {r['lam']:.2f} | "
                  f"{r['lam_max']:.2f} | {r['wall']:.0f} | {r['length']:.0f} |")
        if runs:
            m = {k: statistics.mean(r[k] for r in runs.values()) for k in ("ret", "cost", "mean_ret", "mean_cost", "lam", "lam_max", "length")}
            s = {k: statistics.stdev(r[k] for r in runs.values()) for k in ("ret", "cost")}
            within = sum(r["within"] for r in runs.values()), sum(r["evals"] for r in runs.values())
            print(f"| {arm} | mean ± sample std | | {m['ret']:.0f} ± {s['ret']:.0f} | {m['cost']:.1f} ± {s['cost']:.1f} | "
                  f"{m['mean_ret']:.0f} | {m['mean_cost']:.1f} | {within[0]}/{within[1]} | {m['lam']:.2f} | "
                  f"{m['lam_max']:.2f} | | {m['length']:.0f} |")


if __name__ == "__main__":
    main()
