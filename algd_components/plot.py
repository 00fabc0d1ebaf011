"""Plot eval return, eval cost (budget dashed) and λ against frames, mean ± sample std (ddof 1) over runs.

    python -m algd_components.plot outputs/algd/run_a outputs/algd/run_b -o curves.png

Runs whose configs differ only in ``env.seed`` form one curve; each curve is labelled by
the config values that differ between the groups.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from .runs import cost_panel, evaluations, load_run  # noqa: F401  evaluations: re-exported for plot's users

# keys that do not make runs different experiments: the seed, bookkeeping (a resumed run records resume=its
# checkpoint and overwrite=false where a fresh compare run has overwrite=true), and how the machine ran them
# (math threads, allocator; a stacked seed's folder records env.num_seeds=1, runs older than the key lack it)
IGNORED_KEYS = ("env.seed", "env.num_seeds", "resume", "overwrite", "progress_bar", "progress_every_s", "hydra",
                "collector.total_frames", "checkpoint", "logger.backend", "system.num_threads",
                "system.retain_freed_memory")


def group_runs(run_dirs):
    runs = [load_run(d) for d in run_dirs]
    keys = lambda c: {k: v for k, v in c.items() if not k.startswith(IGNORED_KEYS)}  # noqa: E731
    groups: dict[str, list] = defaultdict(list)
    configs = [keys(c) for c, _ in runs]
    varying = sorted({k for c in configs for k in c if any(c.get(k) != o.get(k) for o in configs)})
    for (cfg, cols), kc in zip(runs, configs):
        keys = varying
        if "algo" in varying:  # algorithms differ in dozens of keys: a run is named by its algorithm and the
            # keys that differ between the runs of that algorithm
            same_algo = [o for o in configs if o.get("algo") == kc.get("algo")]
            keys = ["algo", *(k for k in varying if k != "algo" and any(kc.get(k) != o.get(k) for o in same_algo))]
        label = ", ".join(f"{k.split('.')[-1]}={kc.get(k)}" for k in keys) or str(cfg.get("env.name"))
        groups[label].append((cfg, cols))
    return groups


LINESTYLES = ("-", "--", "-.", ":")


def draw_curves(axes, runs, cost_col: str, label: str, index: int = 0) -> None:
    """One curve per panel — eval return, ``cost_col``, λ — for ``runs`` (``load_run`` pairs): mean ± sample std
    over them, up to the evaluations they all have; a column none of them has (all NaN) is left out.
    ``index``: the curve's number in its figure, which picks its line style, so that curves lying on
    each other (two algorithms' λ at 0) stay visible."""
    n = min(len(c["frames"]) for _, c in runs)
    frames = runs[0][1]["frames"][:n]
    for ax, col in zip(axes, ("eval_return", cost_col, "lambda")):
        values = np.stack([c[col][:n] for _, c in runs])
        if not np.isfinite(values).any():
            continue
        with warnings.catch_warnings():  # a frame where no run has a value yet stays a gap, not a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            # the band is the sample std over runs (ddof 1; 0 for a single run)
            mean = np.nanmean(values, 0)
            std = np.nanstd(values, 0, ddof=1) if len(values) > 1 else np.zeros_like(mean)
        ax.plot(frames, mean, ls=LINESTYLES[index % len(LINESTYLES)], lw=1.5 + 0.5 * (index % 2),
                label=f"{label} (n={len(runs)}{', band ± sample std' if len(runs) > 1 else ''})")
        ax.fill_between(frames, mean - std, mean + std, alpha=0.2)


def plot(run_dirs, output: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = group_runs(run_dirs)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    limits = set()
    for index, (label, runs) in enumerate(groups.items()):
        cost_col, limit = cost_panel(runs[0][0])
        limits.add((cost_col, limit))
        draw_curves(axes, runs, cost_col, label, index)
    for cost_col, limit in limits:
        if limit is not None:
            axes[1].axhline(limit, ls="--", color="k", lw=1, label=f"cost limit {limit:g}")
    titles = ("eval return", " / ".join(sorted({c for c, _ in limits})).replace("_", " "), "λ")
    for ax, title in zip(axes, titles):
        ax.set_title(title)
        ax.set_xlabel("frames")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    axes[0].legend(fontsize=8)
    return save_figure(fig, output, dpi=120)


def save_figure(fig, output, dpi: int = 120) -> Path:
    """Lay out, write and close a matplotlib figure (plot, compare and landscape)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    output = Path(output)
    fig.savefig(output, dpi=dpi)
    plt.close(fig)
    return output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m algd_components.plot", description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories (each with metrics.csv and config.yaml)")
    parser.add_argument("-o", "--output", default="curves.png")
    args = parser.parse_args(argv)
    try:
        print(plot(args.runs, args.output))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
