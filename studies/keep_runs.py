"""Keep the text record of a study's finished runs in git, so a long study can span sessions
whose machines do not keep ``comparisons/`` (it is git-ignored, and a fresh checkout starts
without it).

    .venv/bin/python studies/keep_runs.py comparisons/paper_study studies/results/paper_study

For every run under SRC whose ``metrics.csv`` has reached its config's ``collector.total_frames``
(the test ``algd-compare`` itself uses to skip a run), copies ``config*.yaml``, ``metrics.csv``,
``episodes.csv`` and ``saturation.csv`` (``studies/saturation.py``, where measured) to the same
relative folder under DST, with a
``machine.txt`` naming the CPU, core count and torch version of the machine that keeps it (fixed-seed
results differ between CPU types). A run that spans sessions may have run parts elsewhere: a study
script that resumes runs across sessions records each part's machine in the run's ``legs.txt``
(``studies/goal_study.sh``, through ``keep_runs.py --machine``), which is kept too. Checkpoints
and policies stay out (6 MB per run with the replay buffer). Copying the record back
(``cp -rn DST/. SRC/``, as ``paper_study.sh`` does) makes ``algd-compare`` count those runs as
finished and ``plot``/``compare`` draw and summarise them; ``algd-eval`` and
``studies/critic_check.py`` need the checkpoint and so only work in the session that ran them.
"""
import os
import platform
import shutil
import sys
from pathlib import Path

import torch

from algd_components.compare import _finished
from algd_components.runs import cpu_description, load_run

KEEP = ("config*.yaml", "metrics.csv", "episodes.csv", "saturation.csv", "critic_check_*.txt", "DIVERGED.txt",
        "legs.txt")  # logs/ repeats metrics.csv's rows


def machine() -> str:
    """The CPU and which of the benchmarks' ``ISA_FLAGS`` it has (two CPUs sold under one name, "AMD
    EPYC", differ in AVX-512 and in speed: studies/paper_study/REPORT.md, part 3), the core count, torch and Python."""
    cpu = cpu_description()
    isa = ", ".join(cpu["cpu_isa"] or []) or "no AVX2"
    return f"{cpu['cpu']} ({isa}), {os.cpu_count()} cores, torch {torch.__version__}, Python {platform.python_version()}\n"


def main(src: str, dst: str, unfinished: bool = False) -> None:
    """``unfinished``: keep runs that stopped short too (a diverged run is a finding; its record is kept
    with the ``DIVERGED.txt`` the study script writes beside it)."""
    src_root, dst_root = Path(src), Path(dst)
    for config in sorted(src_root.rglob("config.yaml")):
        run = config.parent
        try:
            cfg, _ = load_run(run)
        except ValueError:  # no metrics row yet: kept only when asked to keep unfinished runs
            if not unfinished:
                continue
        if not unfinished and not _finished(run, int(cfg["collector.total_frames"])):
            print(f"skipped (not finished): {run}")
            continue
        out = dst_root / run.relative_to(src_root)
        out.mkdir(parents=True, exist_ok=True)
        for pattern in KEEP:
            for f in run.glob(pattern):
                shutil.copy2(f, out / f.name)
        if not (out / "machine.txt").exists():
            (out / "machine.txt").write_text(machine())
        print(f"kept: {run} -> {out}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--machine"]:  # this machine's line, for a study script's record of each part of a run
        sys.exit(print(machine(), end=""))
    args = [a for a in sys.argv[1:] if a != "--unfinished"]
    if len(args) != 2:
        sys.exit("usage: keep_runs.py [--unfinished] SRC DST | keep_runs.py --machine")
    main(*args, unfinished="--unfinished" in sys.argv[1:])
