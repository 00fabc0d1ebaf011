"""Stacked seeds end to end (env.num_seeds, compare --stack-seeds): each seed's folder is a
single-seed run's folder that plot, compare, evaluate and resume read unchanged."""
import csv
import os
import subprocess
import sys

import pytest
import torch

from algd_components.training.checkpoints import read_checkpoint
import yaml

from algd_components import ConfigError, compose_config, load_policy, train
from algd_components.envs import make_env

HOPPER = "SafetyHopperVelocity-v1"
TINY = ["collector.total_frames=100", "collector.init_random_frames=50", "collector.frames_per_batch=50",
        "network.critic_hidden=[16,16]", "optim.batch_size=16", "logger.eval_episodes=1", "logger.eval_iter=50",
        "checkpoint.interval=50", "env.max_episode_steps=20", "replay_buffer.size=1000", "progress_bar=false",
        "network.device=cpu"]
TINY_ALGD = [*TINY, "algd.mc_samples=2", "algd.ensemble_size=2", "network.actor_hidden=[16,16]"]
TINY_SAC = [*TINY, "sac.ensemble_size=2", "sac.actor_hidden=[16,16]"]


def _rows(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def test_compare_stack_seeds_writes_single_seed_folders_that_compare_and_plot_read(tmp_path):
    out = tmp_path / "cmp"
    proc = subprocess.run([sys.executable, "-m", "algd_components.compare", "--algos", "sac_lag", "algd", "--tasks", HOPPER,
                           "--seeds", "3", "5", "--out", str(out), "--stack-seeds", "--set",
                           *[o for o in TINY if not o.startswith("network.critic")], "network.critic_hidden=[16,16]",
                           "sac_lag:sac.ensemble_size=2", "sac_lag:sac.actor_hidden=[16,16]", "algd:algd.mc_samples=2",
                           "algd:algd.ensemble_size=2", "algd:network.actor_hidden=[16,16]"],
                          capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = (out / "summary.md").read_text()
    for algo in ("sac_lag", "algd"):
        assert f"| {HOPPER} | {algo} | 2 |" in summary
        for seed in (3, 5):
            run = out / algo / HOPPER / f"seed{seed}"
            cfg = yaml.safe_load((run / "config.yaml").read_text())
            assert (cfg["env"]["seed"], cfg["env"]["num_seeds"]) == (seed, 1)  # reads as a single-seed run
            assert [int(r["frames"]) for r in _rows(run)] == [50, 100]
            ckpt = read_checkpoint(run / "checkpoint.pt")
            assert ckpt["state"]["frames"] == 100 and ckpt["state"]["updates"] == 100  # as one run: from the 50th frame on
            # its env was seeded as its own run seeds it: the first stored observation is that reset's
            first = ckpt["replay_buffer"]["data"][0]["observation"]
            assert torch.equal(first, make_env(HOPPER, seed=seed, max_episode_steps=20).reset()["observation"])
            load_policy(run / "policy.pt")
    lams = [float(_rows(out / "algd" / HOPPER / f"seed{s}")[-1]["lambda"]) for s in (3, 5)]
    assert lams[0] != lams[1]  # each seed's own λ
    plot = subprocess.run([sys.executable, "-m", "algd_components.plot", *[str(p) for p in (out / "algd" / HOPPER).iterdir()],
                           "-o", str(tmp_path / "curves.png")], capture_output=True, text=True, timeout=300, env=_env())
    assert plot.returncode == 0 and (tmp_path / "curves.png").stat().st_size > 0, plot.stderr[-2000:]


def test_stacked_run_resumes_each_seed_and_a_seed_resumes_alone(tmp_path):
    base = ["env.name=" + HOPPER, "env.num_seeds=2", "env.seed=0", *TINY_SAC]
    train(compose_config("sac_lag", base), tmp_path)
    train(compose_config("sac_lag", [*base, "collector.total_frames=150", "resume=auto"]), tmp_path)
    for s in (0, 1):
        assert [int(r["frames"]) for r in _rows(tmp_path / f"seed{s}")] == [50, 100, 150]
    # one seed's folder continues alone, as any single-seed run
    train(compose_config("sac_lag", [f"resume={tmp_path / 'seed1'}", "collector.total_frames=200"]), tmp_path / "unused")
    assert [int(r["frames"]) for r in _rows(tmp_path / "seed1")] == [50, 100, 150, 200]
    # seeds now stopped at different frames (150, 200): the stacked command finishes each alone
    states = train(compose_config("sac_lag", [*base, "collector.total_frames=250", "resume=auto"]), tmp_path)["seeds"]
    assert [st["frames"] for st in states] == [250, 250]
    assert [int(r["frames"]) for r in _rows(tmp_path / "seed0")] == [50, 100, 150, 200, 250]


@pytest.mark.parametrize("algo, override, key", [
    ("ppo_lag", "env.num_seeds=2", "env.num_seeds"),
    ("sac_lag", "env.num_envs=2", "env.num_envs"),
    ("algd", "collector.async_collection=true", "collector.async_collection"),
    ("algd", "compile.compile=true", "compile.compile"),
    ("cal", "sac.dual.source=episode", "sac.dual.source"),
    ("sac_lag", "resume=somewhere/checkpoint.pt", "resume"),
])
def test_what_stacked_seeds_refuse_is_one_line_naming_the_key(algo, override, key):
    overrides = ["env.name=" + HOPPER, override] + ([] if override.startswith("env.num_seeds") else ["env.num_seeds=2"])
    with pytest.raises(ConfigError) as err:
        from algd_components import algorithms

        algorithms.validate(compose_config(algo, overrides))
    assert key in str(err.value) and "\n" not in str(err.value)


def test_cli_refuses_stacked_ppo_lag_with_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "algd_components.cli", "algo=ppo_lag", "env.num_seeds=2"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 2 and "env.num_seeds" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_stacked_divergence_stops_every_seed_in_one_line_with_good_checkpoints(tmp_path):
    from helpers import FAST

    from algd_components.updates import NonFiniteError

    # as tests/test_faults.py: the Lagrangian turns NaN on its 201st call (update 101, frame 200)
    cfg = compose_config("algd", [*FAST, "env.name=" + HOPPER, "env.num_seeds=2", "lagrangian=custom",
                                  "lagrangian._target_=custom_lagrangian.NaNAfter", "+lagrangian.after=200"])
    with pytest.raises(NonFiniteError) as err:
        train(cfg, tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "seeds [0, 1]" in msg and "non-finite loss_actor" in msg and "at update 101" in msg, msg
    for s in (0, 1):
        ckpt = read_checkpoint(tmp_path / f"seed{s}" / "checkpoint.pt")
        assert ckpt["state"]["frames"] == 150
        assert all(torch.isfinite(v).all() for v in ckpt["loss"].values() if v.is_floating_point())
        assert [int(r["frames"]) for r in _rows(tmp_path / f"seed{s}")] == [150]
