"""studies/goal_study.sh's bookkeeping, with stand-ins for algd-compare and the Python tools (no training):
which runs it visits, what each run's legs.txt records, and that a kept run is never touched again; and
studies/goal_table.py's named comparison, read from copies of kept runs."""
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# PY stand-in: `keep_runs.py --machine` names a machine, `keep_runs.py RUN KEPT` copies the run,
# `critic_check.py RUN` prints a line. algd-compare stand-in (next to it, as the venv's bin): logs its
# arguments, writes a checkpoint, prints the lines a real part prints.
FAKE_PY = """#!/bin/bash
case "$1 $2" in
  "studies/keep_runs.py --machine") echo "test machine" ;;
  studies/keep_runs.py*) mkdir -p "$3" && cp -r "$2"/. "$3"/ ;;
  studies/critic_check.py*) echo "critic check of $2" ;;
esac
"""
FAKE_COMPARE = """#!/bin/bash
echo "$*" >> "$CALLS"
algo=$2; seed=$6; frames=${@: -1}; run="$8/$algo/SafetyPointGoal1-v0/seed$seed"
mkdir -p "$run" && touch "$run/checkpoint.pt"
echo "[compare] $algo on SafetyPointGoal1-v0, seed $seed -> $run"
echo "$algo on SafetyPointGoal1-v0, new run in $run: 1 updates per frame"
[ -n "$FAKE_STOP" ] && { echo "stopped: SIGTERM at $frames" >&2; exit 143; }
echo "done: $algo, $frames"
"""


def study_env(tmp_path: Path) -> dict:
    """The stand-ins in tmp_path/bin; the study's folder tmp_path/out, its kept runs tmp_path/kept."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("python", FAKE_PY), ("algd-compare", FAKE_COMPARE)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    return {**os.environ, "PY": str(bin_dir / "python"), "OUT": str(tmp_path / "out"), "KEEP": str(tmp_path / "kept"),
            "CALLS": str(tmp_path / "calls.txt"), "LEGS": "200 400", "WORKERS": "1", "SET": "logger.eval_iter=200"}


@pytest.mark.skipif(shutil.which("flock") is None, reason="goal_study.sh takes its locks with flock(1)")
def test_goal_study_runs_each_unkept_run_in_two_legs_and_leaves_kept_runs_alone(tmp_path):
    env = study_env(tmp_path)
    keep, calls = tmp_path / "kept", tmp_path / "calls.txt"
    kept_legs = keep / "algd" / "SafetyPointGoal1-v0" / "seed0" / "legs.txt"
    kept_legs.parent.mkdir(parents=True)
    kept_legs.write_text("the kept record\n")

    def study() -> None:
        subprocess.run(["bash", str(ROOT / "studies" / "goal_study.sh")], env=env, check=True, timeout=120,
                       capture_output=True)

    study()
    visited = calls.read_text().splitlines()
    assert len(visited) == 16 and not any("--algos algd" in c and "--seeds 0 " in c for c in visited)
    assert kept_legs.read_text() == "the kept record\n"
    legs = (keep / "cal" / "SafetyPointGoal1-v0" / "seed2" / "legs.txt").read_text().splitlines()
    assert [line.split(": ", 1)[1] for line in legs if " UTC: " in line] == [
        "to 200 frames on test machine", "to 400 frames on test machine"]
    assert [line for line in legs if line.startswith("done:")] == ["done: cal, collector.total_frames=200",
                                                                   "done: cal, collector.total_frames=400"]
    assert (keep / "cal" / "SafetyPointGoal1-v0" / "seed2" / "critic_check_400.txt").exists()
    records = {p: p.read_text() for p in keep.rglob("*") if p.is_file()}

    study()  # a second pass: every run is kept, so nothing runs and no kept file changes
    assert len(calls.read_text().splitlines()) == 16
    assert {p: p.read_text() for p in keep.rglob("*") if p.is_file()} == records


@pytest.mark.skipif(shutil.which("flock") is None, reason="goal_study.sh takes its locks with flock(1)")
def test_goal_study_records_a_stopped_part_and_stops(tmp_path):
    """A signal stops the study; the part's stop line (algd-compare prints it on stderr) is in legs.txt."""
    env = {**study_env(tmp_path), "FAKE_STOP": "1"}
    subprocess.run(["bash", str(ROOT / "studies" / "goal_study.sh")], env=env, timeout=120, capture_output=True)
    assert len((tmp_path / "calls.txt").read_text().splitlines()) == 1
    legs = (tmp_path / "out" / "algd" / "SafetyPointGoal1-v0" / "seed0" / "legs.txt").read_text().splitlines()
    assert legs[1:] == ["algd on SafetyPointGoal1-v0, new run in " + str(tmp_path / "out" / "algd" / "SafetyPointGoal1-v0"
                                                                          / "seed0") + ": 1 updates per frame",
                        "stopped: SIGTERM at collector.total_frames=200"]
    assert not (tmp_path / "kept").joinpath("algd").exists()


