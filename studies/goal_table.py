"""Issue #27's table (studies/goal_study/REPORT.md): ALGD, SAC-Lag and CAL on SafetyPointGoal1-v0 at 100k
frames, from the kept runs of ``studies/goal_study.sh``.

    .venv/bin/python studies/goal_table.py [FOLDER]   # FOLDER defaults to studies/results/goal_study

One markdown row per run and one per algorithm over its seeds: the fraction of evaluations within the
limit (eval cost ≤ 10 per 400-step episode) over the whole run and over its last quarter (evaluations past
75k of the study's 100k frames: a run kept short of 100k, marked "diverged" or "unfinished" beside its
frames, has none, even where some of its evaluations lie past 75k, and the algorithm's row says over how
many seeds it averages), the last quarter's mean evaluation return and cost, λ's course (the first logged
value → the last, and in how many of the intervals between evaluations it rose), the largest batch cost
estimate at an evaluation (``cost_estimate_batch``, the dual step's input: the last update's before each
of the 20 evaluations, not every update's) against the budget ``h`` it is compared with, and at how many
evaluations it was above ``h`` (``h`` is the episode limit as a discounted per-step budget,
10 (1-γ^400) / ((1-γ) 400) = 2.455 for γ = 0.99, ``envs.cost_limit_for_critic``). The two are separate
signals of whether the dual step saw the limit violated: an estimate above ``h`` pushes λ up, but the
released rule (``dual.rule=log_adam``, lr 3e-4) steps log λ by Adam on ``λ (h - Q̂c)``: at most about
3e-4 per update, with running averages that carry earlier steps, so a few updates above ``h`` in an
interval spent mostly below it leave λ falling (the floor is e^-20 = 2.1e-9; in the study's ALGD and CAL
runs, below ``h`` at all but two of 120 evaluations, log λ fell about 2e-4 per update on average, as the
gradient shrinks with λ). Then the cost critics' estimate against the buffer's Monte-Carlo discounted
cost-to-go at 50k and 100k frames (the ``critic_check_<frames>.txt`` files ``studies/critic_check.py``
wrote beside the run: its printed lines, the one number here not read from a column), the wall time
(over every part of the run, each resume's env replay included, the critic checks and the time between
parts not), the resumes' env replays in it (the ``replayed in`` lines of
``legs.txt``: a run stopped more often spent more of its wall time there) and the updates made; then each
algorithm's update schedule in words (from its config, as its start-up line says it), the machines
(``machine.txt``: the one that kept the run; ``legs.txt``: the one each part of the run ran on, and how
many parts ran before that was recorded), and last the design's named comparison (``comparison``): ALGD
against each baseline, the last quarter's evaluations within the limit pooled over seeds, then the last
quarter's return, and whether the paper's claim as the design reads it held (provisional while an
algorithm has fewer than the study's 3 seeds).
Every number is read from the runs' files by column name (``algd_components.runs``); the algorithm rows
give mean ± sample standard deviation (ddof 1) over seeds.
"""
import math
import re
import statistics
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from algd_components.runs import evaluations, load_run, run_config_path
from algd_components.training.loop import schedule_text

CHECK = re.compile(r": frames (\d+),.*\n.*Monte-Carlo discounted cost-to-go ([-\d.]+) .*critics' estimate ([-\d.]+)")
STUDY_FRAMES = 100_000
LEG = re.compile(r"^\S+ \S+ UTC: to \d+ frames on (.+)$", re.M)  # goal_study.sh's line for each part of a run
UNRECORDED = "(a part run before goal_study.sh recorded legs.txt"  # legs_from_logs.py's line for such a part
REPLAYED = re.compile(r"^resume: .*\(replayed in ([\d.]+) s\)$", re.M)
STUDY_SEEDS = 3
BUDGET = re.compile(r", h ([-\d.]+),")  # the critic check's first line: the budget h of the run's cost critic


def critic_check(run: Path, frames: int) -> str:
    """``estimate / Monte-Carlo`` from ``critic_check_<frames>.txt`` (the two lines
    ``studies/critic_check.py`` prints), or "-" where there is none or it checked another frame count."""
    path = run / f"critic_check_{frames}.txt"
    found = CHECK.search(path.read_text()) if path.exists() else None
    return f"{float(found[3]):.2f} / {float(found[2]):.2f}" if found and int(found[1]) == frames else "-"


def schedule(run: Path) -> str:
    """The update schedule in the words of the run's start-up line (``schedule_text``), with the warm-up and
    the target networks' soft update, from the config the run last ran with."""
    cfg = OmegaConf.load(run_config_path(run))
    c, o = cfg.collector, cfg.optim
    return (f"{schedule_text(cfg)}, from {c.init_random_frames} warm-up frames ({c.warmup_actor} actions) on; "
            f"target networks soft-updated by {1 - o.target_update_polyak:.3g} every {o.target_update_interval} updates")


