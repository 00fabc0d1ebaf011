"""Beyond one process: sweeps through Hydra launchers and compare --jobs, the loggers (hparams,
per-episode evaluation, videos), threads per job, and a quiet start."""
import csv
import os
import subprocess
import sys

import pytest
import torch

from algd_components import ConfigError, compose_config, train
from algd_components.training.process import PARALLEL_JOBS_ENV, auto_num_threads
from helpers import FAST_SAC

TINY = ["collector.total_frames=100", "collector.init_random_frames=50", "collector.frames_per_batch=50",
        "sac.ensemble_size=2", "network.critic_hidden=[16,16]", "sac.actor_hidden=[16,16]", "optim.batch_size=16",
        "logger.eval_episodes=2", "logger.eval_iter=50", "env.max_episode_steps=20", "replay_buffer.size=1000"]


def _compare(tmp_path, *extra):
    return subprocess.run([sys.executable, "-m", "algd_components.compare", "--algos", "sac_lag", "--tasks",
                           "SafetyHopperVelocity-v1", "--seeds", "0", "1", "--out", "cmp", *extra, "--set", *TINY],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("launcher, plugin", [("joblib", "hydra_plugins.hydra_joblib_launcher"),
                                              ("submitit_local", "hydra_plugins.hydra_submitit_launcher")])
def test_two_seed_sweep_through_a_launcher_gives_two_runs_and_one_summary(tmp_path, launcher, plugin):
    pytest.importorskip(plugin)
    proc = _compare(tmp_path, "--launcher", launcher, "--launcher-set", "hydra.launcher.n_jobs=2"
                    if launcher == "joblib" else "hydra.launcher.timeout_min=10")
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(p.parent.name for p in (tmp_path / "cmp" / "sac_lag" / "SafetyHopperVelocity-v1").glob("*/metrics.csv"))
    assert runs == ["seed0", "seed1"]
    assert (tmp_path / "cmp" / "summary.md").read_text().count("| SafetyHopperVelocity-v1 | sac_lag | 2 |") == 1
    # the same command again finds both runs finished and only summarises
    proc = _compare(tmp_path, "--launcher", launcher)
    assert proc.returncode == 0 and "[compare]" not in proc.stdout, proc.stdout[-2000:]


def test_compare_jobs_runs_two_at_a_time_with_one_thread_each(tmp_path):
    proc = _compare(tmp_path, "--jobs", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list((tmp_path / "cmp").glob("sac_lag/*/seed*/metrics.csv"))) == 2
    proc = _compare(tmp_path, "--jobs", "0")
    assert proc.returncode == 2 and "--jobs=0" in proc.stderr


def test_threads_follow_the_jobs_sharing_the_machine(monkeypatch):
    monkeypatch.setenv(PARALLEL_JOBS_ENV, "2")
    assert auto_num_threads() == max(1, (os.cpu_count() or 1) // 2)
    monkeypatch.delenv(PARALLEL_JOBS_ENV)
    assert auto_num_threads() == 0  # alone, outside a Hydra job: torch's default
    assert compose_config("sac_lag", ["system.num_threads=1"]).system.num_threads == 1


def test_evaluation_spread_violation_rate_and_episodes_csv(tmp_path):
    train(compose_config("sac_lag", [*TINY, "env.name=SafetyHopperVelocity-v1", "env.cost_limit=0"]), tmp_path / "run")
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    episodes = list(csv.DictReader(open(tmp_path / "run" / "episodes.csv")))
    assert len(episodes) == 2 * len(rows)
    for r in rows:
        mine = [e for e in episodes if e["frames"] == r["frames"]]
        costs = [float(e["cost"]) for e in mine]
        assert float(r["eval_violation_rate"]) == sum(c > 0 for c in costs) / 2  # limit 0: any cost violates
        assert abs(float(r["eval_cost_std"]) - float(torch.tensor(costs, dtype=torch.float64).std(unbiased=False))) < 1e-9


def test_tensorboard_run_logs_hyperparameters_and_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    train(compose_config("sac_lag", [*TINY, "env.name=SafetyHopperVelocity-v1", "logger.backend=tensorboard"]),
          tmp_path / "run")
    mux = EventMultiplexer().AddRunsFromDirectory(str(tmp_path / "run" / "logs"))
    mux.Reload()
    tags = {run: mux.GetAccumulator(run).Tags() for run in mux.Runs()}
    assert any("eval_return" in t["scalars"] for t in tags.values())
    hparams = [mux.PluginRunToTagToContent("hparams") for _ in (0,)][0]
    assert hparams, tags  # the resolved config, as TensorBoard hyperparameters


def test_video_file_appears_when_asked(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v2 as imageio

    train(compose_config("sac_lag", [*TINY, "env.name=SafetyPointGoal1-v0", "logger.video_every=2"]), tmp_path / "run")
    videos = sorted((tmp_path / "run" / "videos").glob("*.mp4"))
    assert [v.name for v in videos] == ["eval_100.mp4"]  # the 2nd of 2 evaluations
    assert imageio.get_reader(videos[0]).count_frames() >= 19  # one 20-step episode (the rollout calls back after each step but the last)


def test_init_random_frames_must_be_a_multiple_of_the_batch():
    with pytest.raises(ConfigError, match="a multiple of collector.frames_per_batch"):
        compose_config("algd", ["collector.init_random_frames=120", "collector.frames_per_batch=50"])


def test_quiet_start_in_parallel_env_workers(tmp_path):
    """No gymnasium-robotics notice (also from ParallelEnv workers), no TorchRL INFO unless asked."""
    args = [sys.executable, "-m", "algd_components.cli", "algo=sac_lag", *FAST_SAC, "env.name=SafetyHopperVelocity-v1",
            "collector.total_frames=100", "env.num_envs=2", "env.vectorize=parallel"]
    proc = subprocess.run([*args, "hydra.run.dir=a"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "AdroitHand" not in out and "Initialized LazyTensorStorage" not in out, out[-2000:]
    proc = subprocess.run([*args, "hydra.run.dir=b", "logger.torchrl_info=true"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert "Initialized LazyTensorStorage" in proc.stdout + proc.stderr


def test_tensorboard_events_past_the_checkpoint_are_purged_on_resume(tmp_path):
    """A killed run logged past its last checkpoint; the resumed run's writer purges those events
    (purge_step), so each step has one value, as metrics.csv has one row."""
    pytest.importorskip("tensorboard")
    import shutil

    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    run = tmp_path / "run"
    base = [*TINY, "env.name=SafetyHopperVelocity-v1", "logger.backend=tensorboard", "checkpoint.interval=100"]
    train(compose_config("sac_lag", [*base, "collector.total_frames=100"]), run)
    shutil.copy(run / "checkpoint.pt", tmp_path / "at100.pt")
    train(compose_config("sac_lag", [*base, "collector.total_frames=150", f"resume={run}"]), tmp_path / "x")
    shutil.copy(tmp_path / "at100.pt", run / "checkpoint.pt")  # as if killed after logging frame 150
    train(compose_config("sac_lag", [*base, "collector.total_frames=200", f"resume={run}"]), tmp_path / "x")
    mux = EventMultiplexer().AddRunsFromDirectory(str(run / "logs"))
    mux.Reload()
    steps = [e.step for r in mux.Runs() if "eval_return" in mux.GetAccumulator(r).Tags()["scalars"]
             for e in mux.Scalars(r, "eval_return")]
    assert sorted(steps) == [50, 100, 150, 200], steps
    assert [int(r["frames"]) for r in csv.DictReader(open(run / "metrics.csv"))] == [50, 100, 150, 200]