@pytest.mark.skipif(shutil.which("flock") is None, reason="goal_study.sh takes its locks with flock(1)")
def test_goal_study_resumes_a_run_at_its_first_unchecked_leg(tmp_path):
    """A run whose first leg finished and was checked (a session ended during its second) goes on with
    the second leg only: no call for the done leg, and no part in legs.txt that ran nothing."""
    env = study_env(tmp_path)
    run = tmp_path / "out" / "algd" / "SafetyPointGoal1-v0" / "seed0"
    run.mkdir(parents=True)
    (run / "critic_check_200.txt").write_text("the first leg's check\n")
    (run / "legs.txt").write_text("the first leg\n")
    subprocess.run(["bash", str(ROOT / "studies" / "goal_study.sh")], env=env, check=True, timeout=120,
                   capture_output=True)
    first = [c for c in (tmp_path / "calls.txt").read_text().splitlines() if "--algos algd" in c and "--seeds 0 " in c]
    assert len(first) == 1 and first[0].endswith("collector.total_frames=400")
    legs = (tmp_path / "kept" / "algd" / "SafetyPointGoal1-v0" / "seed0" / "legs.txt").read_text().splitlines()
    assert legs[0] == "the first leg" and [line.split(": ", 1)[1] for line in legs if " UTC: " in line] == [
        "to 400 frames on test machine"]


def _goal_table(folder: Path) -> str:
    done = subprocess.run([sys.executable, "studies/goal_table.py", str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_goal_table_names_the_comparison_from_the_kept_runs(tmp_path):
    """goal_table.py's named comparison pools the last quarter's evaluations over seeds and reads the
    prediction the way REPORT.md's design states it (held, did not hold, not judged with one baseline seed);
    a run without a last quarter is left out of it."""
    kept = ROOT / "studies/results/goal_study"
    for algo, seeds in (("algd", [0]), ("cal", [0]), ("sac_lag", [0, 1])):
        for s in seeds:
            shutil.copytree(kept / algo / "SafetyPointGoal1-v0" / f"seed{s}", tmp_path / algo / "SafetyPointGoal1-v0" / f"seed{s}")
    table = _goal_table(tmp_path)
    # λ's course and the resumes' env replays (legs.txt: 168.7 s + 275.7 s) in algd seed 0's row
    assert "| 0.523 → 2.51e-09, rose in 0 of 19 | 1.20 (2.455), 0 of 20 |" in table and "| 4.10 | 7.4 |" in table
    lines = [x for x in table.splitlines() if " against " in x]
    # the kept seed-0 runs: algd 1 of its 5 last-quarter evaluations within the limit, cal 3 of 5, sac_lag 1 + 0 of 10
    assert lines[0].startswith("- algd against cal: (1) within the limit in the last quarter 1 of 5 evaluations (20%, 1 seed) "
                               "against 3 of 5 (60%, 1 seed): below the baseline's")
    assert lines[0].endswith("not judged (one baseline seed, no std); the prediction did not hold "
                             "(provisional: 1 of the study's 3 seeds)")
    assert "against 1 of 10 (10%, 2 seeds): at least the baseline's" in lines[1]
    assert lines[1].endswith("below by more than the baseline's std; the prediction did not hold "
                             "(provisional: 1 of the study's 3 seeds)")
    # algd seed 1: seed 0 cut at 90k frames (a run kept short, e.g. diverged): evaluations past 75k, but no
    # last quarter; algd seed 0 made to hold the limit with a return of 20 in its last quarter
    algd = tmp_path / "algd/SafetyPointGoal1-v0"
    shutil.copytree(algd / "seed0", algd / "seed1")
    header, *rows = (algd / "seed0/metrics.csv").read_text().splitlines()
    col = header.split(",")
    frames, ret, cost = col.index("frames"), col.index("eval_return"), col.index("eval_cost")
    (algd / "seed1/metrics.csv").write_text("\n".join([header] + [r for r in rows if float(r.split(",")[frames]) <= 90000]) + "\n")

    def held(row: str) -> str:
        cells = row.split(",")
        if float(cells[frames]) > 75000 and cells[ret]:
            cells[ret], cells[cost] = "20.0", "0.0"
        return ",".join(cells)

    (algd / "seed0/metrics.csv").write_text("\n".join([header] + [held(r) for r in rows]) + "\n")
    table = _goal_table(tmp_path)
    assert "| algd | 1 | 90000 (unfinished) | " in table and "| - | - | - |" in table
    lines = [x for x in table.splitlines() if " against " in x]
    assert lines[0].startswith("- algd against cal: (1) within the limit in the last quarter 5 of 5 evaluations "
                               "(100%, 1 seed) against 3 of 5 (60%, 1 seed): at least the baseline's; (2) last-quarter "
                               "return 20.0 (one seed) against 0.9 (one seed): not judged")
    assert lines[0].endswith("the prediction not judged (provisional: 1 of the study's 3 seeds)")
    assert "(2) last-quarter return 20.0 (one seed) against 10.5 ± 0.0: within the baseline's std or above; " \
           "the prediction held (provisional" in lines[1]
    # algd seed 2: seed 0's held rows with a last-quarter return of 0 (seed 0: 20): a mean of 10.0 ± 14.1 is
    # below sac_lag's 10.5 ± 0.0 by more than sac_lag's std, within algd's own and the pooled std (10.0)
    shutil.copytree(algd / "seed0", algd / "seed2")
    (algd / "seed2/metrics.csv").write_text(
        "\n".join([header] + [held(r).replace(",20.0,", ",0.0,") for r in rows]) + "\n")
    lines = [x for x in _goal_table(tmp_path).splitlines() if "(2) " in x]
    assert "(2) last-quarter return 10.0 ± 14.1 against 10.5 ± 0.0: below by more than the baseline's std; " \
           "the prediction did not hold (provisional: 2 of the study's 3 seeds)" in lines[-2]
    assert lines[-1] == ("  - (2) read with algd's std (14.1): within it or above, the prediction held; with the "
                         "pooled std (10.0): within it or above, the prediction held")
    assert not any(x.startswith("  - ") for x in lines[:-1])  # cal has one seed: no std of its own to pool
