"""Run algorithms × tasks × seeds with one command; write one figure and a summary table.

    python -m algd_components.compare --algos algd lgd sac_lag sac_auglag cal ppo_lag \\
        --tasks SafetyHalfCheetahVelocity-v1 --seeds 0 1 --out comparisons/cheetah \\
        --set collector.total_frames=30000 logger.eval_iter=3000 algd:algd.mc_samples=4

Every algorithm is found in the registry (``algd_components.algorithms``; your own
registered ones too) and trained by :func:`algd_components.train` with the same shared
overrides (``--set``), so all algorithms see the same envs, budgets, evaluation and metrics.
Runs are written to ``OUT/<algo>/<task>/seed<k>/``; a run whose metrics.csv already reached
the frame budget is not run again, an interrupted one resumes from its checkpoint, and one
killed before its first checkpoint starts over: the same command continues where it stopped.
Results: ``OUT/comparison.png`` (eval return, eval cost and λ against frames, cost limit dashed,
mean ± sample std (ddof 1) over seeds; one row per task) and ``OUT/summary.md`` / ``summary.csv``.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import os
import signal
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
from omegaconf import DictConfig

from . import algorithms
from .algorithms import compose_config
from .config import ConfigError
from .plot import draw_curves, save_figure
from .runs import cost_panel, evaluations, load_run
from .training import train
from .training.interrupt import Interrupted, stop_on_signals
from .training.run_lock import run_lock
from .training.resume import override_keys
from .training.loop import TrainingStopped
from .training.seeds import train_seeds
from .training.process import PARALLEL_JOBS_ENV
from .updates import NonFiniteError

def _finished(run_dir: Path, total_frames: int) -> bool:
    try:
        _, cols = load_run(run_dir)
    except ValueError:
        return False
    return int(cols["frames"][-1]) >= total_frames


class PlannedRun(NamedTuple):
    """One run of a comparison: what it is, the overrides that make its config (the shared
    ``common`` ones and its own), the composed config and its folder."""

    task: str
    algo: str
    seed: int
    overrides: list
    common: list
    cfg: DictConfig
    run_dir: Path

    @property
    def label(self) -> str:
        return f"{self.algo} on {self.task}, seed {self.seed}"

    def finished(self) -> bool:
        return _finished(self.run_dir, self.cfg.collector.total_frames)


def plan_runs(algos, tasks, seeds, out: Path, shared: list[str]) -> list[PlannedRun]:
    """Compose every run's config (a bad override fails here, before anything runs)."""
    plan = []
    for task in tasks:
        for algo in algos:
            own = [o.split(":", 1)[1] for o in shared if o.split(":", 1)[0] == algo]
            common = [o for o in shared if not _algo_prefixed(o)]
            for seed in seeds:
                overrides = [*own, f"env.name={task}", f"env.seed={seed}", f"logger.exp_name={algo}"]
                try:
                    cfg = compose_config(algo, overrides, shared=common)
                except ConfigError as err:
                    raise ConfigError(f"{algo}: {err} (prefix an override with an algorithm name, e.g. "
                                      "'algd:algd.mc_samples=4', to apply it to that algorithm only)") from None
                plan.append(PlannedRun(task, algo, seed, overrides, common, cfg, out / algo / task / f"seed{seed}"))
    return plan


def _train_one(cfg, run_dir: Path, label: str, explicit: tuple[str, ...] = ()) -> None:
    """One run, resumed where it stopped (``resume=auto``): skipped when finished, continued
    from its checkpoint when interrupted, started over when it never wrote one.  ``explicit``: the
    keys the comparison's overrides name, applied on the resume even at their defaults (a run
    extended to ``collector.total_frames=100000``, the default, is extended)."""
    cfg.resume = "auto"
    try:
        train(cfg, run_dir, explicit)
    except NonFiniteError as err:
        raise NonFiniteError(f"{label} ({run_dir}): {err}") from None


