"""Installed use: the wheel, installed without -e into a throwaway environment, trains, compares,
loads and evaluates from a folder outside the checkout (issue: a toolkit at the algorithm level)."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest
import torch

from helpers import ROOT

SMALL = ["collector.total_frames=300", "collector.init_random_frames=100", "collector.frames_per_batch=50",
         "logger.eval_iter=150", "logger.eval_episodes=1", "checkpoint.interval=150", "env.max_episode_steps=50",
         "optim.batch_size=32", "network.critic_hidden=[32,32]", "network.device=cpu", "progress_bar=false",
         "replay_buffer.size=5000", "env.name=SafetyHopperVelocity-v1"]
ALGD_SMALL = ["algd.mc_samples=2", "algd.ensemble_size=2", "network.actor_hidden=[32,32]"]


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv holding only the built wheel; the dependencies come from this environment's
    site-packages through a .pth line (no download; .pth files inside it, such as the editable
    install's finder, are not processed from there, so the checkout stays invisible)."""
    work = tmp_path_factory.mktemp("install")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "outputs", "multirun", "comparisons",
                                                              "__pycache__", "*.egg-info", "build", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(work / "dist"),
                    str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = (work / "dist").glob("algd_components-*.whl")
    env_dir = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True,
                             capture_output=True, text=True).stdout.strip()
    with open(os.path.join(purelib, "_dependencies.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    shutil.rmtree(src)
    outside = work / "elsewhere"
    outside.mkdir()
    return env_dir / "bin", outside


def run(bin_dir, cwd, *cmd, timeout=600):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([str(bin_dir / cmd[0]), *cmd[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_installed_package_trains_compares_loads_and_evaluates(venv):
    bin_dir, cwd = venv
    where = run(bin_dir, cwd, "python", "-c", "import algd_components; print(algd_components.__file__)")
    assert where.returncode == 0, where.stderr[-2000:]
    assert str(bin_dir.parent) in where.stdout and str(ROOT) not in where.stdout  # the wheel, not the checkout

    proc = run(bin_dir, cwd, "algd-train", "algo=algd", *SMALL, *ALGD_SMALL, "hydra.run.dir=runs/algd")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = cwd / "runs" / "algd"
    assert {"metrics.csv", "checkpoint.pt", "policy.pt", "config.yaml"} <= {p.name for p in run_dir.iterdir()}
    assert torch.load(run_dir / "policy.pt", weights_only=True)["algo"] == "algd"

    shared = [s for s in SMALL if not s.startswith("env.name")]
    proc = run(bin_dir, cwd, "algd-compare", "--algos", "algd", "sac_lag", "--tasks", "SafetyHopperVelocity-v1",
               "--seeds", "0", "--out", "cmp", "--set", *shared, *(f"algd:{o}" for o in ALGD_SMALL),
               "sac_lag:sac.ensemble_size=2", "sac_lag:sac.actor_hidden=[32,32]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (cwd / "cmp" / "comparison.png").is_file() and "| sac_lag |" in (cwd / "cmp" / "summary.md").read_text()

    script = ("from algd_components import load_policy\n"
              "from algd_components.envs import make_env\n"
              "policy = load_policy('runs/algd')\n"
              "td = make_env('SafetyHopperVelocity-v1', seed=3).rollout(20, policy)\n"
              "print(tuple(td['action'].shape))\n")
    proc = run(bin_dir, cwd, "python", "-c", script)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] in ("(20, 3)",) or proc.stdout.strip().endswith(", 3)")

    proc = run(bin_dir, cwd, "algd-eval", "runs/algd", "--episodes", "2", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])["summary"]
    assert summary["algo"] == "algd" and summary["episodes"] == 2
    # the rate is the mean of the episodes' own violation flags
    flags = json.loads(proc.stdout.strip().splitlines()[-1])["episodes"]
    assert summary["violation_rate"] == sum(e["violation"] for e in flags) / 2

    proc = run(bin_dir, cwd, "algd-train", "algo=nope")
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "algo='nope'" in proc.stderr
