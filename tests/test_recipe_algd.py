"""The ALGD recipe end to end on real tasks (a few hundred frames each, CPU)."""
import csv
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from algd_components.training.checkpoints import read_checkpoint
import yaml

from algd_components import train

from helpers import FAST, ROOT, benchmark_json, make_cfg
from algd_components import ConfigError
from algd_components.training import METRIC_COLUMNS


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def run(tmp_path, *overrides, name="run"):
    cfg = make_cfg("algd", [*FAST, *overrides])
    out = tmp_path / name
    state = train(cfg, out)
    return out, state


@pytest.fixture(scope="module")
def safety_gym_run(tmp_path_factory):
    return run(tmp_path_factory.mktemp("sg"), "env.name=SafetyPointGoal1-v0")


def test_safety_gym_run_writes_metrics_config_checkpoint(safety_gym_run):
    out, state = safety_gym_run
    rows = read_metrics(out)
    assert list(rows[0].keys()) == METRIC_COLUMNS
    assert [int(r["frames"]) for r in rows] == [150, 300]
    for r in rows:
        for k in ("loss_qvalue", "loss_cost", "loss_actor", "score_loss", "lambda", "eval_return", "eval_cost"):
            assert math.isfinite(float(r[k])), (k, r[k])
    assert (out / "config.yaml").is_file() and (out / "checkpoint.pt").is_file()
    assert state["frames"] == 300 and state["updates"] == 250  # 50 updates per 50-frame batch from frame 100 on
    ckpt = read_checkpoint(out / "checkpoint.pt")
    assert ckpt["replay_buffer"]["data"].shape[0] == 300
    assert ckpt["replay_buffer"]["data"]["next", "cost"].shape == (300, 1)