def budget(run: Path) -> str:
    """``h`` as the critic check printed it (from the run's own config), "-" before a check exists."""
    found = [BUDGET.search(p.read_text()) for p in sorted(run.glob("critic_check_*.txt"))]
    return next((m[1] for m in found if m), "-")


def run_row(path: Path) -> dict:
    e = evaluations(path)
    _, cols = load_run(path)  # the columns evaluations() leaves out (it reads metrics.csv too)
    frames = int(e["frames"][-1])
    # the study's length, not the run's config: a run kept short of it (diverged) has no last quarter, not
    # a part of one
    within, late = e["cost"] <= e["limit"], (e["frames"] > 0.75 * STUDY_FRAMES) & (frames >= STUDY_FRAMES)
    lam = e["lam"]
    legs = (path / "legs.txt").read_text() if (path / "legs.txt").exists() else ""
    estimate, h = cols["cost_estimate_batch"][np.isfinite(cols["cost_estimate_batch"])], budget(path)
    ended = " (diverged)" if (path / "DIVERGED.txt").exists() else " (unfinished)" if frames < STUDY_FRAMES else ""
    return {"frames": f"{frames}{ended}", "within": within.mean(), "evals": len(within),
            "late_within": within[late].mean() if late.any() else float("nan"), "late_evals": int(late.sum()),
            "late_within_count": int(within[late].sum()),
            "late_return": float(e["ret"][late].mean()) if late.any() else float("nan"),
            "late_cost": float(e["cost"][late].mean()) if late.any() else float("nan"),
            "lam": (f"{lam[0]:.3g} → {lam[-1]:.3g}, rose in {int((np.diff(lam) > 0).sum())} of {len(lam) - 1}"
                    if len(lam) else "-"),
            "estimate": f"{np.nanmax(estimate):.2f} ({h}), {int((estimate > float(h)).sum()) if h != '-' else '-'} of {len(estimate)}",
            "check50": critic_check(path, 50000), "check100": critic_check(path, 100000),
            "updates": int(np.nanmax(cols["updates"])), "wall_h": float(e["wall"][-1]) / 3600,
            "replay_min": sum(float(x) for x in REPLAYED.findall(legs)) / 60, "unrecorded": legs.count(UNRECORDED),
            # machine.txt: the machine that kept the run; legs.txt: the one each part of it ran on
            "machines": ({(path / "machine.txt").read_text().strip()} if (path / "machine.txt").exists() else set())
            | set(LEG.findall(legs)),
            "schedule": schedule(path)}


def comparison(rows: dict, ours: str = "algd") -> list[str]:
    """The design's named comparison (REPORT.md), one line per baseline: (1) the evaluations within the
    limit in the last quarter, pooled over seeds (``k of n``), ALGD against the baseline; (2) the last
    quarter's mean evaluation return, mean ± sample std over seeds; and whether the paper's claim as the
    design reads it held: ALGD's fraction at least the baseline's, and ALGD's mean return not below the
    baseline's by more than the baseline's sample std over seeds. ``rows`` maps an algorithm to its
    ``run_row`` dicts; runs without a last quarter (kept short) are left out and counted. Where both
    sides have two seeds or more, a second line reads (2) with ALGD's own std and with the pooled std
    (the design fixed the baseline's after 4 runs had been read: this shows whether that choice decides)."""
    def pooled(algo):
        late = [r for r in rows[algo] if r["late_evals"]]
        k = sum(r["late_within_count"] for r in late)
        n = sum(r["late_evals"] for r in late)
        rets = [r["late_return"] for r in late]
        std = statistics.stdev(rets) if len(rets) > 1 else float("nan")
        return k, n, (statistics.mean(rets) if rets else float("nan")), std, len(late)

    if ours not in rows:
        return []
    k_a, n_a, m_a, s_a, seeds_a = pooled(ours)
    lines = []
    for base in sorted(b for b in rows if b != ours):
        k_b, n_b, m_b, s_b, seeds_b = pooled(base)
        if not (n_a and n_b):
            lines.append(f"{ours} against {base}: no last quarter yet")
            continue
        fraction_held = k_a / n_a >= k_b / n_b
        return_held = None if s_b != s_b else m_a >= m_b - s_b  # one baseline seed: no std to judge by
        verdict = ("held" if fraction_held and return_held else
                   "did not hold" if not fraction_held or return_held is False else "not judged")
        lines.append(f"{ours} against {base}: (1) within the limit in the last quarter {k_a} of {n_a} evaluations "
                     f"({k_a / n_a:.0%}, {_seeds(seeds_a)}) against {k_b} of {n_b} ({k_b / n_b:.0%}, {_seeds(seeds_b)}): "
                     f"{'at least' if fraction_held else 'below'} the baseline's; (2) last-quarter return "
                     f"{_ms(m_a, s_a)} against {_ms(m_b, s_b)}: "
                     + ("not judged (one baseline seed, no std)" if return_held is None else
                        "within the baseline's std or above" if return_held else "below by more than the baseline's std")
                     + f"; the prediction {verdict}"
                     + (f" (provisional: {min(seeds_a, seeds_b)} of the study's {STUDY_SEEDS} seeds)"
                        if min(seeds_a, seeds_b) < STUDY_SEEDS else ""))
        if s_a == s_a and s_b == s_b:  # the design chose the baseline's std after 4 runs were read: the others
            pooled_std = math.sqrt(((seeds_a - 1) * s_a ** 2 + (seeds_b - 1) * s_b ** 2) / (seeds_a + seeds_b - 2))
            alt = [(f"{ours}'s std ({s_a:.1f})", m_a >= m_b - s_a), (f"the pooled std ({pooled_std:.1f})",
                                                                     m_a >= m_b - pooled_std)]
            lines.append("  (2) read with " + "; with ".join(
                f"{name}: {'within it or above' if ok else 'below by more'}, the prediction "
                f"{'held' if fraction_held and ok else 'did not hold'}" for name, ok in alt))
    return lines


