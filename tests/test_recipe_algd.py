"""The ALGD recipe end to end on real tasks (a few hundred frames each, CPU)."""
import math

import pytest
import torch

from algd_components.training.checkpoints import read_checkpoint

from algd_components import train

from helpers import FAST, make_cfg, read_metrics
from helpers import run_algd as run
from algd_components import ConfigError
from algd_components.training import METRIC_COLUMNS, TIME_COLUMNS


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


def test_same_seed_same_result_and_resume_continues(tmp_path, capsys):
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
    # Bit-equal to the uninterrupted run: the resume replays the env's 150 logged actions
    # (training/env_replay.py), so the simulator, the learner and the RNG continue where they stopped
    same = lambda r: {k: v for k, v in r.items() if k not in TIME_COLUMNS}  # noqa: E731
    assert [same(r) for r in rows] == [same(r) for r in read_metrics(a)]
    for k, v in ca["loss"].items():
        assert torch.equal(v, cb["loss"][k]), k
    for key in ("observation", "action", ("next", "reward"), ("collector", "traj_ids")):
        assert torch.equal(cb["replay_buffer"]["data"][key], ca["replay_buffer"]["data"][key]), key
    assert torch.equal(cb["env_actions"]["actions"], ca["env_actions"]["actions"])
    assert "continues where the run stopped" in capsys.readouterr().out

    # without the log the resumed env starts a new episode, says so, and the rows after the resume differ
    c, _ = run(tmp_path, task, "collector.total_frames=150", "checkpoint.env_actions=false", name="c")
    assert "env_actions" not in read_checkpoint(c / "checkpoint.pt")
    train(make_cfg("algd", ["collector.total_frames=300", f"resume={c}", "progress_bar=false"]), tmp_path / "ignored")
    assert "the train env starts a new episode (checkpoint.env_actions=false)" in capsys.readouterr().out
    assert same(read_metrics(c)[0]) == same(rows[0]) and same(read_metrics(c)[1]) != same(rows[1])


def test_resume_at_an_odd_update_count_keeps_the_target_interval(tmp_path):
    # targets stepped on every 2nd update (algd=code's interval) and 15 updates per batch: the
    # checkpoint at 200 frames holds 45 updates, so the resumed run's first update must not step them
    args = ["env.name=SafetyHalfCheetahVelocity-v1", "optim.target_update_interval=2", "optim.utd_ratio=0.3"]
    whole, _ = run(tmp_path, *args, "collector.total_frames=250", name="whole")
    part, _ = run(tmp_path, *args, "collector.total_frames=200", name="part")
    assert read_checkpoint(part / "checkpoint.pt")["state"]["updates"] == 45
    train(make_cfg("algd", ["collector.total_frames=250", f"resume={part}", "progress_bar=false"]), tmp_path / "x")
    a, b = read_checkpoint(whole / "checkpoint.pt")["loss"], read_checkpoint(part / "checkpoint.pt")["loss"]
    assert [k for k in a if not torch.equal(a[k], b[k])] == []


def test_bad_resume_leaves_checkpoint_untouched(safety_gym_run, tmp_path):
    out, _ = safety_gym_run
    before = (out / "checkpoint.pt").read_bytes(), (out / "metrics.csv").read_bytes()
    with pytest.raises(ConfigError, match="collector.total_frames"):
        train(make_cfg("algd", [*FAST, f"resume={out}", "collector.total_frames=100"]), tmp_path / "x")
    with pytest.raises(ConfigError, match="no checkpoint found"):
        train(make_cfg("algd", [*FAST, f"resume={tmp_path / 'nothing'}"]), tmp_path / "x")
    assert ((out / "checkpoint.pt").read_bytes(), (out / "metrics.csv").read_bytes()) == before


def test_resume_fills_keys_added_since_the_checkpoint(tmp_path):
    out, _ = run(tmp_path, "env.name=SafetyHalfCheetahVelocity-v1", "collector.total_frames=150",
                 "lagrangian=custom", "lagrangian._target_=custom_lagrangian.HingePenalty")
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)  # the file as written (plain data)
    del ckpt["config"]["compile"], ckpt["config"]["env"]["num_envs"]  # as written by an older version
    torch.save(ckpt, out / "checkpoint.pt")
    cfg = make_cfg("algd", [*FAST, f"resume={out}", "collector.total_frames=200", "collector.frames_per_batch=50"])
    state = train(cfg, tmp_path / "ignored")
    assert state["frames"] == 200
