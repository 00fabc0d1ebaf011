"""One run per folder, and Ctrl-C / kill keep the work (issue 28): an OS lock on the run folder,
and SIGINT / SIGTERM stop at an update boundary with a checkpoint, one line and exit 128 + signal."""
import csv
import signal
import subprocess
import sys
import time

import pytest
import torch

from algd_components.training.metrics import TIME_COLUMNS
from helpers import FAST, FAST_SAC

TRAIN = [sys.executable, "-c", "from algd_components.cli import train_main; train_main()"]
LONG = [*FAST, "env.name=SafetyHopperVelocity-v1", "collector.total_frames=600", "checkpoint.interval=600",
        "logger.eval_iter=150"]


def rows(run):
    path = run / "metrics.csv"
    return list(csv.DictReader(open(path))) if path.exists() else []


def wait_for_rows(proc, run, n=1, timeout=120):
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        if len(rows(run)) >= n:
            return
        time.sleep(0.1)
    pytest.fail(f"no metrics row in time (rc {proc.poll()}): {proc.stderr.read() if proc.poll() is not None else ''}")


def test_two_runs_into_one_folder_exactly_one_runs(tmp_path):
    run = tmp_path / "run"
    args = [*TRAIN, *FAST, "env.name=SafetyHopperVelocity-v1", f"hydra.run.dir={run}"]
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    second = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    outs = [(p.wait(timeout=300), p.stderr.read()) for p in (first, second)]
    assert sorted(rc for rc, _ in outs) == [0, 2], outs
    err = [e for rc, e in outs if rc == 2][0].strip().splitlines()
    assert len(err) == 1 and "is in use by another run (process" in err[0], err
    frames = [r["frames"] for r in rows(run)]
    assert frames == sorted(set(frames), key=int) and frames[-1] == "300"