def _train_group(runs: list[PlannedRun]) -> None:
    """One run alone, or one (algorithm, task)'s seeds as one stacked-seeds process
    (``--stack-seeds``), each seed resumed where it stopped, into the same folders as separate
    runs would use."""
    explicit = override_keys([*runs[0].common, *runs[0].overrides])
    if len(runs) == 1:
        return _train_one(runs[0].cfg, runs[0].run_dir, runs[0].label, explicit)
    cfg = runs[0].cfg.copy()
    cfg.resume = "auto"
    try:
        with contextlib.ExitStack() as held:  # as algd-train's stacked seeds: each folder locked, a signal saves all
            for r in runs:
                held.enter_context(run_lock(r.run_dir))
            train_seeds(cfg, [r.seed for r in runs], [r.run_dir for r in runs], held.enter_context(stop_on_signals()),
                        explicit)
    except NonFiniteError as err:
        raise NonFiniteError(f"{runs[0].algo} on {runs[0].task}, seeds {[r.seed for r in runs]}: {err}") from None


def _by_algo_task(todo: list[PlannedRun]) -> dict[tuple[str, str], list[PlannedRun]]:
    groups: dict[tuple[str, str], list[PlannedRun]] = {}
    for run in todo:
        groups.setdefault((run.algo, run.task), []).append(run)
    return groups


def _stacked_groups(todo: list[PlannedRun]) -> list[list[PlannedRun]]:
    """The runs grouped by (algorithm, task), each group checked as one stacked-seeds config."""
    groups = _by_algo_task(todo)
    for runs in groups.values():
        cfg = runs[0].cfg.copy()
        cfg.env.num_seeds = len(runs)
        try:
            algorithms.validate(cfg)
        except ConfigError as err:
            raise ConfigError(f"--stack-seeds, {runs[0].algo}: {err}") from None
    return list(groups.values())


def _pool_worker_init(jobs: int) -> None:
    os.environ[PARALLEL_JOBS_ENV] = str(jobs)  # each run takes cores / jobs torch threads (system.num_threads=0)


def run_all(algos, tasks, seeds, out: Path, shared: list[str], jobs: int = 1, launcher: str | None = None,
            launcher_set: list[str] = (), stack_seeds: bool = False, stop=None) -> dict:
    """Compose every run's config first, then run the ones not finished: one after the other,
    ``jobs`` at a time in worker processes, or handed to a Hydra launcher (one ``-m`` sweep per
    algorithm).  ``stack_seeds``: each (algorithm, task)'s unfinished seeds train as one
    stacked-seeds process (:func:`~algd_components.training.seeds.train_seeds`), into the same
    folders.  Every run continues where it stopped, so the same command after a crash
    finishes the comparison.  ``stop`` (a :class:`~.training.interrupt.StopRequest`): a signal
    between two runs starts no other; one during a run stops that run at an update boundary, after
    saving (its own handler), and with ``jobs`` > 1 it is passed on to every worker."""
    plan = plan_runs(algos, tasks, seeds, out, shared)
    todo = [run for run in plan if not run.finished()]
    # what runs as one process: each (algorithm, task)'s seeds when stacked, else each run alone
    units = _stacked_groups(todo) if stack_seeds else [[run] for run in todo]
    out.mkdir(parents=True, exist_ok=True)  # only once every config is known to be good
    for run in todo:
        print(f"[compare] {run.label} -> {run.run_dir}", flush=True)
    if launcher and not stack_seeds:
        _launch(todo, out, launcher, launcher_set)
    elif jobs > 1 and len(units) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # fork: the workers see every algorithm registered in this process, user ones included
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_pool_worker_init, initargs=(jobs,)) as pool:
            futures = [pool.submit(_train_group, runs) for runs in units]
            try:
                _wait_passing_on_signals(pool, futures, stop)
            except BaseException:  # a worker stopped (Ctrl-C reaches every worker) or failed: start no other run
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    else:
        for runs in units:
            if stop is not None and stop.requested:
                raise Interrupted(stop.signum, f"{signal.Signals(stop.signum).name} between two runs: no other run "
                                  "started")
            _train_group(runs)
    missing = [str(run.run_dir) for run in plan if not run.finished()]
    if missing:
        raise RuntimeError(f"{len(missing)} run(s) did not finish (see their folders and the launcher's logs): {missing}")
    runs: dict[tuple[str, str], list[Path]] = {}
    for run in plan:
        runs.setdefault((run.task, run.algo), []).append(run.run_dir)
    return runs


