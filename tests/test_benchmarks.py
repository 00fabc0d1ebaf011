"""The benchmark scripts in benchmarks/ run and report what docs/performance.md reads (smoke runs:
small sizes, one or two repeats; the timing thresholds themselves are `make bench`)."""
import pytest
from helpers import benchmark_json, run_benchmark



def test_update_benchmark_smoke():
    result = benchmark_json("update_throughput.py", "--batch-size", "16", "--mc-samples", "2", "--ensemble-size", "2",
                            "--repeats", "2", "--warmup", "1", "--json")
    assert result["ms_per_update"] > 0 and result["gflop_per_update"] > 0
    assert result["settings"]["mc_samples"] == 2


# ----------------------------------------------------------------------- vs_released, on a stand-in
FAKE_AGENT = '''
import time
import torch


class ALGDAgent:
    """A stand-in with the released agent's interface: each update sleeps 5 ms."""

    def __init__(self, num_inputs, action_space, args):
        self.device = torch.device("cuda")  # as the released constructor: the benchmark maps it to the CPU
        assert self.device.type == "cpu"
        self.args = args

    def update_parameters(self, memory, updates):
        state, action, reward, next_state, mask = memory
        assert state.shape == (self.args.policy_train_batch_size, NUM_INPUTS) and reward.shape[1] == 2
        time.sleep(0.005)
'''


def test_vs_released_alternates_two_workers_and_reports_one_line(tmp_path):
    """The harness on a stand-in for the released package (its real code is not ours to ship):
    found through PYTHONPATH only, CUDA mapped to the CPU in its constructor, turns alternated."""
    from helpers import benchmark_json, run_benchmark

    root = tmp_path / "released"
    (root / "agents" / "algd").mkdir(parents=True)
    (root / "configs").mkdir()
    for d in (root / "agents", root / "agents" / "algd", root / "configs"):
        (d / "__init__.py").write_text("")
    (root / "agents" / "algd" / "ALGD_VESDE.py").write_text("NUM_INPUTS = 17\n" + FAKE_AGENT)
    (root / "agents" / "replay_memory.py").write_text(
        "import random\nimport numpy as np\n\n\nclass ReplayMemory:\n    def __init__(self, capacity):\n        self.buffer = []\n\n"
        "    def push(self, *t):\n        self.buffer.append(t)\n\n"
        "    def sample(self, n):\n        return map(np.stack, zip(*random.sample(self.buffer, n)))\n")
    (root / "configs" / "algd_vesde.py").write_text(
        "import argparse\n\n\ndef ALGD_VESDE_Parser():\n    p = argparse.ArgumentParser()\n"
        "    p.add_argument('--lr', type=float, default=3e-4)\n    return p.parse_args()\n")
    out = benchmark_json("vs_released.py", "--released", str(root), "--rounds", "2", "--updates", "3", "--warmup", "1",
                         "--gap", "0", "--mc-samples", "2", "--ensemble-size", "2", "--json", timeout=600)
    assert len(out["per_round_ms"]["ours"]) == len(out["per_round_ms"]["released"]) == 2
    assert 5 <= out["released_ms"] < 50 and out["ours_ms"] > 0
    assert out["speedup"] == pytest.approx(out["released_ms"] / out["ours_ms"], rel=1e-2)
    with pytest.raises(AssertionError, match="not a checkout"):
        run_benchmark("vs_released.py", "--released", str(tmp_path))


def test_seeds_throughput_reports_each_s_and_one_json_line():
    from helpers import benchmark_json

    out = benchmark_json("seeds_throughput.py", "--num-seeds", "1", "2", "--skip-frames", "--repeats", "1",
                         "--warmup", "0", "--json", timeout=600)
    rows = out["results"]
    assert [r["num_seeds"] for r in rows] == [1, 2]
    assert rows[1]["flops_per_update"] == 2 * rows[0]["flops_per_seed_update"] > 0
    assert all(r["seed_updates_per_s"] > 0 and r["seed_updates_speedup_vs_1"] > 0 for r in rows)


def test_profile_update_prints_the_wall_clock_account():
    out = run_benchmark("profile_update.py", "--batch-size", "16", "--mc-samples", "2", "--ensemble-size", "2",
                        "--updates", "2")
    assert "wall clock, each aten op timed alone (2 updates): a plain update takes" in out, out
    assert "| `aten::bmm` |" in out
    # the per-call comparison has a wall-clock column, filled in for silu on [M, N·B, 256]
    row = next(line for line in out.splitlines() if line.startswith("| `aten::silu` |") and line.count("|") == 6)
    assert "—" not in row, row
