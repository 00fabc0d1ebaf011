"""The one reader of run folders (algd_components/runs.py): evaluations with the task's cost measure and
limit, and the command that prints metrics.csv columns by name (what docs/ and studies/ cite)."""
import numpy as np
import pytest
import yaml


def test_evaluations_reads_the_tasks_cost_measure_and_limit(tmp_path):
    """The study tables' reader: evaluation rows only, the task's cost column (discounted on
    Safety-Gym tasks with a discounted limit, episodic on velocity tasks) and its limit, λ where
    logged, an empty metrics.csv refused."""
    from algd_components.envs import TASKS
    from algd_components.runs import cost_panel, evaluations

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


def test_a_resumed_run_is_read_with_the_config_it_last_ran_with(tmp_path):
    """A resume that extended the run wrote config_resumed.yaml; readers (the study tables' last
    quarter, plot, keep_runs) take the run's length from it, not from the first leg's config.yaml."""
    from algd_components.runs import load_run

    leg = lambda frames: yaml.safe_dump({"algo": "algd", "collector": {"total_frames": frames}})  # noqa: E731
    (tmp_path / "config.yaml").write_text(leg(50000))
    (tmp_path / "metrics.csv").write_text("frames,eval_return\n50000,1.0\n")
    assert load_run(tmp_path)[0]["collector.total_frames"] == 50000
    (tmp_path / "config_resumed.yaml").write_text(leg(100000))
    assert load_run(tmp_path)[0]["collector.total_frames"] == 100000


def test_columns_by_name_every_row_the_last_or_one_and_bad_names_in_one_line(tmp_path, capsys):
    from algd_components.runs import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("frames,eval_return,lambda\n1000,1.5,0.7\n2000,2.5,0.9\n")
    assert main([str(run), "--columns", "lambda,frames"]) == 0
    assert capsys.readouterr().out.splitlines() == ["run\tlambda\tframes", f"{run}\t0.7\t1000", f"{run}\t0.9\t2000"]
    assert main([str(run), "--columns", "eval_return", "--last"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [f"{run}\t2.5"]
    assert main([str(run), "--columns", "eval_return", "--at", "1000"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [f"{run}\t1.5"]
    for args, said in ((["--columns", "eval_cost"], "no column eval_cost; it has frames, eval_return, lambda"),
                       (["--columns", "lambda", "--at", "1500"], "no row at 1500 frames")):
        assert main([str(run), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and said in err and err.count("\n") == 1, err
    assert main([str(tmp_path / "nowhere"), "--columns", "lambda"]) == 2
    assert "not a run directory" in capsys.readouterr().err
