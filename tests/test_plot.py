"""Run figures and the readers behind them (algd_components/plot.py): the learning-curve figure of a
real run, how runs group into curves, and the evaluations the tables and figures read."""
import numpy as np
import pytest
import yaml



def test_plot_from_run(safety_gym_run, tmp_path):
    from algd_components.plot import main

    out, _ = safety_gym_run
    assert main([str(out), "-o", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 10_000
    assert main([str(tmp_path / "missing"), "-o", str(tmp_path / "d.png")]) == 2


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