def _wait_passing_on_signals(pool, futures, stop) -> None:
    """Wait for the workers' runs, raising the first worker's error.  A SIGTERM the main process
    receives (``kill PID``) is passed on to each worker once, so each saves and stops; SIGINT is not
    (Ctrl-C reaches the whole process group, and a second SIGINT would stop a worker at once,
    unsaved).  Uses the pool's private ``_processes`` (the worker PIDs): the executor has no public
    way to signal its workers."""
    from concurrent.futures import FIRST_EXCEPTION, wait

    pending, passed = set(futures), False
    while pending:
        done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
        for f in done:
            f.result()
        if stop is not None and stop.requested and not passed:  # no new run starts either way
            passed = True
            for f in pending:
                f.cancel()  # not started yet: never starts
            for proc in list(getattr(pool, "_processes", {}).values()) if stop.signum == signal.SIGTERM else ():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, stop.signum)


def _launch(todo, out: Path, launcher: str, launcher_set) -> None:
    """Hand the runs to a Hydra launcher plugin (joblib, submitit_local, submitit_slurm, ray, ...):
    per algorithm, one ``algd-train -m`` sweep over its (task, seed) pairs, each job into
    ``OUT/<algo>/<task>/seed<k>`` with ``resume=auto``; the launcher waits for its jobs."""
    import subprocess

    for (algo, task), runs in _by_algo_task(todo).items():  # one sweep per (algorithm, task): its seeds in parallel
        seeds = ",".join(str(run.seed) for run in runs)
        fixed = [o for o in runs[0].overrides if not o.startswith(("env.seed=", "env.name="))]
        cmd = [sys.executable, "-m", "algd_components.cli", "-m", f"algo={algo}", *runs[0].common, *fixed,
               f"env.name={task}", f"env.seed={seeds}", "resume=auto", f"hydra/launcher={launcher}",
               *launcher_set, f"hydra.sweep.dir={out / algo / task}", "hydra.sweep.subdir=seed${env.seed}"]
        proc = subprocess.run(cmd)
        if proc.returncode != 0:
            raise RuntimeError(f"the {launcher} sweep of {algo} on {task} failed (exit status {proc.returncode})")


def _algo_prefixed(override: str) -> bool:
    """``ALGO:key=value`` (an override for one algorithm) rather than a shared ``key=value``."""
    head = override.split("=", 1)[0]
    return ":" in head and head.split(":", 1)[0] in algorithms.names()


def _sample_std(values) -> float:
    """The sample standard deviation (ddof 1) over seeds; 0 for one seed."""
    values = np.asarray(values, dtype=float)
    if values.size > 1:
        return float(np.std(values, ddof=1))
    return 0.0 if np.isfinite(values).all() else float("nan")


def _mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.2f} ± {_sample_std(values):.2f}"


def summarize(runs: dict, out: Path) -> list[dict]:
    """One row per (task, algorithm): the last evaluation's return and cost, the fraction of all
    evaluations within the cost limit, λ at the end and its largest value (each run's, then mean ± std
    over seeds: λ's course is what separates ALGD from LGD in the paper's Fig. 2; NaN for an algorithm
    without λ), and the wall time at the last evaluation. Runs are read by ``plot.evaluations``."""
    rows = []
    for (task, algo), dirs in runs.items():
        evals = [evaluations(d) for d in dirs]
        limit = evals[0]["limit"]
        final_ret = [e["ret"][-1] for e in evals]
        within = [np.mean(e["cost"] <= limit) for e in evals] if limit is not None else [np.nan]
        rows.append({
            "task": task, "algorithm": algo, "seeds": len(dirs),
            "final_eval_return": f"{np.mean(final_ret):.1f} ± {_sample_std(final_ret):.1f}",
            "final_eval_cost": _mean_std([e["cost"][-1] for e in evals]),
            "cost_measure": evals[0]["cost_col"], "cost_limit": limit,
            "evals_within_limit": f"{np.mean(within):.0%}",
            "final_lambda": _mean_std([e["lam"][-1] if e["lam"].size else np.nan for e in evals]),
            "largest_lambda": _mean_std([e["lam"].max() if e["lam"].size else np.nan for e in evals]),
            "wall_time_s": f"{np.mean([e['wall'][-1] for e in evals]):.0f}",
        })
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    header = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]) + "\n"
    note = ("\n`a ± b`: mean ± sample standard deviation (ddof 1) over the seeds. `cost_limit`: the limit the "
            "evaluations were judged against (env.cost_limit, else the task's, scaled to the episode length the runs "
            "used).\n")
    (out / "summary.md").write_text(header + "".join("| " + " | ".join(str(v) for v in r.values()) + " |\n" for r in rows)
                                    + note)
    return rows


