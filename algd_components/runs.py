"""One owner of run records: reading a run folder's ``metrics.csv`` and ``config.yaml``, the
evaluations the tables and figures use, the cost measure and limit a run is judged by, and a small
command that prints columns by name (what docs/ and studies/ cite, instead of columns by number).

    python -m algd_components.runs RUN [RUN ...] --columns frames,eval_return,eval_cost,lambda
    python -m algd_components.runs RUN --columns lambda --last          # the last row only
    python -m algd_components.runs RUN --columns eval_cost --at 12000   # the row at 12000 frames

Used by ``plot``, ``compare``, ``evaluate`` (the limit, :func:`~algd_components.envs.episode_cost_limit`)
and the study scripts in ``studies/``.
"""
from __future__ import annotations

import argparse
import csv
import platform
import sys
from pathlib import Path

import numpy as np
import yaml

from .config import flatten
from .envs import TASKS, episode_cost_limit

__all__ = ["run_config_path", "load_run", "cost_panel", "evaluations", "column_table", "cpu_description", "main"]

ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def run_config_path(run_dir: str | Path) -> Path:
    """The config the run last ran with: ``config_resumed.yaml`` where a resume wrote one (a resume
    may extend ``collector.total_frames``), else ``config.yaml``."""
    run_dir = Path(run_dir)
    resumed = run_dir / "config_resumed.yaml"
    return resumed if resumed.is_file() else run_dir / "config.yaml"


def load_run(run_dir: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """A run's config (flattened ``a.b.c`` keys) and its ``metrics.csv`` columns by name (NaN
    where a row has no value); ``ValueError`` for a folder that is not a run or has no row yet.
    The config is the one the run last ran with (:func:`run_config_path`)."""
    run_dir = Path(run_dir)
    metrics, config = run_dir / "metrics.csv", run_config_path(run_dir)
    if not metrics.is_file() or not config.is_file():
        raise ValueError(f"{run_dir}: not a run directory (needs metrics.csv and config.yaml)")
    with open(metrics, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{metrics}: no evaluation rows yet")
    cols = {k: np.array([float(r[k]) if r[k] not in ("", None) else np.nan for r in rows]) for k in rows[0]}
    with open(config) as f:
        cfg = flatten(yaml.safe_load(f))
    return cfg, cols


def cost_panel(cfg: dict) -> tuple[str, float | None]:
    """Which cost column to plot and its budget."""
    task = TASKS.get(cfg.get("env.name"))
    limit = cfg.get("env.cost_limit")
    if task is None:
        return "eval_cost", limit
    limit = episode_cost_limit(task, cfg.get("env.max_episode_steps"), limit)
    return ("eval_discounted_cost" if task.limit_kind == "discounted" else "eval_cost"), limit


def evaluations(run_dir: str | Path) -> dict:
    """A run's evaluations as the study tables read them (raises ``ValueError`` before the first):
    ``frames``, ``ret``, ``cost`` (the task's cost measure, :func:`cost_panel`), ``train_cost`` (the
    mean cost of the last training episodes, ``NaN`` before the first) and ``wall`` at each
    evaluation; ``lam``, λ where logged (empty for an algorithm without one); ``cost_col``, the
    cost measure's column name; ``limit``, the cost limit. Used by ``compare.summarize`` and the
    study tables in ``studies/``, so that they all read a run one way."""
    cfg, cols = load_run(run_dir)
    cost_col, limit = cost_panel(cfg)
    at = np.isfinite(cols["eval_return"])
    return {"frames": cols["frames"][at], "ret": cols["eval_return"][at], "cost": cols[cost_col][at],
            "train_cost": cols["train_episode_cost"][at], "wall": cols["wall_time_s"][at],
            "lam": cols["lambda"][np.isfinite(cols["lambda"])], "cost_col": cost_col, "limit": limit}


def column_table(run_dirs, columns: list[str], last: bool = False, at: int | None = None) -> list[list[str]]:
    """Rows ``[run, *columns]`` of each run's ``metrics.csv`` (every row, the last one, or the one at
    ``at`` frames), the columns looked up by name; an unknown name raises ``ValueError`` naming the
    columns the run has."""
    out = []
    for run in run_dirs:
        path = Path(run) / "metrics.csv"
        if not path.is_file():
            raise ValueError(f"{run}: not a run directory (no metrics.csv)")
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            raise ValueError(f"{path}: no evaluation rows yet")
        missing = [c for c in columns if c not in rows[0]]
        if missing:
            raise ValueError(f"{path}: no column {', '.join(missing)}; it has {', '.join(rows[0])}")
        if at is not None:
            rows = [r for r in rows if int(float(r["frames"])) == at]
            if not rows:
                raise ValueError(f"{path}: no row at {at} frames")
        elif last:
            rows = rows[-1:]
        out += [[str(run), *(r[c] for c in columns)] for r in rows]
    return out


def cpu_description() -> dict:
    """The CPU model and which of :data:`ISA_FLAGS` it has: the project's machines are not all
    one type (Intel Xeons with AVX-512/AMX, AMD EPYCs with AVX2), and the matmul kernels, so
    every rate and fraction, differ between them."""
    model, flags = platform.processor() or platform.machine(), None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break  # the first processor's block says it all
    except OSError:
        pass
    return {"cpu": model, "cpu_isa": None if flags is None else [f for f in ISA_FLAGS if f in flags]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m algd_components.runs",
                                description="Print columns of runs' metrics.csv by name.")
    p.add_argument("runs", nargs="+", help="run directories")
    p.add_argument("--columns", required=True, help="comma-separated column names, e.g. frames,eval_cost,lambda")
    p.add_argument("--last", action="store_true", help="only each run's last row")
    p.add_argument("--at", type=int, default=None, metavar="FRAMES", help="only each run's row at FRAMES frames")
    args = p.parse_args(argv)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    try:
        table = column_table(args.runs, columns, args.last, args.at)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\t".join(["run", *columns]))
    for row in table:
        print("\t".join(row))
    return 0


if __name__ == "__main__":
    from algd_components.console import exit_with

    exit_with(main)
