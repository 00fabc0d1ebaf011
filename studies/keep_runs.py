"""Keep the text record of a study's finished runs in git, so a long study can span sessions
whose machines do not keep ``comparisons/`` (it is git-ignored, and a fresh checkout starts
without it).

    .venv/bin/python studies/keep_runs.py comparisons/paper_study studies/results/paper_study

For every run under SRC whose ``metrics.csv`` has reached its config's ``collector.total_frames``
(the test ``algd-compare`` itself uses to skip a run), copies ``config*.yaml``, ``metrics.csv``,
``episodes.csv`` and the logger's text files to the same relative folder under DST. Checkpoints
and policies stay out (6 MB per run with the replay buffer). Copying the record back
(``cp -rn DST/. SRC/``, as ``paper_study.sh`` does) makes ``algd-compare`` count those runs as
finished and ``plot``/``compare`` draw and summarise them; ``algd-eval`` and
``studies/critic_check.py`` need the checkpoint and so only work in the session that ran them.
"""
import shutil
import sys
from pathlib import Path

from algd_components.compare import _finished
from algd_components.plot import load_run

KEEP = ("config*.yaml", "metrics.csv", "episodes.csv", "logs/**/*.csv", "logs/**/*.txt")


def main(src: str, dst: str) -> None:
    src_root, dst_root = Path(src), Path(dst)
    for metrics in sorted(src_root.rglob("metrics.csv")):
        run = metrics.parent
        try:
            cfg, _ = load_run(run)
        except ValueError:
            continue
        if not _finished(run, int(cfg["collector.total_frames"])):
            print(f"skipped (not finished): {run}")
            continue
        out = dst_root / run.relative_to(src_root)
        for pattern in KEEP:
            for f in run.glob(pattern):
                (out / f.relative_to(run)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, out / f.relative_to(run))
        print(f"kept: {run} -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: keep_runs.py SRC DST")
    main(*sys.argv[1:])
