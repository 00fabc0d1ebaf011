"""What the tests share: tiny-but-real training settings and small helpers (imported as
``from helpers import ...``; the fixtures are in conftest.py)."""
import csv
import json
import subprocess
import sys
from pathlib import Path

from algd_components import compose_config

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


def make_cfg(algo: str, overrides=()):
    """The checked config of registered algorithm ``algo`` with ``overrides``."""
    return compose_config(algo, list(overrides))


def read_metrics(run_dir) -> list[dict]:
    """A run's ``metrics.csv`` rows (strings, by column name)."""
    with open(Path(run_dir) / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def run_algd(tmp_path, *overrides, name="run"):
    """A tiny real ALGD run (``FAST`` plus ``overrides``) into ``tmp_path / name``: (folder, final counters)."""
    from algd_components import train

    out = Path(tmp_path) / name
    return out, train(make_cfg("algd", [*FAST, *overrides]), out)
