import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]

# Tiny but real settings: every recipe test runs on a real env for a few hundred frames.
FAST_COMMON = [
    "collector.total_frames=300",
    "collector.init_random_frames=100",
    "collector.frames_per_batch=50",
    "logger.eval_iter=150",
    "logger.eval_episodes=1",
    "checkpoint.interval=150",
    "env.max_episode_steps=50",
    "optim.batch_size=32",
    "network.critic_hidden=[32,32]",
    "network.device=cpu",
    "progress_bar=false",
    "replay_buffer.size=5000",
]
FAST = [*FAST_COMMON, "algd.mc_samples=2", "algd.ensemble_size=2", "network.actor_hidden=[32,32]"]
FAST_SAC = [*FAST_COMMON, "sac.ensemble_size=2", "sac.actor_hidden=[32,32]"]


def load_recipe(name: str):
    """Import recipes/<name>/train.py under a unique module name."""
    path = ROOT / "recipes" / name / "train.py"
    spec = importlib.util.spec_from_file_location(f"recipe_{name}_train", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def run_benchmark(script: str, *args: str, timeout: int = 300) -> str:
    """Run ``benchmarks/<script> args`` with this interpreter and return its stdout; a failing
    run fails the test with the end of its stderr."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT / "benchmarks")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def benchmark_json(script: str, *args: str, timeout: int = 300) -> dict:
    """The JSON object a benchmark run with ``--json`` prints last."""
    return json.loads(run_benchmark(script, *args, timeout=timeout).strip().splitlines()[-1])


def make_cfg(recipe: str, overrides):
    with initialize_config_dir(str(ROOT / "recipes" / recipe), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.fixture(scope="session")
def algd_recipe():
    return load_recipe("algd")


@pytest.fixture(scope="session")
def sac_lag_recipe():
    return load_recipe("sac_lag")


@pytest.fixture(scope="session")
def cal_recipe():
    return load_recipe("cal")


@pytest.fixture(scope="session")
def ppo_lag_recipe():
    return load_recipe("ppo_lag")