def test_a_killed_runs_lock_never_blocks_its_resume(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([*TRAIN, *LONG, f"hydra.run.dir={run}", "checkpoint.interval=150"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_rows(proc, run)
    while not (run / "checkpoint.pt").exists() and proc.poll() is None:  # written right after the row
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (run / ".lock").exists()  # the file stays; the kernel released the lock
    done = subprocess.run([*TRAIN, f"resume={run}", "collector.total_frames=600"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert rows(run)[-1]["frames"] == "600"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_at_an_update_boundary_and_resume_owes_nothing(tmp_path, sig):
    run, whole = tmp_path / "run", tmp_path / "whole"
    proc = subprocess.Popen([*TRAIN, *LONG, f"hydra.run.dir={run}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    wait_for_rows(proc, run)
    t0 = time.time()
    proc.send_signal(sig)
    rc = proc.wait(timeout=30)
    err = proc.stderr.read().strip().splitlines()
    assert rc == 128 + sig and time.time() - t0 < 30, (rc, err)
    assert len(err) == 1 and err[0].startswith("stopped: ") and f"resume={run}" in err[0], err
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    policy = torch.load(run / "policy.pt", weights_only=True)
    written = rows(run)
    assert policy["frames"] == ckpt["state"]["frames"] >= int(written[-1]["frames"])  # no row past the checkpoint
    if sig == signal.SIGTERM:  # the same path; the resume is checked once, after SIGINT
        return
    resumed = subprocess.run([*TRAIN, f"resume={run}"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    subprocess.run([*TRAIN, *LONG, f"hydra.run.dir={whole}"], check=True, capture_output=True, timeout=300)
    a, b = rows(run), rows(whole)
    assert [r["frames"] for r in a] == [r["frames"] for r in b]
    # the updates a run makes do not depend on where it was stopped: the batch's owed updates ran on resume
    assert [r["updates"] for r in a] == [r["updates"] for r in b]
    same = lambda r: {k: v for k, v in r.items() if k not in TIME_COLUMNS}  # noqa: E731
    # every row is the uninterrupted run's: the owed updates, the RNG and the env (its actions replayed) continue
    assert "continues where the run stopped" in resumed.stdout
    assert [same(r) for r in a] == [same(r) for r in b]
    assert (run / "episodes.csv").read_text() == (whole / "episodes.csv").read_text()


def test_a_signal_during_the_env_replay_stops_at_once_with_the_checkpoint_unchanged(safety_gym_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(safety_gym_run[0], run)  # 300 PointGoal1 frames: a replay of about a second
    before = (run / "checkpoint.pt").read_bytes(), (run / "policy.pt").read_bytes()
    proc = subprocess.Popen([*TRAIN, f"resume={run}", "collector.total_frames=600"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("resume: replaying the run's 300 env steps"):
            proc.send_signal(signal.SIGINT)
            break
    rc = proc.wait(timeout=30)
    out, err = proc.stdout.read(), proc.stderr.read().strip().splitlines()
    assert rc == 130 and len(err) == 1 and "SIGINT during the env replay" in err[0], (rc, err)
    assert f"resume={run}" in err[0] and "continues where" not in out
    assert ((run / "checkpoint.pt").read_bytes(), (run / "policy.pt").read_bytes()) == before


def test_a_second_signal_stops_at_once_and_leaves_files_whole(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([*TRAIN, *LONG, f"hydra.run.dir={run}", "checkpoint.interval=150"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_rows(proc, run, n=2)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=30)
    err = proc.stderr.read().strip().splitlines()
    assert rc == 130 and len(err) == 1 and err[0].startswith("stopped: "), (rc, err)
    torch.load(run / "checkpoint.pt", weights_only=True)  # whole
    assert not list(run.glob(".*.tmp"))


SAC_600 = [*FAST_SAC, "collector.total_frames=600", "checkpoint.interval=600", "logger.eval_iter=150"]
COMPARE = [sys.executable, "-c", "import sys; from algd_components.compare import main; sys.exit(main())"]


def test_compare_ctrl_c_saves_the_run_in_flight_starts_no_other_and_the_same_command_finishes(tmp_path):
    out = tmp_path / "cmp"
    cmd = [*COMPARE, "--algos", "sac_lag", "--tasks", "SafetyHopperVelocity-v1", "--seeds", "0", "1", "--out", str(out),
           "--set", *SAC_600]
    first = out / "sac_lag" / "SafetyHopperVelocity-v1" / "seed0"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_rows(proc, first)
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=60)
    err = proc.stderr.read().strip().splitlines()
    assert rc == 130 and len(err) == 1 and err[0].startswith("stopped: SIGINT"), (rc, err)
    assert (first / "checkpoint.pt").exists() and not (first.parent / "seed1").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for seed in (first, first.parent / "seed1"):
        frames = [r["frames"] for r in rows(seed)]
        assert frames == ["150", "300", "450", "600"], (seed, frames)


def test_stacked_seeds_stop_together_saved_and_resume_finishes(tmp_path):
    run = tmp_path / "run"
    cmd = [*TRAIN, "algo=sac_lag", *SAC_600, "env.name=SafetyHopperVelocity-v1", "env.num_seeds=2",
           f"hydra.run.dir={run}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_rows(proc, run / "seed0")
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=60)
    err = proc.stderr.read().strip().splitlines()
    assert rc == 130 and len(err) == 1 and "seeds [0, 1] stopped at" in err[0] and "resume=auto" in err[0], (rc, err)
    states = [torch.load(run / f"seed{s}" / "checkpoint.pt", weights_only=True)["state"] for s in (0, 1)]
    assert states[0]["frames"] == states[1]["frames"] >= 150 and states[0]["updates"] == states[1]["updates"]
    done = subprocess.run([*cmd, "resume=auto"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for s in (0, 1):
        assert [r["frames"] for r in rows(run / f"seed{s}")] == ["150", "300", "450", "600"]
