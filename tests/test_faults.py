"""Nothing lost, nothing silent: the non-finite guard, run folders, resume, kills at random
moments (also inside a checkpoint write), and every config key's bad values."""
import csv
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from omegaconf import OmegaConf

from algd_components.training.checkpoints import read_checkpoint

from algd_components import ConfigError, compose_config, load_policy, train
from algd_components.cli import precheck
from algd_components.evaluate import evaluate_run
from algd_components.updates import NonFiniteError
from helpers import FAST, FAST_SAC, ROOT

TESTS = ROOT / "tests"
HOPPER = "env.name=SafetyHopperVelocity-v1"


def frames(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [int(r["frames"]) for r in csv.DictReader(f)]


# ----------------------------------------------------------------------- non-finite guard
def test_forced_nan_stops_the_run_and_the_last_good_checkpoint_loads_and_evaluates(tmp_path):
    # 2 energy evaluations per update (score target + pathwise term); updates 1-100 end at frame 150
    cfg = compose_config("algd", [*FAST, HOPPER, "lagrangian=custom", "lagrangian._target_=custom_lagrangian.NaNAfter",
                                  "+lagrangian.after=200"])
    with pytest.raises(NonFiniteError) as err:
        train(cfg, tmp_path / "run")
    msg = str(err.value)
    assert "\n" not in msg and "non-finite loss_actor" in msg and "at update 101" in msg and "200 frames" in msg, msg
    assert f"{tmp_path / 'run' / 'checkpoint.pt'} (150 frames)" in msg
    ckpt = read_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["state"]["frames"] == 150 and frames(tmp_path / "run") == [150]
    assert all(torch.isfinite(v).all() for v in ckpt["loss"].values() if v.is_floating_point())
    assert load_policy(tmp_path / "run").info["frames"] == 150
    summary = evaluate_run(tmp_path / "run", episodes=1)["summary"]
    assert summary["frames"] == 150 and summary["return"]["mean"] == summary["return"]["mean"]  # not NaN


def test_cli_divergence_is_one_line_and_exit_3(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    proc = subprocess.run([sys.executable, "-m", "algd_components.cli", "algo=algd", *FAST, HOPPER, "lagrangian=custom",
                           "lagrangian._target_=custom_lagrangian.NaNAfter", "+lagrangian.after=0", "hydra.run.dir=run"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 3, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: non-finite") and "no checkpoint was written by this run" in last
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


# ----------------------------------------------------------------------- run folders, resume
def test_fresh_run_refuses_a_used_folder_overwrite_replaces_it_and_temp_files_go(tmp_path):
    small = [*FAST, HOPPER, "collector.total_frames=150"]
    train(compose_config("algd", small), tmp_path / "run")
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run .checkpoint.pt, metrics.csv.: resume it with resume="):
        train(compose_config("algd", small), tmp_path / "run")
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before and frames(tmp_path / "run") == [150]
    stale = tmp_path / "run" / ".checkpoint.ptab12cd.tmp"
    stale.write_bytes(b"half a checkpoint")
    (tmp_path / "run" / "logs" / "algd" / "scalars" / ".eval_return.csvxyz.tmp").write_text("1,2\n")
    train(compose_config("algd", [*small, "overwrite=true", "collector.total_frames=100", "logger.eval_iter=100",
                                  "collector.init_random_frames=50"]), tmp_path / "run")
    assert frames(tmp_path / "run") == [100]  # the old run's rows are gone, not mixed in
    with open(tmp_path / "run" / "episodes.csv", newline="") as f:
        assert {int(r["frames"]) for r in csv.DictReader(f)} == {100}  # so are its evaluation episodes
    assert not list((tmp_path / "run").glob("**/.*.tmp"))


def test_cli_resume_continues_in_the_run_folder_without_a_new_outputs_folder(tmp_path):
    run = [sys.executable, "-m", "algd_components.cli", "algo=sac_lag", HOPPER, *FAST_SAC]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run([*run, "collector.total_frames=150", "hydra.run.dir=run"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    hydra_cfg = (tmp_path / "run" / ".hydra" / "overrides.yaml").read_text()
    again = subprocess.run([*run, "resume=run", "collector.total_frames=300"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert not (tmp_path / "outputs").exists() and frames(tmp_path / "run") == [150, 300]
    assert (tmp_path / "run" / ".hydra" / "overrides.yaml").read_text() == hydra_cfg  # the original run's record kept
    assert "resume=run" in (tmp_path / "run" / ".hydra_resumed" / "overrides.yaml").read_text()


def test_resume_applies_safe_overrides_and_refuses_the_rest(tmp_path):
    small = [*FAST, HOPPER, "collector.total_frames=150"]
    train(compose_config("algd", small), tmp_path / "run")
    for bad, key in (("optim.lr=0.001", "optim.lr (checkpoint: 0.0003, given: 0.001)"),
                     ("env.name=SafetyHalfCheetahVelocity-v1", "env.name"), ("algd.mc_samples=3", "algd.mc_samples"),
                     ("lagrangian=standard", "lagrangian.name")):
        with pytest.raises(ConfigError, match=key.replace("(", r"\(").replace(")", r"\)")) as err:
            train(compose_config("algd", [*small, f"resume={tmp_path / 'run'}", "collector.total_frames=200", bad]),
                  tmp_path / "x")
        assert "\n" not in str(err.value)
    state = train(compose_config("algd", [*small, f"resume={tmp_path / 'run'}", "collector.total_frames=250",
                                          "logger.eval_iter=50", "logger.eval_episodes=2", "progress_bar=false"]),
                  tmp_path / "x")
    assert state["frames"] == 250 and frames(tmp_path / "run") == [150, 200, 250]  # the new eval_iter applied
    resumed = OmegaConf.load(tmp_path / "run" / "config_resumed.yaml")
    assert resumed.logger.eval_episodes == 2 and resumed.optim.lr == 0.0003 and not (tmp_path / "x").exists()
    # on the command line, a key set to its default value is still checked against the checkpoint
    with pytest.raises(SystemExit) as exit_:
        precheck("algd", [f"resume={tmp_path / 'run'}", "collector.total_frames=300", "env.name=SafetyPointGoal1-v0"])
    assert exit_.value.code == 2


# ----------------------------------------------------------------------- kills at random moments
SMALL = [HOPPER, "collector.total_frames=1000", "collector.init_random_frames=100", "collector.frames_per_batch=50",
         "logger.eval_iter=100", "logger.eval_episodes=1", "checkpoint.interval=100", "env.max_episode_steps=50",
         "optim.batch_size=16", "network.critic_hidden=[16,16]", "network.device=cpu", "progress_bar=false",
         "replay_buffer.size=2000", "algd.mc_samples=2", "algd.ensemble_size=2", "network.actor_hidden=[16,16]"]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _start(cwd, run, *extra):
    fresh_or_resume = [f"resume={run}"] if (cwd / run / "checkpoint.pt").exists() else [f"hydra.run.dir={run}", "overwrite=true"]
    return [*SMALL, *fresh_or_resume, *extra]


def _check_bookkeeping(run_dir, total=1000, every=100):
    want = list(range(every, total + 1, every))
    assert frames(run_dir) == want  # no duplicates, no gaps
    for name in ("eval_return", "lambda"):
        steps = [int(float(line.split(",")[0])) for line in (run_dir / "logs" / "algd" / "scalars" / f"{name}.csv").read_text().split()]
        assert steps == want, (name, steps)
    assert read_checkpoint(run_dir / "checkpoint.pt")["state"]["frames"] == total
    assert torch.load(run_dir / "policy.pt", weights_only=True)["frames"] == total
    assert not [p for p in run_dir.rglob("*.tmp")]


def _rows(run_dir):
    """Complete rows in metrics.csv (0 before it exists), safe to call while the run appends to it."""
    path = run_dir / "metrics.csv"
    return max(path.read_text().count("\n") - 1, 0) if path.exists() else 0


def _kill_after_progress(args, cwd, run_dir, rng, timeout=240.0):
    """Start ``args`` in ``cwd`` and SIGKILL it a random 0-1.5 s after ``run_dir`` adds a metrics row.
    Waiting for progress, not a fixed sleep, keeps the kill inside a running process on machines of any
    speed (a fixed 5-11 s sleep let a fast machine finish the run before the kill: CI, 2026-12-02)."""
    stderr_file = cwd / "stderr.txt"
    with open(stderr_file, "w") as stderr:
        proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr, env=_env())
    start = _rows(run_dir)
    deadline = time.monotonic() + timeout
    while _rows(run_dir) <= start:
        assert proc.poll() is None, f"exited {proc.returncode} before a new row: {stderr_file.read_text()[-2000:]}"
        assert time.monotonic() < deadline, "no new metrics row within the timeout"
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 1.5))  # ~1 s per 100 frames here: anywhere in the next update/eval/checkpoint
    assert proc.poll() is None, f"finished before the kill: {stderr_file.read_text()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL


@pytest.mark.parametrize("seed", [0, 1])
def test_kills_at_random_moments_then_resume_keep_one_consistent_run(tmp_path, seed):
    rng = random.Random(seed)
    run = "run"
    # killed inside a checkpoint write (after the temp file is synced, before the rename)
    proc = subprocess.run([sys.executable, str(TESTS / "fault_driver.py"), str(rng.choice([2, 3])), "algo=algd",
                           *_start(tmp_path, run)], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert list((tmp_path / run).glob(".checkpoint.pt*.tmp"))  # the half-renamed write was left behind ...
    for _ in range(2):  # ... then killed at random moments of a running process
        _kill_after_progress([sys.executable, "-m", "algd_components.cli", "algo=algd", *_start(tmp_path, run)],
                             tmp_path, tmp_path / run, rng)
    ckpt = tmp_path / run / "checkpoint.pt"
    if not ckpt.exists() or read_checkpoint(ckpt)["state"]["frames"] < 1000:
        proc = subprocess.run([sys.executable, "-m", "algd_components.cli", "algo=algd", *_start(tmp_path, run)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300, env=_env())
        assert proc.returncode == 0, proc.stderr[-3000:]
    _check_bookkeeping(tmp_path / run)


def test_compare_killed_then_rerun_resumes_and_summarises_once(tmp_path):
    args = [sys.executable, "-m", "algd_components.compare", "--algos", "algd", "--tasks", "SafetyHopperVelocity-v1",
            "--seeds", "0", "1", "--out", "cmp", "--set", *(s for s in SMALL if not s.startswith("env.name"))]
    _kill_after_progress(args, tmp_path, tmp_path / "cmp" / "algd" / "SafetyHopperVelocity-v1" / "seed0",
                         random.Random(0))  # inside the first run
    assert not (tmp_path / "cmp" / "summary.md").exists()
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    for seed in (0, 1):
        _check_bookkeeping(tmp_path / "cmp" / "algd" / "SafetyHopperVelocity-v1" / f"seed{seed}")
    assert (tmp_path / "cmp" / "summary.md").read_text().count("| algd |") == 1


def test_a_run_folder_under_a_file_is_one_line_before_hydra(tmp_path):
    (tmp_path / "file").write_text("x")
    proc = subprocess.run([sys.executable, "-c", "from algd_components.cli import train_main; train_main()",
                           f"hydra.run.dir={tmp_path / 'file' / 'run'}", "collector.total_frames=2000"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "cannot be created" in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_resume_drops_a_half_written_last_row(tmp_path):
    from algd_components.training.metrics import complete_rows

    path = tmp_path / "metrics.csv"
    path.write_text("frames,a,b\n100,1,2\n200,3,4\n250,5")  # a kill inside the last write
    assert [r["frames"] for r in complete_rows(path, 1000)] == ["100", "200"]
    path.write_text("frames,a,b\n100,1,2\n200,3\n")  # a row with a field missing
    assert [r["frames"] for r in complete_rows(path, 1000)] == ["100"]
