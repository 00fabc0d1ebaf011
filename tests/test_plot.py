"""Run figures (algd_components/plot.py): the learning-curve figure of a real run, and how runs group
into curves (the evaluations they read: test_runs.py)."""
import yaml


def test_plot_from_run(safety_gym_run, tmp_path):
    from algd_components.plot import main

    out, _ = safety_gym_run
    assert main([str(out), "-o", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 10_000
    assert main([str(tmp_path / "missing"), "-o", str(tmp_path / "d.png")]) == 2


def test_plot_groups_seeds_whatever_threads_or_stacking_and_splits_real_differences(tmp_path):
    """One curve per experiment: runs that differ only in seed, thread count, allocator,
    env.num_seeds (absent in runs older than the key) or whether they were resumed (resume, overwrite)
    group together; a learning setting splits them."""
    from algd_components.plot import group_runs

    def run_dir(name, **cfg):
        d = tmp_path / name
        d.mkdir()
        (d / "metrics.csv").write_text("frames,eval_return,eval_cost,lambda\n1000,1.0,0.0,0.5\n")
        base = {"algo": "algd", "env": {"name": "SafetyHopperVelocity-v1", "seed": cfg.pop("seed")},
                "optim": {"utd_ratio": cfg.pop("utd")}, "system": {"num_threads": cfg.pop("threads")}}
        if "num_seeds" in cfg:
            base["env"]["num_seeds"] = cfg.pop("num_seeds")
        base.update(cfg)  # top-level bookkeeping: resume, overwrite
        (d / "config.yaml").write_text(yaml.safe_dump(base))
        return d

    dirs = [run_dir("a", seed=0, utd=1.0, threads=1, resume=None, overwrite=True),
            run_dir("b", seed=1, utd=1.0, threads=2, num_seeds=1, resume=str(tmp_path / "b/checkpoint.pt"),
                    overwrite=False),
            run_dir("c", seed=0, utd=5.0, threads=1, num_seeds=1)]
    groups = group_runs(dirs)
    assert sorted((label, len(runs)) for label, runs in groups.items()) == [("utd_ratio=1.0", 2), ("utd_ratio=5.0", 1)]
    # algorithms differ in dozens of keys: each is named by its algorithm and what differs between its own runs
    other = run_dir("d", seed=0, utd=1.0, threads=1)
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    (other / "config.yaml").write_text(yaml.safe_dump({**cfg, "algo": "sac_lag", "sac": {"ensemble_size": 2}}))
    assert sorted(group_runs([*dirs, other])) == ["algo=algd, utd_ratio=1.0", "algo=algd, utd_ratio=5.0", "algo=sac_lag"]