def _seeds(n: int) -> str:
    return f"{n} seed" + ("s" if n != 1 else "")


def _ms(mean: float, std: float) -> str:
    return f"{mean:.1f} ± {std:.1f}" if std == std else f"{mean:.1f} (one seed)"


def main(folder: str = "studies/results/goal_study") -> None:
    cols = ["frames", "evals within limit (all)", "evals within limit (last quarter)", "last-quarter eval return",
            "last-quarter eval cost", "λ: first logged → last, rose in k of n intervals", "largest batch cost estimate at an evaluation (h), evaluations above h",
            "cost critics / Monte-Carlo at 50k", "at 100k", "updates", "wall time (h)", "of which env replays (min)"]
    print("| algorithm | seed | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 2) + "|")
    schedules, rows = [], {}
    for algo_dir in sorted(p for p in Path(folder).glob("*") if (p / "SafetyPointGoal1-v0").is_dir()):
        runs = [(d.name[4:], run_row(d)) for d in sorted((algo_dir / "SafetyPointGoal1-v0").glob("seed*"))
                if (d / "metrics.csv").exists()]
        rows[algo_dir.name] = [r for _, r in runs]
        for seed, r in runs:
            late = (f"{r['late_within']:.0%} of {r['late_evals']} | {r['late_return']:.1f} | {r['late_cost']:.1f}"
                    if r["late_evals"] else "- | - | -")  # no last quarter: a run kept short
            print(f"| {algo_dir.name} | {seed} | {r['frames']} | {r['within']:.0%} of {r['evals']} | {late} | "
                  f"{r['lam']} | {r['estimate']} | {r['check50']} | {r['check100']} | {r['updates']} | "
                  f"{r['wall_h']:.2f} | {r['replay_min']:.1f} |")
        if len(runs) > 1:
            rs = [r for _, r in runs]

            def ms(key, fmt="{:.1f}", rs=rs):
                xs = [r[key] for r in rs if r[key] == r[key]]  # a run short of its last quarter has NaN there
                over = "" if len(xs) == len(rs) else f" ({len(xs)} seeds)"
                return f"{fmt.format(statistics.mean(xs))} ± {fmt.format(statistics.stdev(xs))}{over}" if len(xs) > 1 else "-"

            print(f"| {algo_dir.name} | mean ± sample std ({len(rs)} seeds) | | {ms('within', '{:.0%}')} | "
                  f"{ms('late_within', '{:.0%}')} | {ms('late_return')} | {ms('late_cost')} | | | | | | "
                  f"{ms('wall_h', '{:.2f}')} | |")
        if runs:
            schedules.append(f"{algo_dir.name}: {runs[0][1]['schedule']} (seed {runs[0][0]}'s config)")
    machines = set().union(*(r["machines"] for rs in rows.values() for r in rs))
    unrecorded = sum(r["unrecorded"] for rs in rows.values() for r in rs)
    print("\nthe named comparison (REPORT.md's design: the prediction needs both (1) and (2); the return's std is the "
          "baseline's, over seeds):\n"
          + "\n".join(f"  - {line[2:]}" if line.startswith("  ") else f"- {line}" for line in comparison(rows)))
    print("\nupdate schedules:\n" + "\n".join(f"- {line}" for line in schedules))
    print("\nmachine" + ("s" if len(machines) > 1 else "") + ": " + "; ".join(sorted(machines))
          + (f" ({unrecorded} parts of runs ran before legs.txt recorded the machine)" if unrecorded else ""))


if __name__ == "__main__":
    main(*sys.argv[1:2])