def test_plot_from_run(safety_gym_run, tmp_path):
    from algd_components.plot import main

    out, _ = safety_gym_run
    assert main([str(out), "-o", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 10_000
    assert main([str(tmp_path / "missing"), "-o", str(tmp_path / "d.png")]) == 2


def test_velocity_continuous_cost_with_standard_lagrangian(tmp_path):
    out, _ = run(tmp_path, "env.name=HalfCheetah-v4", "lagrangian=standard")
    rows = read_metrics(out)
    assert float(rows[-1]["eval_discounted_cost"]) > 0  # speed cost is continuous and positive
    assert all(math.isfinite(float(r["loss_actor"])) for r in rows)


def test_user_lagrangian_by_target_and_paper_preset(tmp_path):
    import custom_lagrangian

    custom_lagrangian.HingePenalty.calls = 0
    out, _ = run(
        tmp_path, "env.name=SafetyHalfCheetahVelocity-v1", "algd=paper",
        "lagrangian=custom", "lagrangian._target_=custom_lagrangian.HingePenalty", "+lagrangian.weight=2.0",
    )
    assert custom_lagrangian.HingePenalty.calls > 0
    assert all(math.isfinite(float(r["score_loss"])) for r in read_metrics(out))


def test_dual_variable_moves_during_training(tmp_path):
    # budget 0 on the continuous speed cost (every step costs > 0): the estimate violates it, λ must rise
    # (on the binary velocity cost a few hundred random frames may cost nothing, and λ then falls)
    out, _ = run(tmp_path, "env.name=HalfCheetah-v4", "env.cost_limit=0", "algd=paper", "algd.dual.lr=0.01")
    lams = [float(r["lambda"]) for r in read_metrics(out)]
    assert 1.0 < lams[0] < lams[-1], lams  # from its init (algd=paper: 1.0), up at every evaluation


def test_same_seed_same_result_and_resume_continues(tmp_path):
    task = "env.name=SafetyHalfCheetahVelocity-v1"
    a, sa = run(tmp_path, task, name="a")
    a2, _ = run(tmp_path, task, name="a2")
    ca = read_checkpoint(a / "checkpoint.pt")
    ca2 = read_checkpoint(a2 / "checkpoint.pt")
    for k, v in ca["loss"].items():  # the run is deterministic on CPU for a seed
        assert torch.equal(v, ca2["loss"][k]), k

    b, _ = run(tmp_path, task, "collector.total_frames=150", name="b")
    at_150 = read_checkpoint(b / "checkpoint.pt")
    cfg = make_cfg("algd", ["collector.total_frames=300", f"resume={b}", "progress_bar=false"])
    sb = train(cfg, tmp_path / "ignored")
    assert sb["frames"] == 300 and sb["updates"] == sa["updates"]
    rows = read_metrics(b)
    assert [int(r["frames"]) for r in rows] == [150, 300]
    cb = read_checkpoint(b / "checkpoint.pt")
    # optimiser and counters carried on from the checkpoint, not restarted
    assert cb["optimizers"]["actor"]["state"][0]["step"] == ca["optimizers"]["actor"]["state"][0]["step"]
    assert cb["state"]["frames"] == 300
    # the replay buffer kept the first 150 transitions exactly
    assert torch.equal(cb["replay_buffer"]["data"][:150]["observation"], at_150["replay_buffer"]["data"]["observation"])
    # Not bit-equal to the uninterrupted run: the simulator's state and the collector's
    # in-flight observation are not in a checkpoint, so the resumed env starts a fresh
    # episode (see docs/recipes.md).  What must hold: same frames, same update count, and
    # every tensor finite.
    assert all(torch.isfinite(v).all() for v in cb["loss"].values() if v.is_floating_point())


@pytest.mark.parametrize(
    "override, key",
    [
        ("collector.total_frames=-5", "collector.total_frames"),
        ("lagrangian.rho=0", "lagrangian.rho"),
        ("optim.batch_size=0", "optim.batch_size"),
        ("env.name=SafetyNope-v0", "unknown task 'SafetyNope-v0'"),
        ("algd.mc_samples=0", "algd.mc_samples"),
        ("algd.dual.rule=sgd", "algd.dual.rule"),
        ("network.device=tpu", "network.device"),
        ("system.retain_freed_memory=maybe", "system.retain_freed_memory"),
        ("system.float32_matmul_precision=low", "system.float32_matmul_precision"),
        ("system.autocast=float16", "system.autocast"),
        ("compile.compile=maybe", "compile.compile"),
        ("compile.mode=fastest", "compile.mode"),
        ("compile.cudagraphs=true", "compile.cudagraphs"),  # FAST runs on network.device=cpu
    ],
)
def test_bad_config_values_give_one_clear_error(tmp_path, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.").replace("(", r"\(")) as err:
        train(make_cfg("algd", [*FAST, override]), tmp_path / "bad")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "bad").exists()


def test_bad_resume_leaves_checkpoint_untouched(safety_gym_run, tmp_path):
    out, _ = safety_gym_run
    before = (out / "checkpoint.pt").read_bytes(), (out / "metrics.csv").read_bytes()
    with pytest.raises(ConfigError, match="collector.total_frames"):
        train(make_cfg("algd", [*FAST, f"resume={out}", "collector.total_frames=100"]), tmp_path / "x")
    with pytest.raises(ConfigError, match="no checkpoint found"):
        train(make_cfg("algd", [*FAST, f"resume={tmp_path / 'nothing'}"]), tmp_path / "x")
    assert ((out / "checkpoint.pt").read_bytes(), (out / "metrics.csv").read_bytes()) == before


def test_cli_unknown_task_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "recipes/algd/train.py"), "env.name=SafetyNope-v0", f"hydra.run.dir={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown task 'SafetyNope-v0'" in proc.stderr and "python -m algd_components.envs --list" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_env_list_cli():
    proc = subprocess.run([sys.executable, "-m", "algd_components.envs", "--list"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for name in ("SafetyPointButton1-v0", "SafetyCarPush2-v0", "SafetyHumanoidVelocity-v1", "Ant-v4"):
        assert name in proc.stdout


def test_batched_envs_run(tmp_path):
    out, state = run(tmp_path, "env.name=SafetyHalfCheetahVelocity-v1", "env.num_envs=2", "env.vectorize=serial")
    assert state["frames"] == 300
    assert all(math.isfinite(float(r["loss_qvalue"])) for r in read_metrics(out))


def test_update_benchmark_smoke():
    result = benchmark_json("update_throughput.py", "--batch-size", "16", "--mc-samples", "2", "--ensemble-size", "2",
                            "--repeats", "2", "--warmup", "1", "--json")
    assert result["ms_per_update"] > 0 and result["gflop_per_update"] > 0
    assert result["settings"]["mc_samples"] == 2


def test_resume_fills_keys_added_since_the_checkpoint(tmp_path):
    out, _ = run(tmp_path, "env.name=SafetyHalfCheetahVelocity-v1", "collector.total_frames=150",
                 "lagrangian=custom", "lagrangian._target_=custom_lagrangian.HingePenalty")
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)  # the file as written (plain data)
    del ckpt["config"]["compile"], ckpt["config"]["env"]["num_envs"]  # as written by an older version
    torch.save(ckpt, out / "checkpoint.pt")
    cfg = make_cfg("algd", [*FAST, f"resume={out}", "collector.total_frames=200", "collector.frames_per_batch=50"])
    state = train(cfg, tmp_path / "ignored")
    assert state["frames"] == 200


def test_plot_groups_seeds_whatever_threads_or_stacking_and_splits_real_differences(tmp_path):
    """One curve per experiment: runs that differ only in seed, thread count, allocator or
    env.num_seeds (absent in runs older than the key) group together; a learning setting splits them."""
    from algd_components.plot import group_runs

    def run_dir(name, **cfg):
        d = tmp_path / name
        d.mkdir()
        (d / "metrics.csv").write_text("frames,eval_return,eval_cost,lambda\n1000,1.0,0.0,0.5\n")
        base = {"algo": "algd", "env": {"name": "SafetyHopperVelocity-v1", "seed": cfg.pop("seed")},
                "optim": {"utd_ratio": cfg.pop("utd")}, "system": {"num_threads": cfg.pop("threads")}}
        if "num_seeds" in cfg:
            base["env"]["num_seeds"] = cfg.pop("num_seeds")
        (d / "config.yaml").write_text(yaml.safe_dump(base))
        return d

    dirs = [run_dir("a", seed=0, utd=1.0, threads=1), run_dir("b", seed=1, utd=1.0, threads=2, num_seeds=1),
            run_dir("c", seed=0, utd=5.0, threads=1, num_seeds=1)]
    groups = group_runs(dirs)
    assert sorted((label, len(runs)) for label, runs in groups.items()) == [("utd_ratio=1.0", 2), ("utd_ratio=5.0", 1)]


def test_evaluations_reads_the_tasks_cost_measure_and_limit(tmp_path):
    """The study tables' reader: evaluation rows only, the task's cost column (discounted on
    Safety-Gym tasks with a discounted limit, episodic on velocity tasks) and its limit, λ where
    logged, an empty metrics.csv refused."""
    from algd_components.envs import TASKS
    from algd_components.plot import cost_panel, evaluations

    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"algo": "algd", "env": {"name": "SafetyHopperVelocity-v1"}}))
    header = "frames,eval_return,eval_cost,eval_discounted_cost,train_episode_cost,lambda,wall_time_s\n"
    (tmp_path / "metrics.csv").write_text(header)
    with pytest.raises(ValueError, match="no evaluation rows"):
        evaluations(tmp_path)
    (tmp_path / "metrics.csv").write_text(header + "1000,1.0,30.0,3.0,,0.7,10\n2000,2.0,20.0,2.0,22.5,,21\n")
    e = evaluations(tmp_path)
    # an episodic limit (Hopper's 25 per 1000-step episode): the episodic cost column
    assert e["cost_col"] == "eval_cost" and e["limit"] == 25.0 and e["cost"].tolist() == [30.0, 20.0]
    assert cost_panel({"env.name": "HalfCheetah-v4"}) == ("eval_discounted_cost", TASKS["HalfCheetah-v4"].cost_limit)
    assert cost_panel({"env.name": "SafetyHopperVelocity-v1", "env.max_episode_steps": 100}) == ("eval_cost", 2.5)
    assert e["frames"].tolist() == [1000, 2000] and e["ret"].tolist() == [1.0, 2.0] and e["wall"].tolist() == [10, 21]
    assert e["lam"].tolist() == [0.7] and np.isnan(e["train_cost"][0]) and e["train_cost"][1] == 22.5


def test_summarize_reads_each_run_through_evaluations(tmp_path):
    """compare's summary row: the last evaluation, evaluations within the limit (25 on Hopper), λ's
    last and largest value, and NaN λ for a run that logs none."""
    from algd_components.compare import summarize
    from algd_components.plot import cost_panel

    header = "frames,eval_return,eval_cost,eval_discounted_cost,train_episode_cost,lambda,wall_time_s\n"
    for seed, body in (("seed0", "1000,1.0,30.0,3.0,,0.7,10\n2000,3.0,20.0,2.0,22.5,2.5,21\n"),
                       ("seed1", "1000,2.0,10.0,1.0,,0.5,11\n2000,5.0,40.0,4.0,9.0,1.5,23\n"),
                       ("free", "1000,2.0,10.0,1.0,,,11\n2000,5.0,40.0,4.0,9.0,,23\n")):
        (tmp_path / seed).mkdir()
        (tmp_path / seed / "config.yaml").write_text(yaml.safe_dump({"algo": "algd", "env": {"name": "SafetyHopperVelocity-v1"}}))
        (tmp_path / seed / "metrics.csv").write_text(header + body)
    rows = summarize({("SafetyHopperVelocity-v1", "algd"): [tmp_path / "seed0", tmp_path / "seed1"],
                      ("SafetyHopperVelocity-v1", "free"): [tmp_path / "free"]}, tmp_path)
    col = cost_panel({"env.name": "SafetyHopperVelocity-v1"})[0]
    assert rows[0]["final_eval_return"] == "4.0 ± 1.4" and rows[0]["cost_measure"] == col  # sample std (ddof 1)
    assert rows[0]["evals_within_limit"] == ("50%" if col == "eval_cost" else "100%")
    assert rows[0]["final_lambda"] == "2.00 ± 0.71" and rows[0]["largest_lambda"] == "2.00 ± 0.71"
    assert rows[0]["wall_time_s"] == "22" and rows[1]["final_lambda"] == "nan ± nan"
    assert "| SafetyHopperVelocity-v1 | free | 1 |" in (tmp_path / "summary.md").read_text()