def figure(runs: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({t for t, _ in runs})
    fig, axes = plt.subplots(len(tasks), 3, figsize=(16, 3.6 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        limit_drawn = False
        for index, ((t, algo), dirs) in enumerate((k, v) for k, v in runs.items() if k[0] == task):
            loaded = [load_run(d) for d in dirs]
            cost_col, limit = cost_panel(loaded[0][0])
            draw_curves(row, loaded, cost_col, algo, index)
            if limit is not None and not limit_drawn:
                row[1].axhline(limit, ls="--", color="k", lw=1, label=f"cost limit {limit:g}")
                limit_drawn = True
            row[1].set_title(f"{task}: {cost_col.replace('_', ' ')}")
        row[0].set_title(f"{task}: eval return")
        row[2].set_title(f"{task}: λ")
        for ax in row:
            ax.set_xlabel("frames")
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=8)
        row[1].legend(fontsize=8)
    return save_figure(fig, out / "comparison.png", dpi=110)


def main(argv=None) -> int:
    width = max(len(n) for n in algorithms.names())
    listing = "\n".join(f"  {n:<{width}}  {algorithms.get(n).description}" for n in algorithms.names())
    p = argparse.ArgumentParser(
        prog="algd-compare", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="algd-compare: " + __doc__.split("\n")[0][0].lower() + __doc__.split("\n")[0][1:],
        epilog=f"algorithms (--algos NAME ...; each one's config: algd-train algo=NAME --help):\n{listing}\n\n"
               "docs: docs/recipes.md (\"Comparing algorithms\"), docs/components.md, API reference (make docs)")
    p.add_argument("--algos", nargs="+", default=["algd", "lgd", "sac_lag", "sac_auglag"])
    p.add_argument("--tasks", nargs="+", default=["SafetyHalfCheetahVelocity-v1"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--out", default="comparisons/latest")
    p.add_argument("--set", nargs="*", default=[], metavar="[ALGO:]KEY=VALUE",
                   help="overrides for every run; 'algd:algd.mc_samples=4' applies to one algorithm only")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time on this machine (each takes cores / jobs threads)")
    p.add_argument("--launcher", default=None, metavar="NAME",
                   help="hand the runs to a Hydra launcher plugin instead: joblib, submitit_local, submitit_slurm, ray, ...")
    p.add_argument("--launcher-set", nargs="*", default=[], metavar="hydra.launcher.KEY=VALUE",
                   help="the launcher's settings, e.g. hydra.launcher.partition=gpu hydra.launcher.timeout_min=600")
    p.add_argument("--stack-seeds", action="store_true",
                   help="train each algorithm's seeds on a task as one vectorised process (env.num_seeds; off-policy algorithms)")
    args = p.parse_args(argv)
    if args.stack_seeds and args.launcher:
        print("error: --stack-seeds is not allowed with --launcher: a launcher runs one seed per job", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print(f"error: --jobs={args.jobs} is not allowed: an integer >= 1", file=sys.stderr)
        return 2
    if args.launcher and args.jobs > 1:
        print("error: --jobs is not allowed with --launcher: the launcher decides how many runs go at once "
              "(e.g. --launcher-set hydra.launcher.n_jobs=2)", file=sys.stderr)
        return 2
    try:
        for a in args.algos:
            algorithms.get(a)
    except ConfigError as err:
        print(f"error: --algos: {err}", file=sys.stderr)
        return 2
    from .envs import TASKS

    bad = [t for t in args.tasks if t not in TASKS]
    if bad:
        print(f"error: unknown task(s) {bad}; list the valid ones with: python -m algd_components.envs --list", file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        # SIGINT / SIGTERM: each run in flight saves at an update boundary (its train handles the signal; in
        # worker processes too, as Ctrl-C reaches the whole process group); no other run starts
        with stop_on_signals() as stop:
            runs = run_all(args.algos, args.tasks, args.seeds, out, list(args.set), args.jobs, args.launcher,
                           list(args.launcher_set), args.stack_seeds, stop)
    except TrainingStopped as err:
        print(f"stopped: {err} (the same algd-compare command continues every run where it stopped)", file=sys.stderr)
        return err.exit_code
    except Interrupted as err:
        print(f"stopped: {err}; every run keeps its last checkpoint (the same command continues)", file=sys.stderr)
        return 128 + err.signum
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except NonFiniteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    summarize(runs, out)
    print(figure(runs, out))
    print((out / "summary.md").read_text())
    return 0


def cli() -> None:
    """The ``algd-compare`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
