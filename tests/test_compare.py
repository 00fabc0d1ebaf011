"""algd-compare's summary (algd_components/compare.py); its runs, stops and launchers are in
test_faults.py, test_interrupt.py, test_scaling.py and test_seeds.py."""
import yaml



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
